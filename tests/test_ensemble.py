"""One model file for an ensemble: the averaging model predicts its members' mean."""

from __future__ import annotations

import numpy as np
import pytest

from mmtune.data.trial_data import InputSpec

keras = pytest.importorskip("keras")

TINY = {"conv_blocks": 1, "base_filters": 4, "dense_units": 8, "audio_units_1": 4}


def _model(resolution: int = 32):
    from mmtune.model.networks import build_model

    spec = InputSpec(resolution, 6, 3, audio_mean=(0.0,) * 6, audio_std=(1.0,) * 6)
    return build_model("direct_mix", {**TINY, "resolution": resolution}, spec)


def test_the_averaging_model_saves_loads_and_predicts_the_members_mean(tmp_path):
    from mmtune.refit.ensemble import averaging_model
    from mmtune.refit.prediction import describe_model, load_model, predict_probabilities

    members = [_model() for _ in range(3)]  # built alike: every nested model is "direct_mix"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    mfcc = rng.normal(size=(7, 6)).astype(np.float32)
    expected = np.mean([predict_probabilities(m, images, mfcc) for m in members], axis=0)

    path = tmp_path / "model.keras"
    averaging_model(members, ["a", "b", "c"]).save(str(path))
    loaded = load_model(path)
    assert describe_model(loaded).resolution == 32 and describe_model(loaded).n_classes == 3
    np.testing.assert_allclose(predict_probabilities(loaded, images, mfcc), expected, atol=1e-6)


def test_members_must_take_the_same_inputs_and_have_unique_names():
    from mmtune.refit.ensemble import averaging_model, same_inputs

    a, b, c = _model(32), _model(32), _model(16)
    assert same_inputs([a, b]) and not same_inputs([a, c])
    with pytest.raises(ValueError, match="same named inputs"):
        averaging_model([a, c], ["a", "c"])
    with pytest.raises(ValueError, match="unique name"):
        averaging_model([a, b], ["x", "x"])
