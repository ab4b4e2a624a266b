"""Search spaces: what a space is, and how it speaks to the tuners.

This is the only module that speaks to a tuner: :meth:`Space.suggest_optuna`
receives an Optuna ``trial`` and :meth:`Space.keras_tuner_values` a Keras Tuner
``hp``; both return a dict of plain Python values for
:func:`mmtune.model.networks.build_model`. Nothing here imports TensorFlow, and Optuna
only when :meth:`Space.optuna_distributions` is called. Space files are found, read and
checked into a :class:`Space` by :mod:`mmtune.search.space_files`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mmtune.errors import SpaceError
from mmtune.model.networks import OPTIMIZERS
from mmtune.model.params import Params, ParamValue

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = ["Bound", "Param", "Space", "PARAM_TYPES", "BOUNDS", "is_among"]

PARAM_TYPES = ("int", "float", "choice", "bool")


class KerasTunerHyperParameters(Protocol):
    """What :meth:`Space.keras_tuner_values` asks of a Keras Tuner ``HyperParameters`` (``hp``).

    Each declaration returns the parameter's value, or None outside its conditional scope.
    """

    def Int(
        self,
        name: str,
        min_value: float | None,
        max_value: float | None,
        step: float | None = None,
        sampling: str = "linear",
        default: ParamValue | None = None,
    ) -> int | None: ...

    def Float(
        self,
        name: str,
        min_value: float | None,
        max_value: float | None,
        step: float | None = None,
        sampling: str = "linear",
        default: ParamValue | None = None,
    ) -> float | None: ...

    def Boolean(self, name: str, default: ParamValue = False) -> bool | None: ...

    def Choice(
        self, name: str, values: list[ParamValue], default: ParamValue | None = None
    ) -> ParamValue | None: ...

    def conditional_scope(
        self, parent_name: str, parent_values: list[ParamValue]
    ) -> contextlib.AbstractContextManager[object]: ...


@dataclasses.dataclass(frozen=True)
class Bound:
    """What a known parameter can sensibly take; a space's ranges, choices and defaults stay inside.

    ``kind`` is ``"int"``, ``"float"`` or ``"name"`` (one of ``names``); ``high`` itself is
    excluded when ``open`` (a dropout rate of 1 drops everything).
    """

    kind: str
    low: float = 0.0
    high: float = 0.0
    open: bool = False
    names: tuple[str, ...] = ()

    def allows(self, value: object) -> bool:
        if self.kind == "name":
            return isinstance(value, str) and value in self.names
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return self.low <= value and (value < self.high if self.open else value <= self.high)

    def describe(self) -> str:
        if self.kind == "name":
            return f"one of {', '.join(self.names)}"
        if self.kind == "int":
            return f"an integer in {self.low:g}..{self.high:g}"
        return f"a number in [{self.low:g}, {self.high:g}{')' if self.open else ']'}"


_RATE = Bound("float", 0.0, 1.0, open=True)
_WIDTH = Bound("int", 1, 16384)
#: Bounds of every parameter a space may declare (``mmtune.model.networks`` builds from them).
BOUNDS: dict[str, Bound] = {
    "conv_blocks": Bound("int", 1, 10),  # 10 halvings take 1024 px (the largest) to 1
    "base_filters": Bound("int", 1, 1024),
    "dense_units": _WIDTH,
    "audio_units_1": _WIDTH,
    "audio_units_2": _WIDTH,
    "audio_units_3": _WIDTH,
    "fusion_units": _WIDTH,
    "dropout_start": _RATE,
    "dropout_step": Bound("float", -1.0, 1.0, open=True),  # with dropout_start: each block's rate
    "dense_dropout": _RATE,
    "bn_momentum": _RATE,
    "momentum": _RATE,
    "augment_strength": Bound("float", 0.0, 5.0),  # mmtune.model.augment.MAX_STRENGTH
    "learning_rate": Bound("float", 1e-7, 10.0),
    "batch_size": Bound("int", 1, 65536),
    "resolution": Bound("int", 8, 1024),  # mmtune.data.cache.MIN_RESOLUTION .. MAX_RESOLUTION
    "optimizer": Bound("name", names=OPTIMIZERS),
}


@dataclasses.dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, range or choices, the seed's default, its condition.

    ``when`` is a tuple of ``(parent_name, allowed_values)`` pairs: the
    parameter is active only when every parent is active and has one of its
    allowed values.
    """

    name: str
    type: str
    default: ParamValue
    low: int | float | None = None
    high: int | float | None = None
    step: int | float | None = None
    log: bool = False
    values: tuple[ParamValue, ...] | None = None
    when: tuple[tuple[str, tuple[ParamValue, ...]], ...] = ()
    help: str = ""

    @property
    def choices(self) -> tuple[ParamValue, ...] | None:
        """The values a ``choice`` or ``bool`` parameter can take (None for a range)."""
        if self.type == "bool":
            return (False, True)
        return self.values

    def is_active(self, values: Params) -> bool:
        """Whether every ``when`` condition holds in ``values`` (a missing parent fails it)."""
        return all(
            parent in values and is_among(values[parent], allowed) for parent, allowed in self.when
        )

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of an ``int`` or ``float`` parameter."""
        if self.low is None or self.high is None:
            raise SpaceError(f"{self.name} is a {self.type} parameter: it has no range")
        return self.low, self.high

    @property
    def options(self) -> tuple[ParamValue, ...]:
        """The values of a ``choice`` or ``bool`` parameter."""
        if self.choices is None:
            raise SpaceError(f"{self.name} is a {self.type} parameter: it has no choices")
        return self.choices

    def contains(self, value: object) -> bool:
        """Whether ``value`` is one this parameter can take."""
        if self.choices is not None:
            return is_among(value, self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.type == "int" and not isinstance(value, int):
            return False
        low, high = self.bounds
        return low - 1e-9 <= value <= high + 1e-9


def is_among(value: object, allowed: tuple[ParamValue, ...]) -> bool:
    """Membership where ``True`` is not ``1``: booleans compare only with booleans."""
    return any(isinstance(value, bool) == isinstance(a, bool) and value == a for a in allowed)


@dataclasses.dataclass(frozen=True)
class Space:
    """A search space: the network family it tunes and its parameters, in file order."""

    name: str
    model: str
    description: str
    max_epochs: int
    parameters: tuple[Param, ...]
    source: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"Space {self.name!r} has no parameter {name!r}. Known: {self.names}")

    def defaults(self) -> dict[str, ParamValue]:
        """The seed's values of the parameters active at their defaults."""
        values: dict[str, ParamValue] = {}
        for p in self.parameters:
            if p.is_active(values):
                values[p.name] = p.default
        return values

    def active(self, params: Params) -> dict[str, ParamValue]:
        """``params`` without the space's parameters whose ``when`` does not hold.

        Names the space does not declare are kept as they are.
        """
        out = {k: v for k, v in params.items() if k not in self.names}
        kept: dict[str, ParamValue] = {}
        for p in self.parameters:
            if p.name in params and p.is_active(kept):
                kept[p.name] = params[p.name]
        return {**kept, **out}

    def suggest_optuna(self, trial: optuna.trial.BaseTrial) -> dict[str, ParamValue]:
        """Ask an Optuna ``trial`` for every active parameter; returns plain values."""
        values: dict[str, ParamValue] = {}
        for p in self.parameters:
            if not p.is_active(values):
                continue
            low, high = p.bounds if p.choices is None else (0.0, 0.0)
            value: ParamValue | None
            if p.type == "int":
                value = trial.suggest_int(
                    p.name, int(low), int(high), step=int(p.step or 1), log=p.log
                )
            elif p.type == "float":
                value = trial.suggest_float(p.name, low, high, step=p.step, log=p.log)
            else:
                value = trial.suggest_categorical(p.name, list(p.options))
            values[p.name] = _plain(p, value)
        return values

    def keras_tuner_values(self, hp: KerasTunerHyperParameters) -> dict[str, ParamValue]:
        """Declare every parameter on a Keras Tuner ``hp``; returns the active plain values.

        Conditional parameters are declared inside ``hp.conditional_scope`` for
        each of their conditions (and their parents' conditions).
        """
        values: dict[str, ParamValue] = {}
        for p in self.parameters:
            with contextlib.ExitStack() as scopes:
                for parent, allowed in self._condition_chain(p):
                    scopes.enter_context(hp.conditional_scope(parent, list(allowed)))
                value = _declare_keras_tuner(hp, p)
            if p.is_active(values) and value is not None:
                values[p.name] = _plain(p, value)
        return values

    def optuna_distributions(
        self, params: Params | None = None
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        """Optuna distributions of every parameter, or of those active in ``params``.

        They equal what :meth:`suggest_optuna` asks for, so a trial recorded
        with them (``optuna.trial.create_trial``) sits in the same study.
        """
        from optuna import distributions as d

        names = (
            self.names
            if params is None
            else tuple(n for n in self.active(params) if n in self.names)
        )
        out: dict[str, d.BaseDistribution] = {}
        for name in names:
            p = self.param(name)
            if p.type == "int":
                low, high = p.bounds
                out[name] = d.IntDistribution(int(low), int(high), log=p.log, step=int(p.step or 1))
            elif p.type == "float":
                low, high = p.bounds
                out[name] = d.FloatDistribution(low, high, log=p.log, step=p.step)
            else:
                out[name] = d.CategoricalDistribution(list(p.options))
        return out

    def _condition_chain(self, p: Param) -> list[tuple[str, tuple[ParamValue, ...]]]:
        chain: list[tuple[str, tuple[ParamValue, ...]]] = []
        for parent, allowed in p.when:
            chain += self._condition_chain(self.param(parent))
            chain.append((parent, allowed))
        return chain


def _declare_keras_tuner(hp: KerasTunerHyperParameters, p: Param) -> ParamValue | None:
    if p.type == "int":
        return hp.Int(
            p.name,
            p.low,
            p.high,
            step=None if p.log else (p.step or 1),
            sampling="log" if p.log else "linear",
            default=p.default,
        )
    if p.type == "float":
        return hp.Float(
            p.name,
            p.low,
            p.high,
            step=p.step,
            sampling="log" if p.log else "linear",
            default=p.default,
        )
    if p.type == "bool":
        return hp.Boolean(p.name, default=p.default)
    return hp.Choice(p.name, list(p.options), default=p.default)


def _plain(p: Param, value: Any) -> ParamValue:
    """A tuner's value as a plain Python value of the parameter's type."""
    if p.type == "int":
        return int(value)
    if p.type == "float":
        return float(value)
    if p.type == "bool":
        return bool(value)
    for choice in p.options:  # numpy scalars and the like become the file's own value
        if choice == value:
            return choice
    return value
