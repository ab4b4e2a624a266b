"""`mmtune spaces` and `mmtune spaces show NAME|FILE [--data DIR]`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from mmtune.search.space_files import list_spaces as _all_spaces
from mmtune.search.space_files import load_space
from mmtune.search.spaces import Param, Space

if TYPE_CHECKING:
    import keras

__all__ = ["list_spaces", "show", "parameter_table"]


def list_spaces(args: argparse.Namespace) -> int:
    """Print one line per built-in space: name, model, description."""
    spaces = _all_spaces()
    if not spaces:
        print("no search spaces found")
        return 0
    name_w = max(len(s.name) for s in spaces)
    model_w = max(len(s.model) for s in spaces)
    for s in spaces:
        print(f"{s.name:<{name_w}}  {s.model:<{model_w}}  {s.description}")
    return 0


def _range(p: Param) -> str:
    if p.type in ("choice", "bool"):
        return ", ".join(str(v) for v in p.options)
    text = f"{p.low:g} .. {p.high:g}"
    return f"{text} step {p.step:g}" if p.step is not None else text


def _condition(p: Param) -> str:
    return "; ".join(
        f"{parent} in {list(allowed)}" if len(allowed) > 1 else f"{parent} = {allowed[0]}"
        for parent, allowed in p.when
    )


def parameter_table(space: Space) -> str:
    """The space's parameters as an aligned text table."""
    header = ("name", "type", "range/choices", "log", "default", "condition")
    rows = [header] + [
        (
            p.name,
            p.type,
            _range(p),
            "log" if p.log else "",
            f"{p.default:g}" if isinstance(p.default, float) else str(p.default),
            _condition(p),
        )
        for p in space.parameters
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def model_table(model: keras.Model) -> str:
    """One line per layer: name, type, output shape, parameters (no terminal-width tricks)."""
    rows = [("layer", "type", "output shape", "params")]
    for layer in model.layers:
        shape = getattr(getattr(layer, "output", None), "shape", "")
        rows.append(
            (
                layer.name,
                type(layer).__name__,
                str(tuple(shape)).replace("None", "batch"),
                f"{layer.count_params():,}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def show(args: argparse.Namespace) -> int:
    """Print a space's parameters and its default model's summary and parameter count."""
    space = load_space(args.space)
    print(f"{space.name}: {space.description}")
    print(f"model: {space.model}   max_epochs: {space.max_epochs}   file: {space.source}")
    print()
    print(parameter_table(space))
    print()

    from mmtune.data.trial_data import InputSpec
    from mmtune.model.networks import SEED_PARAMS, SEED_RESOLUTION, build_model

    defaults = space.defaults()
    seed_resolution = SEED_PARAMS[space.model].get("resolution", SEED_RESOLUTION)
    resolution = int(defaults.get("resolution", seed_resolution))
    if getattr(args, "data", None):
        from mmtune.data.contract import read_tables

        data_spec = read_tables(args.data).spec
        spec = InputSpec(
            resolution=resolution, n_mfcc=int(data_spec.n_mfcc), n_classes=int(data_spec.n_classes)
        )
        shapes = f"the data in {args.data}"
    else:
        spec = dataclasses.replace(InputSpec.seed(), resolution=resolution)
        shapes = "the seed's shapes"
    print(
        f"default model for {shapes}: {spec.n_mfcc} MFCC, {spec.n_classes} classes, "
        f"pictures {spec.resolution}x{spec.resolution}"
    )
    from mmtune import keras_backend

    keras_backend.start()
    model = build_model(space.model, defaults, spec)
    print(model_table(model))
    print(f"parameters: {model.count_params():,}")
    return 0
