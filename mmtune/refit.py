"""Refit: retrain chosen trials on every labelled row and write the submission.

The epoch rule: a member trains for the epoch at which its search trial's
validation accuracy peaked (``best_epoch``), unscaled. Training on all
labelled rows gives each epoch 25% more samples (and so 25% more steps) than
the search's 80% training part, which already lengthens training in step
with the data; the honest check shows whether the rule holds by retraining
the same configuration on the training part alone, for the same epochs, and
reporting its validation accuracy next to the search's.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmtune.atomic import atomic_path, atomic_write_text
from mmtune.errors import LedgerError, MmtuneError
from mmtune.leaderboard import best_accuracy, best_epoch
from mmtune.ledger import Ledger
from mmtune.trial_data import DataSource

if TYPE_CHECKING:
    import optuna

__all__ = ["RefitConfig", "Member", "RefitOutcome", "choose_members", "run_refit"]


@dataclass
class RefitConfig:
    results_dir: Path = Path("results")
    storage: str | None = None
    study: str | None = None
    trial: int | None = None  # None: the best trial
    ensemble: int = 1
    seeds: int = 1
    seed: int = 0
    check: bool = True
    data_dir: Path | None = None
    force: bool = False
    precision: str = "float32"
    jit: str = "auto"
    feed: str = "pipeline"


@dataclass
class Member:
    """One model of the refit: a trial's configuration, its epochs and seed."""

    trial: int
    params: dict[str, Any]
    epochs: int
    seed: int
    search_val_accuracy: float | None
    check_val_accuracy: float | None = None
    model_file: str = ""
    duration_s: float = 0.0
    # The honest check's confusion matrix on the validation part (rows: true, columns:
    # predicted), for the report; None without a check.
    val_confusion: list[list[int]] | None = None
    val_class_names: list[str] | None = None


@dataclass
class RefitOutcome:
    study: str
    out_dir: Path
    submission: Path
    record: Path
    members: list[Member] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)


def _epochs(t: optuna.trial.FrozenTrial) -> int:
    epoch = best_epoch(t)
    if not epoch:
        raise LedgerError(f"trial {t.number} finished no epoch: nothing to refit")
    return epoch


def choose_members(study: optuna.Study, trial: int | None, ensemble: int, seeds: int,
                   seed: int) -> list[Member]:
    """The trials to refit: the best (or ``trial``), the top ``ensemble``, or ``seeds`` seeds."""
    from optuna.trial import TrialState

    if ensemble < 1 or seeds < 1:
        raise MmtuneError(f"Expected --ensemble and --seeds of at least 1. "
                          f"Received: ensemble={ensemble}, seeds={seeds}")
    if ensemble > 1 and seeds > 1:
        raise MmtuneError("--ensemble K (top K configurations) and --seeds K (K seeds of one) "
                          "do not combine: choose one")
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                      key=lambda t: (-(t.value or 0.0), t.number))
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found:
            raise LedgerError(f"study {study.study_name!r} has no trial {trial}")
        if found[0].state not in (TrialState.COMPLETE, TrialState.PRUNED):
            raise LedgerError(f"trial {trial} is {found[0].state.name}: only completed or pruned "
                              "trials can be refitted")
        chosen = [found[0]] + [t for t in complete if t.number != trial][: ensemble - 1]
    else:
        if not complete:
            raise LedgerError(f"study {study.study_name!r} has no completed trial yet: "
                              "run `mmtune search` first")
        chosen = complete[:ensemble]
    if ensemble > len(chosen):
        raise LedgerError(f"--ensemble {ensemble}: study {study.study_name!r} has only "
                          f"{len(chosen)} completed trial(s)")
    members = [Member(t.number, dict(t.params), _epochs(t), seed, best_accuracy(t))
               for t in chosen]
    if seeds > 1:
        members = [Member(members[0].trial, members[0].params, members[0].epochs, seed + k,
                          members[0].search_val_accuracy) for k in range(seeds)]
    return members


def _val_confusion(model: Any, split: Any) -> tuple[list[list[int]], list[str]]:
    """The check model's confusion matrix on the validation part, and the class names."""
    from mmtune.prediction import predict_probabilities

    images, mfcc, labels = split.part("val")
    predicted = predict_probabilities(model, images, mfcc).argmax(axis=1)
    names = list(split.data.spec.class_names)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), predicted), 1)
    return counts.tolist(), names


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("mmtune", "tensorflow", "keras", "keras-tuner", "optuna", "numpy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_refit(cfg: RefitConfig, log: Any = None) -> RefitOutcome:
    """Refit the chosen members, average their probabilities, write model(s), submission, record."""
    from mmtune.tf_setup import import_tensorflow, jit_setting, set_precision

    tf = import_tensorflow()
    set_precision(cfg.precision)
    import keras

    from mmtune.prediction import predict_probabilities, write_submission
    from mmtune.training import train_model

    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.perf_counter()
    ledger = Ledger(cfg.results_dir, cfg.storage)
    study, name, was_latest = ledger.load_study(cfg.study)
    if was_latest:
        log(f"study {name!r} (the latest; --study NAME for another)")
    meta = study.user_attrs
    model_name = meta.get("model")
    if not model_name:
        raise LedgerError(f"study {name!r} records no model: it was not written by mmtune search")
    members = choose_members(study, cfg.trial, cfg.ensemble, cfg.seeds, cfg.seed)
    data_dir = Path(cfg.data_dir or meta.get("data_path", ""))
    if not data_dir.is_dir():
        raise MmtuneError(f"the study's data directory {data_dir} is gone: give --data DIR")
    source = DataSource(data_dir)
    resolutions = {int(m.params.get("resolution", 64)) for m in members}
    first = source.get(min(resolutions))  # the data check, before any training
    if first.data.data_hash != meta.get("data_hash") and not cfg.force:
        raise MmtuneError(
            f"the data in {data_dir} (hash {first.data.data_hash[:12]}) is not the data study "
            f"{name!r} was searched on (hash {str(meta.get('data_hash'))[:12]}, "
            f"{meta.get('data_path')}); give the same data, or --force to refit anyway")
    tf.config.experimental.enable_op_determinism()
    out_dir = Path(cfg.results_dir) / name / "refit"
    out_dir.mkdir(parents=True, exist_ok=True)
    probabilities = []
    for k, m in enumerate(members):
        split = source.get(int(m.params.get("resolution", 64)))
        t0 = time.perf_counter()
        if cfg.check:
            check = train_model(model_name, m.params, split, epochs=m.epochs, seed=m.seed,
                                jit_compile=jit_setting(cfg.jit), feed=cfg.feed)
            m.check_val_accuracy = float(check.curves["val_accuracy"][-1])
            m.val_confusion, m.val_class_names = _val_confusion(check.model, split)
            keras.backend.clear_session()
            log(f"honest check, trial {m.trial}: {m.epochs} epochs on the training part give "
                f"val_accuracy {m.check_val_accuracy:.4f} (search: "
                f"{m.search_val_accuracy:.4f})" if m.search_val_accuracy is not None else
                f"honest check, trial {m.trial}: val_accuracy {m.check_val_accuracy:.4f}")
        log(f"refitting trial {m.trial} (seed {m.seed}) on all {len(split.data.train_labels)} "
            f"labelled rows for {m.epochs} epochs")
        full = train_model(model_name, m.params, split, epochs=m.epochs, seed=m.seed, full=True,
                           jit_compile=jit_setting(cfg.jit), feed=cfg.feed)
        m.model_file = "model.keras" if len(members) == 1 else f"model_{k + 1}_trial{m.trial}_seed{m.seed}.keras"
        with atomic_path(out_dir / m.model_file, suffix=".keras") as tmp:
            full.model.save(str(tmp))
        probabilities.append(predict_probabilities(full.model, split.data.test_images,
                                                   split.data.test_mfcc))
        m.duration_s = round(time.perf_counter() - t0, 2)
        keras.backend.clear_session()
    probs = np.mean(probabilities, axis=0)
    classes = probs.argmax(axis=1)
    names = first.data.spec.class_names
    counts = {names[c]: int((classes == c).sum()) for c in range(len(names))}
    submission = write_submission(out_dir / "submission.csv", classes)
    record = {
        "study": name,
        "model": model_name,
        "rule": "epochs = the search trial's best epoch (validation accuracy peak), unscaled",
        "members": [asdict(m) for m in members],
        "ensemble": "mean of class probabilities" if len(members) > 1 else None,
        "data_path": str(data_dir.resolve()),
        "data_hash": first.data.data_hash,
        "test_rows": int(len(classes)),
        "predicted_class_counts": counts,
        "versions": _versions(),
        "duration_s": round(time.perf_counter() - started, 2),
    }
    record_path = out_dir / "refit.json"
    atomic_write_text(record_path, json.dumps(record, indent=2))
    return RefitOutcome(name, out_dir, submission, record_path, members, counts)
