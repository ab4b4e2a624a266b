"""Training throughput of the seed's direct_mix under Keras 3 with the JAX backend, per dtype policy.

    KERAS_BACKEND=jax python benchmarks/gpu_throughput.py --out RESULT.json
        [--resolutions 64 128] [--batches 32 256] [--rows 4096] [--seconds 3] [--budget-s 300]

Measured under Keras-JAX, not TensorFlow, because the lent GPU machine's image has no TensorFlow
(and too little room to carry it): the network is mmtune's own (``mmtune.model.networks``
``build_model`` + ``compile_model``: Adam, sparse categorical crossentropy, accuracy), at the
seed's parameters, ``jit_compile=True`` (JAX always compiles). Each configuration (resolution x
dtype policy x batch) trains one ``fit`` on random uint8 pictures, float32 MFCCs (104) and 9
classes held in memory as numpy arrays (host feed and shuffling included, as ``fit`` does): the
first epoch (tracing, compilation) is the warm-up; epochs after it run until --seconds have
passed, and steps/s = their steps / their wall time, each epoch's end synchronized by reading its
loss. Runs on whatever device JAX picks (the GPU where there is one, else the CPU). Prints one
table and writes every row, as it finishes, to the JSON file --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

SEED_DIRECT_MIX_PARAMS = 1_400_105  # direct_mix at its defaults, 64 px (networks.py docstring)
N_MFCC, N_CLASSES = 104, 9


def measure(resolution: int, policy: str, batch: int, rows: int, seconds: float) -> dict[str, Any]:
    """One configuration: warm-up epoch, then timed epochs until ``seconds`` have passed."""
    import keras

    from mmtune.data.trial_data import InputSpec
    from mmtune.model.networks import build_model, compile_model

    keras.backend.clear_session()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        spec = InputSpec(resolution=resolution, n_mfcc=N_MFCC, n_classes=N_CLASSES)
        model = build_model("direct_mix", {"resolution": resolution}, spec)
        params = model.count_params()
        if resolution == 64:
            assert params == SEED_DIRECT_MIX_PARAMS, params
        compile_model(model, {"optimizer": "adam", "learning_rate": 1e-3}, jit_compile=True)
        rng = np.random.default_rng(0)
        rows -= rows % batch
        x = {
            "image": rng.integers(0, 256, (rows, resolution, resolution, 3), dtype=np.uint8),
            "audio": rng.standard_normal((rows, N_MFCC), dtype=np.float32),
        }
        y = rng.integers(0, N_CLASSES, rows).astype(np.int32)
        ends: list[float] = []

        class Clock(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                float((logs or {})["loss"])  # waits for the device
                ends.append(time.perf_counter())
                if len(ends) > 1 and ends[-1] - ends[0] >= seconds:
                    self.model.stop_training = True

        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=10_000, verbose=0, callbacks=[Clock()])
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    steps = (len(ends) - 1) * (rows // batch)
    elapsed = ends[-1] - ends[0]
    return {
        "resolution": resolution,
        "policy": policy,
        "batch": batch,
        "params": params,
        "warmup_s": round(ends[0] - start, 2),
        "timed_steps": steps,
        "timed_s": round(elapsed, 3),
        "steps_per_s": round(steps / elapsed, 2),
        "rows_per_s": round(steps * batch / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument(
        "--policies", nargs="+", default=["float32", "mixed_bfloat16", "mixed_float16"]
    )
    parser.add_argument("--rows", type=int, default=4096, help="rows held in memory (an epoch)")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per row")
    parser.add_argument(
        "--budget-s", type=float, default=None, help="start no configuration after this many s"
    )
    args = parser.parse_args()

    import jax
    import keras

    device = jax.devices()[0]
    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "jax": jax.__version__,
        "platform": device.platform,
        "device": getattr(device, "device_kind", str(device)),
        "host": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows_per_epoch": args.rows,
        "seconds": args.seconds,
    }
    print(json.dumps(info), flush=True)
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    begin = time.perf_counter()
    for resolution in args.resolutions:
        for policy in args.policies:
            for batch in args.batches:
                name = f"{resolution}px {policy} b{batch}"
                if args.budget_s is not None and time.perf_counter() - begin > args.budget_s:
                    skipped.append(name)
                    continue
                row = measure(resolution, policy, batch, args.rows, args.seconds)
                results.append(row)
                print(json.dumps(row), flush=True)
                args.out.write_text(
                    json.dumps({**info, "results": results, "skipped": skipped}, indent=1)
                )
    args.out.write_text(json.dumps({**info, "results": results, "skipped": skipped}, indent=1))
    print(
        f"\ndirect_mix (seed's parameters) training on {info['device']} ({info['platform']}), "
        f"Keras {info['keras']} (JAX {info['jax']}), jit_compile=True, Adam, fit on numpy"
    )
    print("| px | policy | batch | params | warm-up (s) | steps/s | rows/s | x float32 |")
    print("|---|---|---|---|---|---|---|---|")
    for row in results:
        base = next(
            (
                r
                for r in results
                if r["policy"] == "float32"
                and r["batch"] == row["batch"]
                and r["resolution"] == row["resolution"]
            ),
            None,
        )
        ratio = f"{row['rows_per_s'] / base['rows_per_s']:.2f}x" if base else "-"
        print(
            f"| {row['resolution']} | {row['policy']} | {row['batch']} | {row['params']:,} | "
            f"{row['warmup_s']:.1f} | {row['steps_per_s']:,.2f} | {row['rows_per_s']:,.0f} | "
            f"{ratio} |"
        )
    if skipped:
        print(f"skipped (--budget-s): {', '.join(skipped)}")


if __name__ == "__main__":
    main()
