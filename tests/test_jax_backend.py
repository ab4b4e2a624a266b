"""The JAX backend (``KERAS_BACKEND=jax``) on the CPU, in processes where ``import tensorflow``
fails: the whole path a user runs, the feed's batches, models across backends, and the
compilation cache. What a GPU adds is measured by ``benchmarks/gpu_search.py``."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from searchkit import tiny_data, tiny_space

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install -e '.[jax]')"
)

WITHOUT_TENSORFLOW = Path(__file__).parent / "without_tensorflow"


def jax_env(eager: bool = False) -> dict[str, str]:
    """A user's environment on the JAX backend, TensorFlow unimportable. Steps compiled, as
    users run them: on JAX, unlike TensorFlow, eager steps cost more than compiling them even
    on tiny data (a 2-trial search took 51 s eager, 16 s compiled and 7 s from the
    compilation cache, which the tests of one session share)."""
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "jax"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(WITHOUT_TENSORFLOW), env.get("PYTHONPATH", "")])
    env["MMTUNE_EAGER"] = "1" if eager else "0"
    return env


def _run(argv: list[str], cwd: Path, eager: bool) -> subprocess.CompletedProcess:
    """``python ARGV`` on the JAX backend; it must succeed, with no traceback."""
    proc = subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=jax_env(eager), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def mmtune(*args: str, cwd: Path, eager: bool = False) -> subprocess.CompletedProcess:
    return _run(["-m", "mmtune", *args], cwd, eager)


def python(code: str, *args: str, cwd: Path, eager: bool = False) -> str:
    return _run(["-c", code, *args], cwd, eager).stdout


def test_tensorflow_is_blocked_in_these_processes(tmp_path):
    out = python(
        "import keras, sys\n"
        "try:\n    import tensorflow\nexcept ImportError:\n    print('blocked')\n"
        "print(keras.config.backend())",
        cwd=tmp_path,
    )
    assert out.split() == ["blocked", "jax"]


def test_the_whole_path_runs_on_jax_without_tensorflow(tmp_path):
    """data check, a TPE search with the finalists' race, a Keras Tuner search whose process
    restarts itself between trials, refit, predict, results and the report: under JAX, with
    TensorFlow unimportable."""
    data, results = tiny_data(tmp_path / "data"), tmp_path / "results"
    space = tiny_space(tmp_path)
    common = ("--data", str(data), "--results", str(results), "--max-cost", "0")
    mmtune("data", "check", "--data", str(data), cwd=tmp_path)
    tpe = mmtune("search", "--space", str(space), "--trials", "2", *common, cwd=tmp_path)
    assert "on CPU" in tpe.stderr and ", jax;" in tpe.stderr
    assert "2 trials done" in tpe.stdout and "re-evaluating trial" in tpe.stderr
    kt = mmtune(
        "search", "--space", str(space), "--trials", "3", "--tuner", "random",
        "--study", "kt", "--finalists", "0", "--recycle-mb", "1", *common, cwd=tmp_path,
    )  # fmt: skip
    assert "3 trials done" in kt.stdout
    assert "restarting the search process" in kt.stderr, "a process restarts itself on JAX too"
    refit = mmtune("refit", "--best", "--study", "tiny", "--results", str(results), cwd=tmp_path)
    refit_dir = results / "tiny" / "refit"
    assert "honest check" in refit.stdout
    record = json.loads((refit_dir / "refit.json").read_text())
    assert record["backend"] == "jax" and "jax" in record["versions"]
    assert "tensorflow" not in record["versions"] or record["backend"] == "jax"
    out = tmp_path / "predicted.csv"
    mmtune(
        "predict", "--model", str(refit_dir / "model.keras"), "--data", str(data),
        "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert out.read_text() == (refit_dir / "submission.csv").read_text()
    with open(out, newline="") as fh:
        assert len(list(csv.reader(fh))) == 1 + 9
    board = mmtune("results", "--study", "tiny", "--results", str(results), cwd=tmp_path)
    assert "COMPLETE" in board.stdout
    mmtune("report", "--study", "tiny", "--results", str(results), cwd=tmp_path)
    assert (results / "tiny" / "report" / "report.html").stat().st_size > 10_000


_BATCHES = """
import sys, json
import numpy as np
from mmtune.data.feed import Feed
from mmtune.data.trial_data import DataSource
from mmtune.model.training import _training_batches

split = DataSource(sys.argv[1]).get(16)
feed = Feed(split, ("image", "audio"), sys.argv[2])
ds = _training_batches(feed, np.asarray(split.train_idx), 8, seed=5)
epochs = []
for _ in range(2):
    batches = [
        (np.asarray(x["image"]).astype(int).sum(axis=(1, 2, 3)).tolist(),
         np.asarray(x["audio"]).round(4).tolist(), np.asarray(y).tolist())
        for x, y in ds
    ]
    if hasattr(ds, "on_epoch_end"):
        ds.on_epoch_end()
    epochs.append(batches)
print(json.dumps(epochs))
"""


@pytest.mark.parametrize("feed", ["pipeline", "device"])
def test_the_jax_feed_gives_the_tf_data_feeds_batches(tmp_path, feed):
    """Rows, order and values of two epochs of training batches for one seed: the same from
    JAX's thread-fed (or device-gathered) batches as from TensorFlow's tf.data pipeline."""
    data = tiny_data(tmp_path / "data")
    jax_epochs = json.loads(python(_BATCHES, str(data), feed, cwd=tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    tf_run = subprocess.run(
        [sys.executable, "-c", _BATCHES, str(data), "pipeline"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert tf_run.returncode == 0, tf_run.stderr
    tf_epochs = json.loads(tf_run.stdout.strip().splitlines()[-1])
    assert jax_epochs == tf_epochs
    assert jax_epochs[0] != jax_epochs[1], "reshuffled every epoch"
    assert [len(b[2]) for b in jax_epochs[0]] == [8, 8, 8], "whole batches only"


_SAVE = """
import sys
import numpy as np
from mmtune import keras_backend
keras_backend.start()
import keras
from mmtune.data.trial_data import InputSpec
from mmtune.model.networks import build_model
from searchkit import TINY_PARAMS

keras.utils.set_random_seed(3)
spec = InputSpec(resolution=16, n_mfcc=6, n_classes=3, audio_mean=(1.0,) * 6, audio_std=(2.0,) * 6)
model = build_model("direct_mix", dict(TINY_PARAMS, conv_blocks=2), spec)
model.save(sys.argv[1])
"""

_PREDICT = """
import sys
import numpy as np
from mmtune.refit.prediction import load_model, predict_probabilities

model = load_model(sys.argv[1])
rng = np.random.default_rng(0)
images = rng.integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8)
mfcc = rng.normal(size=(10, 6)).astype(np.float32)
np.save(sys.argv[2], predict_probabilities(model, images, mfcc))
"""


@pytest.mark.parametrize("writer", ["tensorflow", "jax"])
def test_a_saved_model_predicts_the_same_under_either_backend(tmp_path, writer):
    tests = str(Path(__file__).parent)
    backends = {
        "jax": jax_env(),
        "tensorflow": {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"},
    }
    for env in backends.values():
        env["PYTHONPATH"] = os.pathsep.join([tests, env.get("PYTHONPATH", "")])

    def run(backend: str, code: str, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=backends[backend], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr

    model = tmp_path / "model.keras"
    run(writer, _SAVE, str(model))
    for backend in backends:
        run(backend, _PREDICT, str(model), str(tmp_path / f"{backend}.npy"))
    tf_probs, jax_probs = (np.load(tmp_path / f"{b}.npy") for b in ("tensorflow", "jax"))
    assert tf_probs.shape == (10, 3)
    np.testing.assert_allclose(jax_probs, tf_probs, atol=1e-5)


_TWICE = """
import sys
from mmtune import keras_backend
from mmtune.data.trial_data import DataSource
from mmtune.model.training import TrainOptions, run_trial
from searchkit import TINY_PARAMS

split = DataSource(sys.argv[1]).get(16)
options = TrainOptions(epochs=1)
seen = []
for seed in (1, 2):  # the same configuration again (the race's next evaluation)
    before = keras_backend.compilations()
    run_trial("direct_mix", TINY_PARAMS, split, options, seed=seed)
    after = keras_backend.compilations()
    seen.append({k: after[k] - before[k] for k in after})
print(seen)
"""


def test_a_second_evaluation_of_a_configuration_compiles_nothing_new(tmp_path):
    """Counted, not timed: the second training of one configuration (another seed, in the
    same process or a fresh one) reads every program from the persistent cache."""
    data = tiny_data(tmp_path / "data")
    env_tests = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {env_tests!r})\n" + _TWICE
    first, second = eval(python(code, str(data), cwd=tmp_path).strip().splitlines()[-1])
    assert first["compiled"] >= 3, first  # training step, forward pass, prediction at least
    assert second["compiled"] == second["cache_hits"] >= 3, second
    fresh = eval(python(code, str(data), cwd=tmp_path).strip().splitlines()[-1])
    assert fresh[0]["compiled"] == fresh[0]["cache_hits"], "a fresh process compiles nothing"


_EPOCHS = """
import sys
from mmtune import keras_backend
from mmtune.data.trial_data import DataSource
from mmtune.model.training import TrainOptions, train_model
from searchkit import TINY_PARAMS

split = DataSource(sys.argv[1]).get(16)
seen = []
train_model(
    "direct_mix", TINY_PARAMS, split, TrainOptions(epochs=3, feed=sys.argv[2]),
    report=lambda epoch, logs: seen.append(keras_backend.compilations()["compiled"]),
)
print(seen)
"""


@pytest.mark.parametrize("feed", ["pipeline", "device"])
def test_the_training_step_compiles_in_the_first_epoch_only(tmp_path, feed):
    """Every program a training runs (step, precise BatchNorm's forward pass, validation) is
    compiled in its first epoch; none again later. (Device-resident batches placed on a
    named device once made the step compile in each of 3 epochs.)"""
    data = tiny_data(tmp_path / "data")
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n" + _EPOCHS
    first, second, third = eval(
        python(code, str(data), feed, cwd=tmp_path).strip().splitlines()[-1]
    )
    assert first >= 3 and first == second == third, (first, second, third)
