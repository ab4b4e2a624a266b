"""Every tuner mmtune knows, in one table (as Optuna's ``samplers/__init__.py`` lists its
samplers): its name, the backend that runs it, the sampler or oracle it builds, and what it
can do. The command line's ``--tuner`` choices, the README's table of tuners and every check
of what a tuner can do are read from here; a name that is not here is an error, never a
fallback. Adding a tuner is adding one entry to :data:`TUNERS`.

Nothing here imports Optuna or Keras Tuner (the command line reads this table at start-up):
a factory is handed the library, imported by its backend.

>>> tuner_named("tpe").family
'Optuna'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mmtune.errors import MmtuneError

if TYPE_CHECKING:
    import keras_tuner
    import optuna

__all__ = ["TUNERS", "Tuner", "names", "names_that", "readme_table", "tuner_named"]


@dataclass(frozen=True)
class Tuner:
    """One tuner. ``backend``: the module of :mod:`mmtune.search.backends` that runs it.
    ``sampler(optuna, seed)``: an Optuna tuner's sampler; ``oracle(kt, max_trials, epochs,
    **common)``: a Keras Tuner tuner's oracle. ``workers``: several workers can share its
    study (the storage hands out trials with heartbeats; a dead worker's trial is retried;
    a worker waits for the others' trials). ``pruners``: ``--pruner`` prunes its trials.
    ``warm_start``: a new study first tries the seed's network, the space's portfolio and
    ``--warm-start``'s best. ``needs``: packages it imports that mmtune does not install."""

    name: str
    family: str
    does: str
    backend: str
    sampler: Callable[[ModuleType, int], optuna.samplers.BaseSampler] | None = None
    oracle: Callable[..., keras_tuner.Oracle] | None = None
    workers: bool = False
    pruners: bool = False
    warm_start: bool = False
    needs: tuple[str, ...] = ()

    def check_available(self) -> None:
        """Raise, saying what to install, when a package the tuner needs is missing."""
        missing = [name for name in self.needs if importlib.util.find_spec(name) is None]
        if missing:
            raise MmtuneError(
                f"--tuner {self.name} needs {' and '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: "
                f"pip install {' '.join(missing)} (mmtune does not install "
                f"{'it' if len(missing) == 1 else 'them'}), or choose another --tuner"
            )


def _tpe(optuna: ModuleType, seed: int) -> optuna.samplers.TPESampler:
    """``group``: conditional parameters (momentum only with sgd) get their own TPE groups.
    ``constant_liar``: with several workers, running trials count as bad results so that
    workers do not all sample the same promising point."""
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=6, multivariate=True, group=True, constant_liar=True
    )


def _hyperband(kt: ModuleType, max_trials: int, epochs: int, **common: Any) -> Any:
    # Many iterations: the ledger's --trials, not the bracket count, ends the search.
    oracle = kt.oracles.HyperbandOracle(
        max_epochs=epochs, factor=3, hyperband_iterations=1000, **common
    )
    oracle.max_trials = max_trials
    return oracle


def _bayesian(kt: ModuleType, max_trials: int, epochs: int, **common: Any) -> Any:
    return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials, **common)


def _random(kt: ModuleType, max_trials: int, epochs: int, **common: Any) -> Any:
    return kt.oracles.RandomSearchOracle(max_trials=max_trials, **common)


def _optuna(name: str, does: str, sampler: Callable, needs: tuple[str, ...] = ()) -> Tuner:
    """An Optuna sampler's tuner: the ledger study samples, prunes, shares and starts it."""
    return Tuner(
        name,
        "Optuna",
        does,
        "optuna_backend",
        sampler=sampler,
        workers=True,
        pruners=True,
        warm_start=True,
        needs=needs,
    )


def _keras_tuner(name: str, does: str, oracle: Callable) -> Tuner:
    """A Keras Tuner oracle's tuner: one process, the oracle samples, the ledger records."""
    return Tuner(name, "Keras Tuner", does, "keras_tuner_backend", oracle=oracle)


#: Every tuner, the default first; the README's table lists them in this order.
TUNERS: tuple[Tuner, ...] = (
    _optuna(
        "tpe",
        "TPE sampler (multivariate, conditional groups, `constant_liar` so several workers do "
        "not sample the same point) with a pruner fed every epoch's validation accuracy: "
        "`--pruner median` (default; stops a trial below the median of earlier trials at the "
        "same epoch, from epoch 1, once 3 trials have completed), `hyperband`, `none`",
        _tpe,
    ),
    _optuna(
        "gp",
        "Gaussian-process Bayesian optimization (Optuna's `GPSampler`; parameters outside "
        "every trial's space, as momentum with sgd only, drawn at random), pruned as `tpe`; "
        "needs `torch` and `scipy`, which mmtune does not install",
        lambda optuna, seed: optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=6, warn_independent_sampling=False
        ),
        needs=("torch", "scipy"),
    ),
    _keras_tuner(
        "hyperband",
        "successive halving brackets; continued trials load their parent's weights",
        _hyperband,
    ),
    _keras_tuner("bayesian", "Gaussian-process Bayesian optimization", _bayesian),
    _keras_tuner("random", "random search, every trial to `--max-epochs`", _random),
)


def names() -> tuple[str, ...]:
    """The tuners' names, the default first."""
    return tuple(t.name for t in TUNERS)


def names_that(capability: str) -> tuple[str, ...]:
    """The names of the tuners with ``capability`` (``workers``, ``pruners``, ``warm_start``)."""
    return tuple(t.name for t in TUNERS if getattr(t, capability))


def tuner_named(name: str) -> Tuner:
    """The tuner called ``name``; any other name is an error listing the known ones."""
    for tuner in TUNERS:
        if tuner.name == name:
            return tuner
    raise MmtuneError(f"Expected a tuner among {', '.join(names())}. Received: tuner={name!r}")


def readme_table() -> str:
    """The README's table of tuners (a test keeps the README's copy equal to it)."""
    lines = ["| `--tuner` | family | what it does |", "| --- | --- | --- |"]
    for k, t in enumerate(TUNERS):
        default = " (default)" if k == 0 else ""
        lines.append(f"| `{t.name}`{default} | {t.family} | {t.does} |")
    return "\n".join(lines)
