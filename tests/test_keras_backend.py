"""The backend layer: TensorFlow imported quietly on every path a user runs (no start-up noise
in a search), the precision kept, eager mode, the collector kept off the imports."""

from __future__ import annotations

import os
import subprocess
import sys

from tinydata import write_dataset

AUDIO_SPACE = """\
name: quiet
model: audio_mlp
max_epochs: 1
parameters:
  audio_units_1: {type: int, low: 4, high: 8, default: 4}
"""

NOISE = ("cudart_stub", "cuInit", "absl::InitializeLog", "cpu_feature_guard", "I0000", "E0000")


def test_a_search_writes_no_tensorflow_start_up_noise_to_a_file(tmp_path):
    data = write_dataset(tmp_path / "data", n_train=15, n_test=3)
    space = tmp_path / "quiet.yaml"
    space.write_text(AUDIO_SPACE)
    env = {
        k: v
        for k, v in os.environ.items()  # a user's environment: no quieting variables
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "MMTUNE_EAGER")
    }
    err_file = tmp_path / "stderr.txt"
    with open(err_file, "w") as err:  # a file, not a terminal: what a log captures
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mmtune",
                "search",
                "--space",
                str(space),
                "--trials",
                "1",
                "--data",
                str(data),
                "--results",
                str(tmp_path / "results"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=300,
        )
    stderr = err_file.read_text()
    assert proc.returncode == 0, stderr
    assert "1 trials done" in proc.stdout
    found = [word for word in NOISE if word in stderr + proc.stdout]
    assert not found, f"TensorFlow start-up noise {found} in:\n{stderr}"
    assert stderr.splitlines()[0].startswith("study 'quiet'"), stderr


def test_clearing_the_session_keeps_the_precision():
    """Keras resets its dtype policy in clear_session; every trial after a process's first
    trained in float32 under --precision mixed until the search kept it."""
    import keras

    from mmtune.keras_backend import clear_keras_session, set_precision

    try:
        policy = set_precision("mixed")
        assert policy.startswith("mixed_")
        clear_keras_session()
        assert keras.mixed_precision.dtype_policy().name == policy
    finally:
        set_precision("float32")
    clear_keras_session()
    assert keras.mixed_precision.dtype_policy().name == "float32"


_TRACED = """
from mmtune.keras_backend import start
start()
import tensorflow as tf
print(bool(tf.function(tf.executing_eagerly)()))
"""


def test_mmtune_eager_runs_functions_eagerly_and_users_trace_them():
    """The suite's ``MMTUNE_EAGER=1`` runs tf.functions eagerly; without it (as users run)
    they are traced into graphs."""
    from mmtune.keras_backend import start

    start()
    import tensorflow as tf

    assert os.environ["MMTUNE_EAGER"] == "1" and tf.function(tf.executing_eagerly)()
    env = {k: v for k, v in os.environ.items() if k != "MMTUNE_EAGER"}
    out = subprocess.run(
        [sys.executable, "-c", _TRACED], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout


def test_the_imports_objects_are_kept_from_the_garbage_collector():
    """TensorFlow's and Keras' import-time objects are set aside (``gc.freeze``): a full
    collection, which Keras and Optuna ask for after every model and trial, no longer walks
    them (0.4 s each on 2 cores); what is made later is still collected."""
    import gc
    import weakref

    from mmtune import keras_backend

    keras_backend.start()
    assert gc.get_freeze_count() > 100_000

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the collector frees it
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
