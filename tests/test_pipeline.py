"""The split's stratification, the audio statistics' source, datasets that keep every row."""

from __future__ import annotations

import os

import numpy as np
import pytest
from tinydata import write_dataset

from mmtune.data.cache import load_data
from mmtune.data.pipeline import (
    AudioStats,
    fit_audio_stats,
    make_dataset,
    stratified_split,
)
from mmtune.data.trial_data import DataSource


def _numpy(batch):
    if isinstance(batch, dict):
        return {k: _numpy(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return tuple(_numpy(v) for v in batch)
    return np.asarray(batch)


def _epoch(ds):
    """One epoch of any feed's batches (``tf.data`` or a ``PyDataset``) as numpy; then the
    next epoch's order, as ``fit`` moves it on."""
    batches = [_numpy(b) for b in ds]
    if hasattr(ds, "on_epoch_end"):
        ds.on_epoch_end()
    return batches


_rows = _epoch


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = stratified_split(labels, 0.2, seed=42)
    assert len(val) == 20 and len(train) == 80
    assert np.intersect1d(train, val).size == 0
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    again, _ = stratified_split(labels, 0.2, seed=42)
    other, _ = stratified_split(labels, 0.2, seed=7)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_split_falls_back_for_tiny_classes():
    labels = np.array([0] * 10 + [1] * 10 + [2])  # class 2 has a single row
    train, val = stratified_split(labels, 0.2, seed=0)
    assert 20 in train  # a lone row trains
    assert np.bincount(labels[val], minlength=3).tolist() == [2, 2, 0]
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(21))


def test_full_data_mode_and_bad_fraction():
    train, val = stratified_split(np.array([0, 1, 0, 1]), 0.0)
    assert train.tolist() == [0, 1, 2, 3] and val.size == 0
    with pytest.raises(ValueError, match="Expected val_fraction in"):
        stratified_split(np.array([0, 1]), 1.0)


def test_audio_stats_come_from_the_training_part_only(tmp_path):
    data = load_data(write_dataset(tmp_path, n_train=30, n_test=6), 8, cache_dir=tmp_path / "c")
    split = DataSource(tmp_path).get(8)
    images, mfcc, labels = split.part("train")
    assert len(labels) + len(split.part("val")[2]) == 30
    assert images.shape[1:] == (8, 8, 3) and mfcc.dtype == np.float32
    stats = fit_audio_stats(mfcc)
    np.testing.assert_allclose(stats.mean, mfcc.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats.std, mfcc.std(axis=0), rtol=1e-5)
    spec = split.input_spec()
    np.testing.assert_allclose(spec.audio_mean, stats.mean, rtol=1e-5)
    assert not np.allclose(stats.mean, data.train_mfcc.mean(axis=0))


def test_audio_stats_never_divide_by_zero():
    mfcc = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    stats = fit_audio_stats(mfcc)
    assert isinstance(stats, AudioStats)
    assert stats.mean.tolist() == [2.0, 5.0] and stats.std.tolist() == [1.0, 1.0]
    assert stats.mean.dtype == np.float32
    with pytest.raises(ValueError, match="Expected MFCCs of shape"):
        fit_audio_stats(np.zeros((0, 3)))


def test_test_rows_keep_their_order_and_count():
    images = (np.arange(11)[:, None, None, None] * np.ones((1, 4, 4, 3))).astype(np.uint8)
    mfcc = np.arange(22, dtype=np.float32).reshape(11, 2)
    batches = _rows(make_dataset(images, mfcc, batch_size=4))
    assert [len(b["image"]) for b in batches] == [4, 4, 3]  # last batch kept, partial
    assert np.concatenate([b["image"][:, 0, 0, 0] for b in batches]).tolist() == list(range(11))
    np.testing.assert_array_equal(np.concatenate([b["audio"] for b in batches]), mfcc)
    assert batches[0]["image"].dtype == np.uint8 and batches[0]["audio"].dtype == np.float32


def test_inputs_restrict_what_is_yielded():
    mfcc = np.ones((5, 3), dtype=np.float32)
    labels = np.arange(5)
    ((features, y),) = _rows(make_dataset(None, mfcc, labels, inputs=("audio",), batch_size=8))
    assert set(features) == {"audio"} and y.dtype == np.int32 and y.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="Expected inputs among"):
        make_dataset(None, mfcc, inputs=("video",))
    with pytest.raises(ValueError, match="same number of rows"):
        make_dataset(None, mfcc, labels[:3], inputs=("audio",))


def test_training_shuffle_is_seeded_and_reshuffled_each_epoch():
    labels = np.arange(40)
    mfcc = labels[:, None].astype(np.float32)
    ds = make_dataset(None, mfcc, labels, inputs=("audio",), batch_size=16, shuffle=True, seed=3)

    def epoch(d):
        rows = _rows(d)
        order = np.concatenate([y for _, y in rows])
        feats = np.concatenate([x["audio"][:, 0] for x, _ in rows])
        assert np.array_equal(order, feats)  # features stay with their labels
        return order.tolist()

    first, second = epoch(ds), epoch(ds)
    assert sorted(first) == list(range(40)) and sorted(second) == list(range(40))
    assert first != list(range(40)) and first != second
    again = make_dataset(None, mfcc, labels, inputs=("audio",), batch_size=16, shuffle=True, seed=3)
    assert epoch(again) == first


def test_a_source_holds_one_resolution_and_its_arrays_once(tmp_path):
    """Memory: trials at another resolution evict the last one; every trial at one resolution
    reads the pictures from the cache's one file (never a copy in memory), and its datasets
    gather rows from it."""
    from mmtune.data.batch_order import BatchOrder
    from mmtune.data.feed import host_batches
    from mmtune.data.picture_file import PictureRows

    source = DataSource(write_dataset(tmp_path, n_train=30, n_test=6))
    small = source.get(8)
    assert small.arrays() is small.arrays()
    assert small.arrays()["image"] is small.data.train_images
    assert isinstance(small.data.train_images, PictureRows)
    digest, val_rows = source.data_hash, source.val_rows
    assert len(digest) == 64 and val_rows == len(small.val_idx)
    big = source.get(16)
    assert list(source._loaded) == [16] and source.data_hash == digest
    rows = big.val_idx[:3]
    ((features, labels),) = _rows(
        host_batches(big.arrays(), BatchOrder(rows, 8), inputs=("image", "audio"))
    )
    np.testing.assert_array_equal(features["image"], big.data.train_images[rows])
    np.testing.assert_array_equal(features["audio"], big.data.train_mfcc[rows])
    np.testing.assert_array_equal(labels, big.data.train_labels[rows])


@pytest.mark.parametrize("feed", ["pipeline", "device"])
def test_training_batches_are_whole_and_vary_by_epoch(tmp_path, feed):
    """One batch shape, so the training step is traced once; the rows left out change with
    every epoch's shuffle. Fewer rows than a batch still train (one partial batch)."""
    from mmtune.data.feed import Feed
    from mmtune.model.training import EVAL_BATCH, _training_batches, eval_batch

    split = DataSource(write_dataset(tmp_path, n_train=30, n_test=6)).get(8)
    rows = np.arange(30)
    feeder = Feed(split, ("audio",), feed)
    ds = _training_batches(feeder, rows, 8, seed=1)
    epochs = [[np.asarray(y) for _, y in _epoch(ds)] for _ in range(2)]
    assert [[len(y) for y in e] for e in epochs] == [[8, 8, 8], [8, 8, 8]]
    firsts = [np.concatenate(e) for e in epochs]
    assert not np.array_equal(firsts[0], firsts[1]), "reshuffled every epoch"
    few = _training_batches(feeder, rows[:5], 8, seed=0)
    assert [len(np.asarray(y)) for _, y in _epoch(few)] == [5]
    assert eval_batch(90) == 90 and eval_batch(2 * EVAL_BATCH + 1) == EVAL_BATCH


def test_training_batches_say_their_length_so_keras_never_runs_out_of_data(tmp_path):
    """Keras learns an unsized dataset's length by running out of data in its first epoch,
    and warns "Your input ran out of data; interrupting training"."""
    import warnings

    from searchkit import TINY_PARAMS

    from mmtune.model.training import TrainOptions, train_model

    split = DataSource(write_dataset(tmp_path, n_train=30, n_test=6)).get(16)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = train_model("direct_mix", TINY_PARAMS, split, TrainOptions(epochs=2))
    assert result.epochs == 2
    assert not [w for w in seen if "ran out of data" in str(w.message)]


def test_batches_under_op_determinism_log_no_rewrite_errors():
    """Refit turns TensorFlow's op determinism on, which rewrites a parallel ``tf.data`` map
    into a sequential one and logs "E0000 ... NodeDef mentions attribute
    use_unbounded_threadpool" for each: two error lines a model in the user's refit output.
    Under determinism the feed asks for a sequential map, so nothing is rewritten. In a
    process of its own, logging as the command line does (determinism is process-wide)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import numpy as np
        from mmtune import keras_backend
        keras_backend.enable_determinism()
        from mmtune.data.batch_order import BatchOrder
        from mmtune.data.tf_batches import index_dataset, rows_dataset
        arrays = {"audio": np.arange(20, dtype=np.float32).reshape(10, 2),
                  "label": np.arange(10, dtype=np.int32)}
        order = BatchOrder(np.arange(10), 4, shuffle=True, seed=3)
        labels = [np.asarray(y) for _, y in rows_dataset(arrays, order, inputs=("audio",))]
        rows = [np.asarray(r) for r, _ in index_dataset(order, arrays["label"])]
        assert [list(y) for y in labels] == [list(r) for r in rows] == [
            list(b) for b in order.epoch(0)], (labels, rows)
        print("batches", len(labels))
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MMTUNE_EAGER": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "batches 3" in done.stdout
    assert "NodeDef mentions" not in done.stderr, done.stderr[-2000:]
    assert "Warning" not in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("rows", "size", "drop"), [(10, 4, False), (10, 4, True), (8, 4, False), (3, 4, True)]
)
def test_tf_data_batches_are_the_batch_orders_epoch_after_epoch(rows, size, drop):
    """``fit`` iterates a training dataset once an epoch; each pass gives exactly the next
    epoch of :class:`BatchOrder` (rows, order, a last partial batch or none), and whole batches
    have their static size (one traced step)."""
    from mmtune.data.batch_order import BatchOrder
    from mmtune.data.tf_batches import rows_dataset

    arrays = {
        "audio": np.arange(2 * rows, dtype=np.float32).reshape(rows, 2),
        "label": np.arange(rows, dtype=np.int32),
    }
    order = BatchOrder(np.arange(rows), size, shuffle=True, seed=5, drop_remainder=drop)
    ds = rows_dataset(arrays, order, inputs=("audio",))
    assert int(ds.cardinality()) == len(order)
    if order.whole_batches:
        assert ds.element_spec[1].shape[0] == size
    for epoch in range(3):
        got = [np.asarray(y).tolist() for _, y in ds]
        assert got == [b.tolist() for b in order.epoch(epoch)], epoch
