"""Space files: found by name or path, read safely, checked into a :class:`Space`.

A space file::

    name: direct_mix
    model: direct_mix            # a family of mmtune.model.networks.MODEL_INPUTS
    description: one line
    max_epochs: 10               # epochs of a full trial
    parameters:
      conv_blocks: {type: int, low: 1, high: 4, default: 3}
      learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true, default: 1.0e-3}
      optimizer: {type: choice, values: [adam, rmsprop, sgd], default: adam}
      momentum: {type: float, low: 0.0, high: 0.95, default: 0.9, when: {optimizer: sgd}}

Every problem is a :class:`mmtune.errors.SpaceError` naming the file and the key.

Example:

>>> space = load_space("direct_mix")
>>> space.defaults()["conv_blocks"]
3
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from mmtune.errors import MmtuneError, SpaceError, shown
from mmtune.file_kinds import describe, is_regular
from mmtune.locations import builtin_spaces_dir, study_name_problem
from mmtune.model.networks import MODEL_INPUTS, OPTIONAL_PARAMS, SEED_PARAMS, check_params
from mmtune.model.params import ParamValue
from mmtune.search.spaces import BOUNDS, PARAM_TYPES, Param, Space, is_among

__all__ = ["load_space", "list_spaces", "looks_like_path", "read_yaml", "MAX_SPACE_FILE_BYTES"]

_TOP_KEYS = {"name", "model", "description", "max_epochs", "parameters"}
_PARAM_KEYS = {"type", "low", "high", "step", "log", "values", "default", "when", "help"}
_KEYS_BY_TYPE = {
    "int": {"low", "high", "step", "log"},
    "float": {"low", "high", "step", "log"},
    "choice": {"values"},
    "bool": set(),
}
_DEFAULT_MAX_EPOCHS = 10


def load_space(name_or_path: str | Path) -> Space:
    """The built-in space called ``name_or_path``, or the YAML file at that path.

    A string is a path when it contains a path separator or ends in ``.yaml`` / ``.yml``
    (``./direct_mix.yaml``, ``spaces/mine.yml``); any other string is the name of a built-in
    space in ``search_spaces/``, even when a file of that name sits in the working directory.

    Raises:
        SpaceError: no such space or file, or the file is malformed (the
            message names the file and the key).
    """
    if isinstance(name_or_path, Path) or looks_like_path(name_or_path):
        path = Path(name_or_path)
    else:
        path = builtin_spaces_dir() / f"{name_or_path}.yaml"
        if not _NAME.fullmatch(name_or_path) or not _is_file(path):
            known = ", ".join(sorted(p.stem for p in builtin_spaces_dir().glob("*.yaml")))
            raise SpaceError(
                f"No search space called {shown(name_or_path)}. Expected one of: "
                f"{known or '(none)'}, or the path to a YAML file (a path contains a / or ends "
                "in .yaml or .yml: ./mine.yaml)."
            )
    if not _is_file(path):
        kind = describe(path)
        if kind == "missing":
            raise SpaceError(f"{shown(str(path), keep_end=True)}: no such search space file.")
        raise SpaceError(
            f"{shown(str(path), keep_end=True)}: Expected a search space file (YAML). "
            f"Received: {kind}."
        )
    return _parse(_read_yaml(path), path)


def looks_like_path(text: str) -> bool:
    """Whether ``--space TEXT`` names a file (a separator, or a YAML suffix) and not a built-in."""
    return "/" in text or "\\" in text or text.endswith((".yaml", ".yml"))


_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _is_file(path: Path) -> bool:
    return is_regular(path)  # a name too long, a NUL byte: False


def list_spaces() -> list[Space]:
    """Every built-in space, sorted by name."""
    return sorted(
        (load_space(p) for p in builtin_spaces_dir().glob("*.yaml")), key=lambda s: s.name
    )


MAX_SPACE_FILE_BYTES = 256 * 1024  # the built-in spaces are about 2 KB


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses anchors, aliases and a key given twice in one mapping.

    Aliases are how a few hundred bytes of YAML expand to gigabytes (each level of
    ``&a [*b, *b, ...]`` multiplies the size); a space file has no use for them.
    """

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            what = "an alias (*name)" if isinstance(event, yaml.AliasEvent) else "an anchor (&name)"
            raise yaml.composer.ComposerError(
                None,
                None,
                f"{what}: anchors and aliases are not allowed in a space file; "
                "write each value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {shown(key)} (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> object:
    try:
        size = path.stat().st_size
        if size > MAX_SPACE_FILE_BYTES:
            raise SpaceError(
                f"{path}: Expected a search space file of at most "
                f"{MAX_SPACE_FILE_BYTES // 1024} KB. Received: {size:,} bytes."
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"{path}: cannot read the file ({shown(str(exc))}).") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except RecursionError:
        raise SpaceError(f"{path}: not a usable space file: values nested too deeply.") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise SpaceError(f"{path}: not a usable YAML value: {str(exc)[:200]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError(f"{path}:{where}: not valid YAML: {problem[:300]}") from None


def _fail(path: Path, key: str, message: str) -> SpaceError:
    key = key if len(key) <= 120 else f"{key[:120]}... ({len(key):,} characters)"
    return SpaceError(f"{path}: key '{key}': {message}")


def _parse(doc: object, path: Path) -> Space:
    if not isinstance(doc, dict):
        raise SpaceError(
            f"{path}: expected a mapping with keys {sorted(_TOP_KEYS)}. "
            f"Received: {type(doc).__name__}"
        )
    unknown = sorted(str(k) for k in doc if k not in _TOP_KEYS)
    if unknown:
        raise _fail(
            path,
            unknown[0],
            f"unknown key. Expected keys among {sorted(_TOP_KEYS)}. "
            f"Received: {shown(', '.join(unknown))}",
        )
    for key in ("name", "model", "parameters"):
        if key not in doc:
            raise _fail(path, key, "missing (required).")
    name = _string(doc["name"], path, "name")
    problem = study_name_problem(name)
    if problem is not None:  # a search's study is named after its space by default
        raise _fail(
            path, "name", f"a space's name names its studies (folders under --results). {problem}"
        )
    model = _string(doc["model"], path, "model")
    if model not in MODEL_INPUTS:
        raise _fail(
            path,
            "model",
            f"unknown model. Expected one of: {', '.join(MODEL_INPUTS)}. "
            f"Received: model={shown(model)}",
        )
    description = _string(doc.get("description", ""), path, "description", empty=True)
    if "\n" in description.strip():
        raise _fail(path, "description", "expected one line.")
    max_epochs = doc.get("max_epochs", _DEFAULT_MAX_EPOCHS)
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise _fail(
            path,
            "max_epochs",
            f"expected a positive integer. Received: max_epochs={shown(max_epochs)}",
        )
    raw_params = doc["parameters"]
    if not isinstance(raw_params, dict) or not raw_params:
        raise _fail(
            path,
            "parameters",
            "expected a non-empty mapping of parameter names "
            f"to their settings. Received: {shown(raw_params)}",
        )
    known = set(SEED_PARAMS[model]) | set(OPTIONAL_PARAMS)
    params: list[Param] = []
    for pname, raw in raw_params.items():
        key = f"parameters.{pname}"
        if not isinstance(pname, str) or pname not in known:
            raise _fail(
                path,
                key,
                f"unknown parameter for model {model!r}. Expected one of: "
                f"{', '.join(sorted(known))}",
            )
        params.append(_parse_param(pname, raw, path, key, {p.name: p for p in params}))
    space = Space(
        name=name,
        model=model,
        description=description.strip(),
        max_epochs=max_epochs,
        parameters=tuple(params),
        source=path,
    )
    try:  # the first trial is the defaults' model: refuse it now, not after TensorFlow's import
        check_params(model, space.defaults())
    except MmtuneError as exc:
        raise _fail(path, "parameters.*.default", f"the defaults make no model: {exc}") from None
    return space


def _string(value: object, path: Path, key: str, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise _fail(path, key, f"expected a non-empty string. Received: {key}={shown(value)}")
    return value


def _number(value: object, kind: str, path: Path, key: str) -> int | float:
    """An int (for ``int``) or a float (for ``float``; YAML's ``1e-3`` string accepted)."""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, key, f"expected an integer. Received: {shown(value)}")
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, key, f"expected a number. Received: {shown(value)}")
    return float(value)


def _parse_param(name: str, raw: object, path: Path, key: str, earlier: dict[str, Param]) -> Param:
    if not isinstance(raw, dict):
        raise _fail(
            path,
            key,
            f"expected a mapping with keys among {sorted(_PARAM_KEYS)}. Received: {shown(raw)}",
        )
    unknown = sorted(str(k) for k in raw if k not in _PARAM_KEYS)
    if unknown:
        raise _fail(
            path,
            f"{key}.{unknown[0]}",
            f"unknown key. Expected keys among "
            f"{sorted(_PARAM_KEYS)}. Received: {shown(', '.join(unknown))}",
        )
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        raise _fail(
            path,
            f"{key}.type",
            f"expected one of: {', '.join(PARAM_TYPES)}. Received: type={shown(kind)}",
        )
    misplaced = sorted(
        k
        for k in raw
        if k in {"low", "high", "step", "log", "values"} and k not in _KEYS_BY_TYPE[kind]
    )
    if misplaced:
        raise _fail(path, f"{key}.{misplaced[0]}", f"not a key of a {kind} parameter.")
    if "default" not in raw:
        raise _fail(path, f"{key}.default", "missing (required; the seed's value).")
    help_text = raw.get("help", "")
    if not isinstance(help_text, str):
        raise _fail(path, f"{key}.help", f"expected a string. Received: {shown(help_text)}")
    fields: dict[str, Any] = {"name": name, "type": kind, "help": help_text.strip()}
    if kind in ("int", "float"):
        fields.update(_parse_range(raw, kind, path, key))
    elif kind == "choice":
        fields["values"] = _parse_values(raw.get("values"), path, f"{key}.values")
    fields["default"] = _parse_default(raw["default"], kind, fields, path, f"{key}.default")
    fields["when"] = _parse_when(raw.get("when"), path, f"{key}.when", earlier)
    param = Param(**fields)
    _check_bounds(param, path, key)
    return param


def _check_bounds(p: Param, path: Path, key: str) -> None:
    """Refuse a type, range or choice outside what the parameter can sensibly take."""
    bound = BOUNDS.get(p.name)
    if bound is None:
        return
    fits_type = {
        "int": ("int", "choice"),
        "float": ("int", "float", "choice"),
        "name": ("choice",),
    }[bound.kind]
    if p.type not in fits_type:
        raise _fail(
            path,
            f"{key}.type",
            f"Expected {' or '.join(fits_type)} for {p.name} "
            f"({bound.describe()}). Received: type={p.type}",
        )
    if p.type == "choice":
        for value in p.options:
            if not bound.allows(value):
                raise _fail(
                    path,
                    f"{key}.values",
                    f"Expected every choice to be {bound.describe()}. Received: {shown(value)}",
                )
        return
    for side in ("low", "high"):
        if not bound.allows(getattr(p, side)):
            raise _fail(
                path,
                f"{key}.{side}",
                f"Expected {bound.describe()}. Received: {side}={shown(getattr(p, side))}",
            )


def _parse_range(raw: dict, kind: str, path: Path, key: str) -> dict[str, Any]:
    for bound in ("low", "high"):
        if bound not in raw:
            raise _fail(path, f"{key}.{bound}", f"missing (required for a {kind} parameter).")
    low = _number(raw["low"], kind, path, f"{key}.low")
    high = _number(raw["high"], kind, path, f"{key}.high")
    if low > high:
        raise _fail(
            path,
            f"{key}.low",
            f"expected low <= high. Received: low={shown(low)}, high={shown(high)}",
        )
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise _fail(path, f"{key}.log", f"expected true or false. Received: log={shown(log)}")
    if log and low <= 0:
        raise _fail(
            path, f"{key}.low", f"expected low > 0 on a log scale. Received: low={shown(low)}"
        )
    step = raw.get("step")
    if step is not None:
        step = _number(step, kind, path, f"{key}.step")
        if step <= 0:
            raise _fail(
                path, f"{key}.step", f"expected a positive step. Received: step={shown(step)}"
            )
        if log and step != 1:
            raise _fail(
                path,
                f"{key}.step",
                "a log-scale parameter takes no step "
                f"(Optuna refuses it). Received: step={shown(step)}",
            )
        if not _on_grid(high, low, step):
            raise _fail(
                path,
                f"{key}.high",
                f"expected high - low to be a multiple of the step. "
                f"Received: low={shown(low)}, high={shown(high)}, step={shown(step)}",
            )
        if log:
            step = None
    return {"low": low, "high": high, "step": step, "log": log}


def _on_grid(value: float, low: float, step: float) -> bool:
    n = (value - low) / step
    return abs(n - round(n)) < 1e-6


def _parse_values(values: object, path: Path, key: str) -> tuple[ParamValue, ...]:
    if not isinstance(values, list) or not values:
        raise _fail(path, key, f"expected a non-empty list of choices. Received: {shown(values)}")
    for v in values:
        if isinstance(v, (list, dict)) or v is None:
            raise _fail(
                path,
                key,
                f"expected plain values (numbers, strings, booleans). Received: {shown(v)}",
            )
    kinds = {
        bool if isinstance(v, bool) else (float if isinstance(v, (int, float)) else str)
        for v in values
    }
    if len(kinds) > 1:
        raise _fail(
            path,
            key,
            f"expected choices of one type (Keras Tuner requires it). Received: {shown(values)}",
        )
    if len(set(map(repr, values))) != len(values):
        raise _fail(path, key, f"expected distinct choices. Received: {shown(values)}")
    return tuple(values)


def _parse_default(value: Any, kind: str, fields: dict, path: Path, key: str) -> ParamValue:
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(path, key, f"expected true or false. Received: default={shown(value)}")
        return value
    if kind == "choice":
        if not is_among(value, fields["values"]):
            raise _fail(
                path,
                key,
                f"expected one of {list(fields['values'])}. Received: default={shown(value)}",
            )
        return value
    value = _number(value, kind, path, key)
    low, high, step = fields["low"], fields["high"], fields["step"]
    if not low <= value <= high:
        raise _fail(
            path,
            key,
            f"expected a value between {low} and {high}. Received: default={shown(value)}",
        )
    if step is not None and not _on_grid(value, low, step):
        raise _fail(
            path,
            key,
            f"expected a value on the grid low + k * step ({low} + k * {step}). "
            f"Received: default={shown(value)}",
        )
    return value


def _parse_when(
    when: object, path: Path, key: str, earlier: dict[str, Param]
) -> tuple[tuple[str, tuple[ParamValue, ...]], ...]:
    if when is None:
        return ()
    if not isinstance(when, dict) or not when:
        raise _fail(
            path,
            key,
            f"expected a mapping {{parameter: value or [values]}}. Received: {shown(when)}",
        )
    out = []
    for parent, allowed in when.items():
        if parent not in earlier:
            raise _fail(
                path,
                f"{key}.{parent}",
                "unknown parameter: a condition names a "
                f"parameter declared above it. Declared above: {', '.join(earlier) or '(none)'}",
            )
        allowed = tuple(allowed) if isinstance(allowed, list) else (allowed,)
        if not allowed:
            raise _fail(path, f"{key}.{parent}", "expected at least one value.")
        for value in allowed:
            if not earlier[parent].contains(value):
                expected = (
                    list(earlier[parent].options)
                    if earlier[parent].choices is not None
                    else f"a value between {earlier[parent].low} and {earlier[parent].high}"
                )
                raise _fail(
                    path,
                    f"{key}.{parent}",
                    f"unknown value. Expected {expected}. Received: {shown(value)}",
                )
        out.append((parent, allowed))
    return tuple(out)


def read_yaml(path: Path) -> object:
    """A YAML file read with the spaces' strict loader (errors name the file and the line)."""
    return _read_yaml(path)
