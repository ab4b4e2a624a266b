"""Where a new study starts: the seed's network, a portfolio, and optionally an earlier study.

A portfolio is data, not code: ``search_spaces/portfolios/<space>.yaml`` (or, for a
space file of a user's, ``<file stem>.portfolio.yaml`` beside it) lists a few
configurations known to train well for the family, each as changes to the
space's defaults::

    configurations:
      - {resolution: 32, learning_rate: 2.0e-3}

A new study runs the seed's network first, then these, then its sampler.
``--warm-start STUDY`` adds the best configurations of an earlier study of the
same space (same ledger) after them, so the sampler learns from what that study
found. Every configuration is checked against the space: a value outside it is
refused with the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mmtune.errors import SpaceError
from mmtune.locations import builtin_spaces_dir
from mmtune.model.params import Params, ParamValue

if TYPE_CHECKING:
    import optuna

    from mmtune.search.spaces import Space

__all__ = ["portfolio_path", "load_portfolio", "starting_points", "warm_start_points"]

WARM_START_TOP = 5  # configurations taken from an earlier study


def portfolio_path(space: Space) -> Path:
    """The portfolio file of ``space`` (it may not exist)."""
    source = Path(space.source) if space.source else None
    if source is not None and source.parent.resolve() != builtin_spaces_dir().resolve():
        return source.with_name(f"{source.stem}.portfolio.yaml")
    return builtin_spaces_dir() / "portfolios" / f"{space.name}.yaml"


def _inside(space: Space, changes: Params, where: str) -> dict[str, ParamValue]:
    """The space's defaults with ``changes``, checked; only the active parameters."""
    for key, value in changes.items():
        if key not in space.names:
            raise SpaceError(
                f"{where}: {key!r} is not a parameter of space {space.name!r}. "
                f"Expected one of: {', '.join(space.names)}"
            )
        if not space.param(key).contains(value):
            raise SpaceError(f"{where}: {key}={value!r} lies outside space {space.name!r}.")
    return space.active({**space.defaults(), **changes})


def load_portfolio(space: Space) -> list[dict[str, ParamValue]]:
    """The portfolio's configurations as whole parameter sets (none when there is no file)."""
    from mmtune.search.space_files import read_yaml

    path = portfolio_path(space)
    if not path.is_file():
        return []
    doc = read_yaml(path)
    entries = doc.get("configurations") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SpaceError(f"{path}: expected a 'configurations' list of mappings.")
    return [
        _inside(space, entry, f"{path}: configurations[{i}]") for i, entry in enumerate(entries)
    ]


def warm_start_points(space: Space, earlier: optuna.Study) -> list[dict[str, ParamValue]]:
    """The best configurations (by mean) of an earlier study that fit ``space``."""
    from mmtune.ledger.evaluations import configurations

    points = []
    for config in configurations(earlier):
        if not config.complete:
            break
        params = dict(config.trial.params)
        if all(k in space.names and space.param(k).contains(v) for k, v in params.items()):
            points.append(space.active({**space.defaults(), **params}))
        if len(points) == WARM_START_TOP:
            break
    return points


def starting_points(
    space: Space, earlier: optuna.Study | None = None, portfolio: bool = True
) -> list[dict[str, ParamValue]]:
    """What a new study runs first, in order, without repeats: the seed's network, the
    portfolio (unless ``portfolio`` is false), then ``earlier``'s best."""
    points: list[dict[str, ParamValue]] = []
    candidates = [space.defaults(), *(load_portfolio(space) if portfolio else [])]
    if earlier is not None:
        candidates += warm_start_points(space, earlier)
    for point in candidates:
        if point not in points:
            points.append(point)
    return points
