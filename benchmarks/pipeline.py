"""How fast pictures reach the model: the seed's way against the decode-once cache.

    python benchmarks/pipeline.py --data DIR [--rows N]

Measures samples/s of
  (a) the seed's way: a Keras ``Sequence`` that opens every PNG with PIL for
      every batch of every epoch, as float32 256x256, plus a pandas row lookup
      (the notebook's ``CustomDataGenerator``, ``ImageDataGenerator(rescale)``
      replaced by the same multiply since Keras 3 has no ImageDataGenerator);
  (b) the cache's first build (decode once, area-resize, write), in a fresh
      process so that its peak resident memory is its own;
  (c) the warm cached pipeline: ``make_dataset`` over the cache, one epoch;
  (d) tensors already in memory: batches sliced from numpy arrays;
and the epoch time of the seed's ``direct_mix`` (at 64x64 input) fed by (c)
against ``fit`` on the same arrays in memory. ``--rows N`` uses the first N
labelled rows (and a quarter as many test rows) through a linked copy of DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def subset(data_dir: Path, rows: int, out: Path) -> Path:
    """A copy of ``data_dir`` with the first ``rows`` labelled rows, pictures linked."""
    out.mkdir(parents=True, exist_ok=True)
    for name, n in (("data_train.csv", rows), ("data_test_novt.csv", max(1, rows // 4))):
        lines = (data_dir / name).read_text().splitlines()[: n + 1]
        (out / name).write_text("\n".join(lines) + "\n")
        for line in lines[1:]:
            image = line.split(",")[0]
            link = out / image
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to((data_dir / image).resolve())
    if (data_dir / "class_names.txt").exists():
        (out / "class_names.txt").write_text((data_dir / "class_names.txt").read_text())
    return out


def seed_way(data_dir: Path, batch_size: int, batches: int) -> float:
    """(a) samples/s of the notebook's generator: PIL per sample per batch, float32."""
    import pandas as pd
    from PIL import Image

    df = pd.read_csv(data_dir / "data_train.csv")
    first = np.asarray(Image.open(data_dir / df.at[0, "IMAGE"]).convert("RGB"))
    h, w = first.shape[:2]
    n_audio = df.shape[1] - 2
    index = np.random.default_rng(42).permutation(len(df))
    batches = min(batches, len(df) // batch_size)
    started = time.perf_counter()
    for b in range(batches):
        ximage = np.empty((batch_size, h, w, 3), dtype="float32")
        xaudio = np.empty((batch_size, n_audio), dtype="float32")
        y = np.empty(batch_size, dtype=int)
        for i, idx in enumerate(index[b * batch_size : (b + 1) * batch_size]):
            ximage[i] = np.asarray(Image.open(data_dir / df.at[idx, "IMAGE"]).convert("RGB"))
            xaudio[i] = np.array(df.loc[idx])[1:-1]
            y[i] = df.at[idx, "CLASS"]
        ximage *= 1.0 / 255  # ImageDataGenerator(rescale=1/255)
    return batches * batch_size / (time.perf_counter() - started)


def build_in_child(data_dir: Path, cache_dir: Path, resolution: int) -> dict:
    """(b) the first build, in a fresh process; seconds, rows, bytes, peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--build-child", str(data_dir), str(cache_dir), str(resolution)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_tree(root: int) -> tuple[int, int]:
    """Resident bytes of ``root`` and of ``root`` with all its descendants (from /proc)."""
    parents, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            rss[int(entry)] = int(Path(f"/proc/{entry}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    return rss.get(root, 0), sum(rss.get(p, 0) for p in tree)


def _build_child(data_dir: str, cache_dir: str, resolution: int) -> None:
    """Run in the fresh process: build, sampling this process tree's resident memory."""
    import threading

    from mmtune.data.cache import load_data

    peak = {"main": 0, "tree": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            main, tree = _rss_tree(os.getpid())
            peak["main"], peak["tree"] = max(peak["main"], main), max(peak["tree"], tree)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    d = load_data(data_dir, resolution, cache_dir=cache_dir, progress=False)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": len(d.train_images) + len(d.test_images),
                "bytes": d.summary["cache"]["bytes"],
                "rss_main_mb": max(
                    peak["main"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                )
                / 1e6,
                "rss_tree_mb": peak["tree"] / 1e6,
            }
        )
    )


def direct_mix(resolution: int, n_audio: int, n_classes: int):
    """The seed's direct_mix at ``resolution`` input (its AveragePooling done by the cache)."""
    import keras
    from keras import layers

    params = {"activation": "relu", "kernel_initializer": "he_uniform", "padding": "same"}
    image = keras.Input((resolution, resolution, 3), dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255)(image)
    for filters, rate in ((32, 0.2), (64, 0.3), (128, 0.4)):
        x = layers.Conv2D(filters, (3, 3), **params)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Conv2D(filters, (3, 3), **params)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D((2, 2))(x)
        x = layers.Dropout(rate)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer="he_uniform")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.5)(x)
    audio = keras.Input((n_audio,), name="audio")
    a = layers.Dense(256, activation="relu", kernel_initializer="he_uniform")(audio)
    a = layers.Dense(128, activation="relu", kernel_initializer="he_uniform")(a)
    out = layers.Dense(n_classes, activation="softmax")(layers.concatenate([x, a]))
    model = keras.Model(inputs={"image": image, "audio": audio}, outputs=out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def timed(fn, repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--build-child"]:
        _build_child(argv[1], argv[2], int(argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", required=True, metavar="DIR", help="data directory (competition layout)"
    )
    p.add_argument(
        "--rows", type=int, default=None, metavar="N", help="use the first N labelled rows"
    )
    p.add_argument("--resolution", type=int, default=64, metavar="PX")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed-batches", type=int, default=10, help="batches timed for (a)")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs; the fastest counts")
    p.add_argument("--no-model", action="store_true", help="skip the direct_mix epochs")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mmtune-bench-") as tmp:
        data_dir = Path(args.data)
        if args.rows:
            data_dir = subset(data_dir, args.rows, Path(tmp) / "data")
        cache_dir = Path(tmp) / "cache"
        rs = {}
        rs["a"] = seed_way(data_dir, args.batch_size, args.seed_batches)
        build = build_in_child(data_dir, cache_dir, args.resolution)
        rs["b"] = build["rows"] / build["seconds"]

        import tensorflow as tf

        from mmtune.data.cache import load_data
        from mmtune.data.pipeline import make_dataset

        data = load_data(data_dir, args.resolution, cache_dir=cache_dir, progress=False)
        assert data.summary["cache"]["hit"], "expected the cache built by (b)"
        images, mfcc, labels = data.train_images, data.train_mfcc, data.train_labels
        n = len(labels)
        ds = make_dataset(images, mfcc, labels, batch_size=args.batch_size, shuffle=True, seed=0)

        def epoch_pipeline():
            for _ in ds:
                pass

        def epoch_memory():
            order = np.random.default_rng(0).permutation(n)
            for s in range(0, n, args.batch_size):
                idx = order[s : s + args.batch_size]
                _ = ({"image": images[idx], "audio": mfcc[idx]}, labels[idx])

        epoch_pipeline()  # warm: trace the tf.data functions once
        rs["c"] = n / timed(epoch_pipeline, args.repeats)
        rs["d"] = n / timed(epoch_memory, args.repeats)

        epochs = {}
        if not args.no_model:
            tf.keras.utils.set_random_seed(0)
            model = direct_mix(args.resolution, data.spec.n_mfcc, data.spec.n_classes)
            x = {"image": images, "audio": mfcc}
            runs = {
                "pipeline": lambda: model.fit(ds, epochs=1, verbose=0, shuffle=False),
                "memory": lambda: model.fit(
                    x, labels, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0
                ),
            }
            for run in runs.values():  # compile and warm both paths
                run()
            times: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):  # interleaved, so that a busy moment hits both
                for name, run in runs.items():
                    times[name].append(timed(run, 1))
            epochs = {name: min(t) for name, t in times.items()}

    gpus = tf.config.list_physical_devices("GPU")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'CPU only'}; "
        f"TensorFlow {tf.__version__}"
    )
    print(
        f"data: {n} labelled rows ({build['rows']} pictures), {data.spec.image_size} -> "
        f"{args.resolution}x{args.resolution}, batch {args.batch_size}"
    )
    print()
    print(f"| {'what':<44} | {'samples/s':>11} | {'x seed':>8} |")
    print(f"|{'-' * 46}|{'-' * 13}|{'-' * 10}|")
    names = {
        "a": "(a) seed's way: PIL per sample per batch",
        "b": "(b) cache: first build",
        "c": "(c) cached pipeline, warm (make_dataset)",
        "d": "(d) tensors in memory",
    }
    for key, name in names.items():
        print(f"| {name:<44} | {rs[key]:>11,.0f} | {rs[key] / rs['a']:>7,.1f}x |")
    print()
    print(
        f"cache build: {build['seconds']:.1f} s, {build['bytes'] / 1e6:.1f} MB "
        f"({build['bytes'] / build['rows'] * 17000 / 1e6:.0f} MB for 17,000 rows); peak RSS "
        f"{build['rss_main_mb']:.0f} MB main process, {build['rss_tree_mb']:.0f} MB with its workers"
    )
    print(f"warm pipeline / seed's way: {rs['c'] / rs['a']:,.0f}x (target >= 100x)")
    if epochs:
        ratio = epochs["pipeline"] / epochs["memory"]
        print(
            f"direct_mix epoch ({n} rows): pipeline {epochs['pipeline']:.2f} s, in memory "
            f"{epochs['memory']:.2f} s: {100 * (ratio - 1):+.1f}% (target within 5%)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
