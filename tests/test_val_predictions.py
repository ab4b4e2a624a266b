"""The validation probabilities in the ledger and the seed average's figure."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mmtune.ledger.records import VAL_LABELS, VAL_PROBABILITIES
from mmtune.ledger.val_predictions import (
    decode,
    describe,
    encode,
    seed_average_accuracy,
)


def _evaluation(probs: np.ndarray | None, labels: np.ndarray | None) -> optuna.trial.FrozenTrial:
    attrs: dict[str, object] = {}
    if probs is not None:
        attrs[VAL_PROBABILITIES] = encode(probs, "float32")
    if labels is not None:
        attrs[VAL_LABELS] = encode(labels, "int16")
    return optuna.trial.create_trial(value=0.5, user_attrs=attrs)


@given(arrays(np.float32, st.tuples(st.integers(0, 40), st.integers(1, 12))))
def test_probabilities_come_back_bit_for_bit(probs):
    back = decode(encode(probs, "float32"))
    assert back is not None and back.shape == probs.shape
    assert back.tobytes() == probs.astype("<f4").tobytes()


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "text",
        {"dtype": "float32", "shape": [2, 3]},  # no data
        {"dtype": "float32", "shape": [2, 3], "data": "not base64!"},
        {"dtype": "float32", "shape": [2, 3], "data": "AAAA"},  # 3 bytes: not 6 floats
        {"dtype": "no-such-type", "shape": [1], "data": "AAAAAA=="},
    ],
)
def test_anything_else_decodes_to_none(stored):
    assert decode(stored) is None


def test_the_average_of_the_probabilities_is_scored_not_the_average_of_accuracies():
    labels = np.array([0, 1, 2, 0])
    # Each seed is right on 2 of 4 rows; averaged, the more confident one decides each row.
    a = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.0, 0.2, 0.8], [0.2, 0.8, 0.0]])
    b = np.array([[0.4, 0.6, 0.0], [0.1, 0.9, 0.0], [0.6, 0.0, 0.4], [0.9, 0.1, 0.0]])
    evaluations = [_evaluation(a, labels), _evaluation(b, labels)]
    assert seed_average_accuracy(evaluations) == pytest.approx(1.0)
    c = np.array([[0.0, 0.9, 0.1]] * 4)  # class 1 everywhere: turns rows 0 and 3
    assert seed_average_accuracy([*evaluations, _evaluation(c, labels)]) == pytest.approx(0.5)


def test_one_evaluation_or_none_stored_gives_no_figure():
    labels = np.array([0, 1])
    probs = np.eye(2)
    assert seed_average_accuracy([_evaluation(probs, labels)]) is None
    assert seed_average_accuracy([_evaluation(None, None), _evaluation(probs, labels)]) is None
    assert seed_average_accuracy([]) is None


def test_evaluations_of_other_rows_are_left_out():
    labels = np.array([0, 1, 1])
    right = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    other_split = _evaluation(np.array([[0.0, 1.0]] * 3), np.array([1, 0, 0]))
    other_classes = _evaluation(np.zeros((3, 4)), labels)
    short = _evaluation(np.zeros((2, 2)), labels[:2])
    kept = [_evaluation(right, labels), _evaluation(right, labels)]
    assert seed_average_accuracy([*kept, other_split, other_classes, short]) == 1.0


def test_a_stored_array_is_described_by_its_shape_and_type_not_its_bytes():
    stored = encode(np.zeros((200, 9)), "float32")
    assert describe(stored) == "200 x 9 float32 (stored; --format json shows the values)"
    assert describe(encode(np.arange(5), "int16")).startswith("5 int16 ")
    assert describe({"dtype": "float32"}) is None and describe("text") is None
