"""The GPU check: mmtune on one GPU under Keras' JAX backend, at the competition's size.

On the lent GPU machine (an H200 with JAX and no TensorFlow), from the repository's root:

    bash benchmarks/gpu_wheels.sh            # here, once: the wheels it needs, into .whl/
    bash benchmarks/gpu_check.sh [STAGES]    # there (device run, carry .whl): installs, runs this

Here, on a CPU, at tiny sizes (the same code paths; a minute or two):

    KERAS_BACKEND=jax python benchmarks/gpu_search.py --tiny --out /tmp/gpu-check

Stages (``--stages``, in this order; each writes its figures into ``gpu_search.json`` under
``--out`` as soon as it ends, so a run stopped at its limit still reports what it did):

- ``data``: the competition's size made by the demo generator on every core (13,802 labelled
  + 3,450 test rows, 256 px, 104 MFCC, 9 classes; reused when ``--work`` already holds it),
  then ``mmtune data check`` (the 64 px picture cache built);
- ``throughput``: samples/s of one epoch after the first (compiled) one, for the seed's
  direct_mix at 64 px, batch 32 and 256, float32 and mixed: a plain ``fit`` on in-memory
  numpy arrays, against mmtune's trainer (its feed, precise BatchNorm and validation pass)
  with ``--feed pipeline`` and ``--feed device``; with compile and validation seconds;
- ``search``: the README's main job (``mmtune search --space direct_mix --trials 40``, then
  ``mmtune refit --best``) from a cold compilation cache, and where its time went (the trials'
  compilation and validation, process restarts, the finalists' race, refit);
- ``workers``: 4 workers on one GPU against 1, trials a minute, on a PostgreSQL ledger
  (skipped, saying why, where no PostgreSQL server can be started).

All along, the GPU's use is read every second (``nvidia-smi``): its mean and peak per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("data", "throughput", "search", "workers")
FULL = {"train": 13802, "test": 3450, "image_size": 256, "trials": 40, "batches": (32, 256)}
TINY = {"train": 180, "test": 45, "image_size": 64, "trials": 3, "batches": (8, 32)}


class GpuMonitor:
    """``nvidia-smi``'s utilization and memory, read every ``interval`` seconds in a thread;
    nothing where there is no ``nvidia-smi``."""

    QUERY = [
        "--query-gpu=utilization.gpu,utilization.memory,memory.used",
        "--format=csv,noheader,nounits",
    ]

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float, float, float]] = []
        self.available = shutil.which("nvidia-smi") is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> GpuMonitor:
        if self.available:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", *self.QUERY], capture_output=True, text=True, timeout=10
                ).stdout.splitlines()[0]
                sm, mem, used = (float(v) for v in out.split(","))
                self.samples.append((time.time(), sm, mem, used))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self._stop.wait(self.interval)

    def window(self, start: float, end: float) -> dict[str, Any]:
        """The GPU's use between two ``time.time()`` marks."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if not inside:
            return {"samples": 0}
        sm = [s[1] for s in inside]
        return {
            "samples": len(inside),
            "sm_util_mean_pct": round(sum(sm) / len(sm), 1),
            "sm_util_max_pct": max(sm),
            "mem_util_mean_pct": round(sum(s[2] for s in inside) / len(inside), 1),
            "memory_used_max_mb": max(s[3] for s in inside),
        }


class Report:
    """Every figure of the run, rewritten to ``gpu_search.json`` after each stage."""

    def __init__(self, out: Path, monitor: GpuMonitor) -> None:
        self.path = out / "gpu_search.json"
        self.monitor = monitor
        self.data: dict[str, Any] = {"stages": {}}

    def stage(self, name: str, figures: dict[str, Any], start: float) -> None:
        end = time.time()
        figures["wall_s"] = round(end - start, 2)
        figures["gpu"] = self.monitor.window(start, end)
        self.data["stages"][name] = figures
        self.write()
        print(f"[{name}] {json.dumps(figures)[:2000]}", flush=True)

    def write(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1))


def environment() -> dict[str, Any]:
    from importlib import metadata

    from mmtune import keras_backend

    versions = {}
    for package in ("jax", "jaxlib", "keras", "keras-tuner", "optuna", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    gpu = ""
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    return {
        "device": keras_backend.device_description(),
        "nvidia_smi": gpu,
        "host": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions": versions,
    }


def mmtune(
    args: list[str], env: dict[str, str], log: Path, timeout: float
) -> tuple[int, float, str]:
    """Run ``python -m mmtune ARGS``; its output goes to ``log``. Returns (exit code, seconds,
    the output)."""
    started = time.perf_counter()
    with open(log, "w") as fh:
        try:
            code = subprocess.run(
                [sys.executable, "-m", "mmtune", *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                timeout=timeout, cwd=ROOT,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            code = 124
    return code, round(time.perf_counter() - started, 2), log.read_text(errors="replace")


def stage_data(opts: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from mmtune.data.demo import MARKER, write_demo

    data = opts.work / "data"
    started = time.perf_counter()
    reused = (data / MARKER).is_file() and f"train={opts.train} " in (data / MARKER).read_text()
    if not reused:
        write_demo(
            data, opts.train, opts.test, image_size=opts.image_size, n_mfcc=104, overwrite=True
        )
    made_s = round(time.perf_counter() - started, 2)
    code, check_s, out = mmtune(
        ["data", "check", "--data", str(data)], env, opts.out / "check.log", 900
    )
    return {
        "rows": {"train": opts.train, "test": opts.test, "image_size": opts.image_size},
        "reused": reused,
        "generate_s": made_s,
        "check_and_cache_s": check_s,
        "check_exit": code,
        "check_tail": out[-300:],
    }


def _epoch_clock() -> Any:
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[float] = [time.perf_counter()]

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            float((logs or {}).get("loss", 0.0))  # the epoch's last step has finished
            self.ends.append(time.perf_counter())

    return Clock()


def _steady(ends: list[float], rows: int) -> tuple[float, float]:
    """(first epoch's seconds, samples/s of the epochs after it: the median epoch)."""
    epochs = [b - a for a, b in zip(ends, ends[1:])]
    later = sorted(epochs[1:]) or epochs
    return round(epochs[0], 2), round(rows / later[len(later) // 2], 1)


def stage_throughput(opts: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from mmtune import keras_backend
    from mmtune.data.trial_data import DataSource
    from mmtune.model.networks import SEED_PARAMS, build_model, compile_model
    from mmtune.model.training import TrainOptions, train_model

    split = DataSource(opts.work / "data").get(64)
    train_idx = np.asarray(split.train_idx)
    images = np.asarray(split.data.train_images)[train_idx]
    audio = np.asarray(split.data.train_mfcc, dtype=np.float32)[train_idx]
    labels = np.asarray(split.data.train_labels, dtype=np.int32)[train_idx]
    base = dict(SEED_PARAMS["direct_mix"])
    rows_out = []
    for precision in ("float32", "mixed"):
        policy = keras_backend.set_precision(precision)
        for batch in opts.batches:
            params = dict(base, batch_size=batch)
            whole = len(train_idx) - len(train_idx) % batch
            row: dict[str, Any] = {"precision": policy, "batch": batch, "rows": whole}
            keras_backend.clear_keras_session()
            before = keras_backend.compilations()
            model = build_model("direct_mix", params, split.input_spec())
            compile_model(model, params, jit_compile=True)
            clock = _epoch_clock()
            model.fit(
                {"image": images, "audio": audio}, labels, batch_size=batch, epochs=opts.epochs,
                shuffle=True, verbose=0, callbacks=[clock],
            )  # fmt: skip
            after = keras_backend.compilations()
            row["plain_first_epoch_s"], row["plain_samples_per_s"] = _steady(clock.ends, whole)
            row["plain_compile_s"] = round(
                after.get("compile_s", 0) - before.get("compile_s", 0), 2
            )
            for feed in ("pipeline", "device"):
                keras_backend.clear_keras_session()
                ends = [time.perf_counter()]
                before = keras_backend.compilations()
                result = train_model(
                    "direct_mix", params, split, TrainOptions(epochs=opts.epochs, feed=feed),
                    report=lambda epoch, logs: ends.append(time.perf_counter()),
                )  # fmt: skip
                after = keras_backend.compilations()
                first, rate = _steady(ends, whole)
                row[f"mmtune_{feed}_first_epoch_s"] = first
                row[f"mmtune_{feed}_samples_per_s"] = rate
                row[f"mmtune_{feed}_validation_s_per_epoch"] = round(
                    result.validation_s / max(result.epochs, 1), 3
                )
                row[f"mmtune_{feed}_compile_s"] = round(
                    after.get("compile_s", 0) - before.get("compile_s", 0), 2
                )
                row[f"mmtune_{feed}_vs_plain"] = round(rate / row["plain_samples_per_s"], 3)
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    keras_backend.set_precision("float32")
    return {
        "network": "direct_mix at the seed's parameters, 64 px",
        "epochs": opts.epochs,
        "rows": rows_out,
    }


def _ledger_summary(results: Path, study: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{results / 'ledger.sqlite3'}"
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    states: dict[str, int] = {}
    sums = {"duration_s": 0.0, "compile_s": 0.0, "validation_s": 0.0, "epochs": 0.0}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
        for key in sums:
            sums[key] += float(t.user_attrs.get(key) or 0.0)
    return {"trials": len(trials), "states": states, **{k: round(v, 2) for k, v in sums.items()}}


def stage_search(opts: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    data, results = opts.work / "data", opts.work / "results"
    shutil.rmtree(results, ignore_errors=True)
    shutil.rmtree(Path(env["MMTUNE_CACHE_DIR"]) / "xla", ignore_errors=True)  # cold compiles
    args = ["search", "--space", "direct_mix", "--trials", str(opts.trials), "--data", str(data),
            "--results", str(results)]  # fmt: skip
    if opts.max_epochs:
        args += ["--max-epochs", str(opts.max_epochs)]
    code, search_s, out = mmtune(args, env, opts.out / "search.log", opts.search_timeout)
    figures: dict[str, Any] = {"search_exit": code, "search_s": search_s}
    figures["restarts"] = out.count("restarting the search process")
    done = re.search(r"(\d+) trials done \(([^)]*)\); (.*)", out)
    figures["search_line"] = done.group(0) if done else out[-400:]
    race = re.findall(r"re-evaluation of trial \d+: [0-9.]+ at epoch \d+ \((\d+)s\)", out)
    figures["race_evaluations"] = len(race)
    if (results / "ledger.sqlite3").exists():
        figures["ledger"] = _ledger_summary(results, "direct_mix")
    if code == 0:
        code, refit_s, rout = mmtune(["refit", "--best", "--results", str(results)], env,
                                     opts.out / "refit.log", opts.search_timeout)  # fmt: skip
        figures.update(refit_exit=code, refit_s=refit_s, refit_tail=rout[-600:])
        figures["main_job_s"] = round(search_s + refit_s, 2)
        sub = results / "direct_mix" / "refit" / "submission.csv"
        answers = data / "test_answers.csv"
        if sub.is_file() and answers.is_file():
            got = [line.split(",")[1] for line in sub.read_text().split()[1:]]
            want = [line.split(",")[1] for line in answers.read_text().split()[1:]]
            figures["held_out_accuracy"] = round(
                sum(a == b for a, b in zip(got, want)) / len(want), 4
            )
    ledger = figures.get("ledger") or {}
    if search_s and ledger:
        figures["shares_of_search"] = {
            "compilation": round(ledger["compile_s"] / search_s, 3),
            "validation": round(ledger["validation_s"] / search_s, 3),
            "trials_in_ledger": round(ledger["duration_s"] / search_s, 3),
        }
    return figures


def stage_workers(opts: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    import pgserver  # the tests' own: a server on loopback from the machine's PostgreSQL

    server, why = pgserver.start()
    if server is None:
        return {"skipped": f"no PostgreSQL server: {why}"}
    data = opts.work / "data"
    figures: dict[str, Any] = {}
    try:
        for workers in (1, 4):
            url = pgserver.new_database(server, f"w{workers}")
            wenv = dict(env, MMTUNE_STORAGE=url)
            trials = opts.worker_trials * workers
            code, seconds, out = mmtune(
                ["search", "--space", "direct_mix", "--trials", str(trials), "--workers",
                 str(workers), "--finalists", "0", "--data", str(data), "--results",
                 str(opts.work / f"results-w{workers}")],
                wenv, opts.out / f"workers{workers}.log", opts.search_timeout,
            )  # fmt: skip
            figures[f"w{workers}"] = {
                "exit": code, "trials": trials, "seconds": seconds,
                "trials_per_minute": round(60 * trials / seconds, 2) if seconds else None,
            }  # fmt: skip
        one, four = figures["w1"]["trials_per_minute"], figures["w4"]["trials_per_minute"]
        if one and four:
            figures["speedup_4_over_1"] = round(four / one, 2)
    finally:
        server.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-out")))
    parser.add_argument("--work", type=Path, default=ROOT / ".gpu", help="data, caches, results")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, to try it on a CPU")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a throughput run trains")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="the search's (default: the space's)"
    )
    parser.add_argument("--search-timeout", type=float, default=540)
    parser.add_argument("--worker-trials", type=int, default=4, help="trials a worker")
    opts = parser.parse_args(argv)
    sizes = TINY if opts.tiny else FULL
    for key, value in sizes.items():
        setattr(opts, key, value)
    if opts.tiny:
        opts.max_epochs = opts.max_epochs or 2
        opts.worker_trials = 1
    opts.out.mkdir(parents=True, exist_ok=True)
    opts.work.mkdir(parents=True, exist_ok=True)
    stages = [s.strip() for s in opts.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; expected among {STAGES}")
    env = dict(os.environ, MMTUNE_CACHE_DIR=str(opts.work / "cache"), PYTHONUNBUFFERED="1")
    os.environ["MMTUNE_CACHE_DIR"] = env["MMTUNE_CACHE_DIR"]
    monitor = GpuMonitor().start()
    report = Report(opts.out, monitor)
    report.data["environment"] = environment()
    report.data["sizes"] = sizes
    report.write()
    try:
        for name in stages:
            start = time.time()
            if name == "data":
                report.stage(name, stage_data(opts, env), start)
            elif name == "throughput":
                report.stage(name, stage_throughput(opts), start)
            elif name == "search":
                report.stage(name, stage_search(opts, env), start)
            elif name == "workers":
                report.stage(name, stage_workers(opts, env), start)
    finally:
        monitor.stop()
        report.data["gpu_samples"] = len(monitor.samples)
        report.write()
    print(f"wrote {report.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
