"""Refit: retrain chosen configurations on every labelled row and write the submission.

The epoch rule: a member trains for the latest of its evaluations' best epochs
(the epoch at which validation accuracy peaked, in the search trial and its
re-evaluations: ``Configuration.refit_epochs`` in :mod:`mmtune.ledger.evaluations`),
unscaled. Training on all labelled rows gives each epoch 25% more samples (and
steps) than the search's 80% training part, which already lengthens training in
step with the data.

The honest check acts. Before the refit, the same configuration is retrained
with the same rule on the training part alone, with a seed none of its
evaluations used, and its validation accuracy is compared with the
leaderboard's mean. A draw that falls below that figure by more than twice the
standard error of their difference (:func:`check_tolerance`) is followed by a
second draw, and the check is their mean. When that falls too, refit says so in
one line and moves to the next configuration of the leaderboard (up to
``candidates``); it refits the first that holds. A fallen configuration's check is
still a fresh measurement of it, so the next is tried only while its leaderboard
figure is above the best check of those that fell: one that claims less is not
expected to beat a configuration already measured at more (on the hard set, under
the tighter tolerance before this one, a leader claiming 0.950 checked at 0.915, and
the seed's network behind it, claiming 0.890, then held at 0.865 and was refitted:
0.930 held-out, where the leader's refit scores 0.973). When none holds, or
none left is worth trying, it refits the one whose check was best and writes the
warning in its output and in ``refit.json``.

Seeds are averaged by default. One refit of a short-trained network is one draw:
on the demo, six seeds of the same configuration scored 0.926-0.978 on the
held-out answers (mean 0.954, sd 0.022), while the mean probabilities of three
scored 0.979 (sd 0.010 over the 20 triples). So a single configuration is
refitted with ``SEED_ENSEMBLE`` seeds and written as one ``model.keras`` that
averages them (:mod:`mmtune.refit.ensemble`); ``--seeds 1`` refits one model.
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mmtune.atomic import atomic_folder, atomic_path, atomic_write_text, check_folder_target
from mmtune.data.trial_data import DataSource, SplitData
from mmtune.errors import LedgerError, MmtuneError
from mmtune.ledger.evaluations import (
    REFIT_EPOCHS_RULE,
    Configuration,
    check_tolerance,
    configurations,
)
from mmtune.ledger.records import DATA_HASH, DATA_PATH, EVALUATES, MODEL, RefitMember, RefitRecord
from mmtune.ledger.store import Ledger, latest_note
from mmtune.locations import study_dir

if TYPE_CHECKING:
    import keras
    import optuna

    from mmtune.model.training import TrainOptions

__all__ = [
    "SEED_ENSEMBLE",
    "RefitConfig",
    "RefitOutcome",
    "choose_members",
    "run_refit",
]

#: Seeds a refit of one configuration averages unless ``--seeds`` says otherwise.
SEED_ENSEMBLE = 3

#: Draws the honest check may take of a configuration: a second when the first falls.
CHECK_DRAWS = 2


@dataclass
class RefitConfig:
    results_dir: Path = Path("results")
    storage: str | None = None
    study: str | None = None
    trial: int | None = None  # None: the best trial
    ensemble: int = 1
    seeds: int | None = None  # None: SEED_ENSEMBLE for one configuration, 1 with an ensemble
    seed: int = 0
    check: bool = True
    candidates: int = 3  # configurations the honest check may try, in leaderboard order
    data_dir: Path | None = None
    force: bool = False
    precision: str = "float32"
    jit: str = "auto"
    feed: str = "pipeline"

    def member_seeds(self) -> int:
        """Seeds of each configuration: ``seeds`` when given, else ``SEED_ENSEMBLE`` for one
        configuration and 1 for an ensemble of several (which averages configurations)."""
        if self.seeds is not None:
            return self.seeds
        return SEED_ENSEMBLE if self.ensemble == 1 else 1


@dataclass
class RefitOutcome:
    study: str
    out_dir: Path
    submission: Path
    record: Path
    members: list[RefitMember] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    rejected: list[RefitMember] = field(default_factory=list)
    warning: str | None = None


def _member(config: Configuration, seed: int) -> RefitMember:
    epochs = config.refit_epochs
    if not epochs:
        raise LedgerError(f"trial {config.number} finished no epoch: nothing to refit")
    return RefitMember(
        config.number,
        dict(config.trial.params),
        epochs,
        seed,
        search_val_accuracy=config.mean,
        search_sd=config.sd,
        search_evals=max(config.n, 1),
        val_rows=config.val_rows,  # the check's tolerance follows from its draws
        search_seed_avg=config.seed_average,
        check_seeds=config.unused_seeds(CHECK_DRAWS, offset=seed),
    )


def ranked_candidates(study: optuna.Study, trial: int | None) -> list[Configuration]:
    """The configurations refit may use, in the order it tries them: ``trial``'s alone when
    given (a re-evaluation's number names the configuration it repeats), else the
    completed ones in leaderboard order."""
    from optuna.trial import TrialState

    ranked = configurations(study)
    complete = [c for c in ranked if c.complete]
    if trial is None:
        if not complete:
            raise LedgerError(
                f"study {study.study_name!r} has no completed trial yet: run `mmtune search` first"
            )
        return complete
    found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
    if not found:
        raise LedgerError(f"study {study.study_name!r} has no trial {trial}")
    target = found[0].user_attrs.get(EVALUATES)
    number = int(target) if target is not None else trial
    config = next(c for c in ranked if c.number == number)
    if config.trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        raise LedgerError(
            f"trial {number} is {config.trial.state.name}: only completed or "
            "pruned trials can be refitted"
        )
    return [config] + [c for c in complete if c.number != number]


def choose_members(
    study: optuna.Study, trial: int | None, ensemble: int, seeds: int, seed: int
) -> list[RefitMember]:
    """The members to refit: the best configuration (or ``trial``'s), the top ``ensemble``,
    or ``seeds`` seeds of one."""
    if ensemble < 1 or seeds < 1:
        raise MmtuneError(
            f"Expected --ensemble and --seeds of at least 1. "
            f"Received: ensemble={ensemble}, seeds={seeds}"
        )
    if ensemble > 1 and seeds > 1:
        raise MmtuneError(
            "--ensemble K (top K configurations) and --seeds K (K seeds of one) "
            "do not combine: choose one"
        )
    chosen = ranked_candidates(study, trial)[:ensemble]
    if ensemble > len(chosen):
        raise LedgerError(
            f"--ensemble {ensemble}: study {study.study_name!r} has only "
            f"{len(chosen)} completed trial(s)"
        )
    members = [_member(c, seed) for c in chosen]
    if seeds > 1:
        first = members[0]
        members = [dataclasses.replace(first, seed=seed + k) for k in range(seeds)]
    return members


def _val_confusion(model: keras.Model, split: SplitData) -> tuple[list[list[int]], list[str]]:
    """The check model's confusion matrix on the validation part, and the class names."""
    from mmtune.refit.prediction import predict_probabilities

    images, mfcc, labels = split.part("val")
    predicted = predict_probabilities(model, images, mfcc).argmax(axis=1)
    names = list(split.data.spec.class_names)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(counts, (np.asarray(labels, dtype=np.int64), predicted), 1)
    return counts.tolist(), names


def _open_study(cfg: RefitConfig, log: Callable[[str], None]) -> tuple[optuna.Study, str, str]:
    """``(study, its name, its model family)``."""
    study, name, was_latest = Ledger(cfg.results_dir, cfg.storage).load_study(cfg.study)
    if was_latest:
        log(latest_note(name))
    model_name = study.user_attrs.get(MODEL)
    if not model_name:
        raise LedgerError(f"study {name!r} records no model: it was not written by mmtune search")
    return study, name, str(model_name)


def _data_source(
    cfg: RefitConfig, study: optuna.Study, name: str, members: list[RefitMember]
) -> tuple[DataSource, SplitData]:
    """The study's data, checked (the same content hash unless --force)."""
    meta = study.user_attrs
    data_dir = Path(cfg.data_dir or meta.get(DATA_PATH, ""))
    if not data_dir.is_dir():
        raise MmtuneError(f"the study's data directory {data_dir} is gone: give --data DIR")
    source = DataSource(data_dir)
    first = source.get(min(_resolution(m) for m in members))  # the data check, before training
    if first.data.data_hash != meta.get(DATA_HASH) and not cfg.force:
        raise MmtuneError(
            f"the data in {data_dir} (hash {first.data.data_hash[:12]}) is not the data study "
            f"{name!r} was searched on (hash {str(meta.get(DATA_HASH))[:12]}, "
            f"{meta.get(DATA_PATH)}); give the same data, or --force to refit anyway"
        )
    return source, first


def _resolution(m: RefitMember) -> int:
    from mmtune.model.networks import SEED_RESOLUTION

    return int(m.params.get("resolution", SEED_RESOLUTION))


class _Trainer:
    """Trains members for the check (training part) and the refit (every labelled row)."""

    def __init__(self, cfg: RefitConfig, model_name: str, source: DataSource) -> None:
        from mmtune.keras_backend import jit_setting
        from mmtune.model.training import TrainOptions

        self.model_name, self.source = model_name, source
        # Fixed epochs per member, no early stopping: the refit's rule, checked as it runs.
        self.options = TrainOptions(epochs=0, jit_compile=jit_setting(cfg.jit), feed=cfg.feed)

    def _options(self, m: RefitMember) -> TrainOptions:
        return dataclasses.replace(self.options, epochs=m.epochs)

    def check(self, m: RefitMember) -> None:
        """Retrain ``m`` on the training part with the refit's rule and seeds no evaluation
        used; record what it scores. One draw that falls is not yet a verdict (on 1,000 rows
        a configuration with sd 0.012 over three seeds drew 0.835 against its 0.898): a
        second is taken, and the check is their mean."""
        for seed in m.check_seeds:
            accuracy, confusion = self._draw(m, seed)
            m.check_draws.append(accuracy)
            m.val_confusion = _added(m.val_confusion, confusion)
            m.check_val_accuracy = statistics.fmean(m.check_draws)
            if m.search_val_accuracy is not None:
                m.tolerance = round(
                    check_tolerance(
                        m.search_val_accuracy,
                        m.search_evals,
                        m.search_sd,
                        m.val_rows,
                        m.check_draws,
                    ),
                    4,
                )
            m.check_holds = (
                m.search_val_accuracy is None
                or m.check_val_accuracy >= m.search_val_accuracy - m.tolerance
            )
            if m.check_holds:
                break
        m.check_seeds = m.check_seeds[: len(m.check_draws)]

    def _draw(self, m: RefitMember, seed: int) -> tuple[float, list[list[int]]]:
        """One check model's validation accuracy and confusion matrix."""
        from mmtune.keras_backend import clear_keras_session
        from mmtune.model.training import train_model

        split = self.source.get(_resolution(m))
        result = train_model(self.model_name, m.params, split, self._options(m), seed=seed)
        confusion, m.val_class_names = _val_confusion(result.model, split)
        clear_keras_session()
        return float(result.curves["val_accuracy"][-1]), confusion

    def full(self, m: RefitMember) -> keras.Model:
        from mmtune.model.training import train_model

        return train_model(
            self.model_name,
            m.params,
            self.source.get(_resolution(m)),
            self._options(m),
            seed=m.seed,
            full=True,
        ).model


def _added(total: list[list[int]] | None, counts: list[list[int]]) -> list[list[int]]:
    """Two confusion matrices' counts added (``counts`` alone when there is no total yet)."""
    if total is None:
        return counts
    return (np.asarray(total) + np.asarray(counts)).tolist()


def _check_line(m: RefitMember) -> str:
    draws = ", then ".join(
        f"{accuracy:.4f} (seed {seed})" for accuracy, seed in zip(m.check_draws, m.check_seeds)
    )
    if len(m.check_draws) > 1:
        draws += f": mean {m.check_val_accuracy:.4f}"
    if m.search_val_accuracy is None:
        return f"honest check, trial {m.trial}: val_accuracy {draws}"
    figure = (
        f"{m.search_val_accuracy:.4f} (sd {m.search_sd:.4f} over {m.search_evals} evaluations)"
        if m.search_sd is not None
        else f"{m.search_val_accuracy:.4f}"
    )
    verdict = (
        f"holds (within {m.tolerance:.3f})"
        if m.check_holds
        else f"FALLS more than {m.tolerance:.3f} below"
    )
    return (
        f"honest check, trial {m.trial}: {m.epochs} epochs on the training part give "
        f"val_accuracy {draws}; the leaderboard's {figure}: {verdict}"
    )


def _measured_above(
    config: Configuration, fallen: list[RefitMember], places: int
) -> list[RefitMember]:
    """The fallen configurations whose checks reach ``config``'s leaderboard figure, when
    there are enough of them to fill the ``places`` left (else none): checking ``config``
    could not then give a better member than those already measured."""
    if config.mean is None:
        return []
    reach = [m for m in fallen if (m.check_val_accuracy or 0.0) >= config.mean]
    return reach if len(reach) >= places else []


def _checked_members(
    cfg: RefitConfig, study: optuna.Study, trainer: _Trainer, log: Callable[[str], None]
) -> tuple[list[RefitMember], list[RefitMember], str | None]:
    """``(members that held, members the check rejected, warning)``.

    Candidates are tried in leaderboard order (only the named one with ``--trial`` and no
    ensemble) until the ensemble's places are filled by configurations whose check holds;
    at most ``cfg.candidates - 1`` rejections are replaced, and none by a configuration
    whose leaderboard figure the rejected ones' checks already reach. When too few hold, the
    best checked of the rejected fill the places and the warning says so.
    """
    wanted = cfg.ensemble
    pool = ranked_candidates(study, cfg.trial)
    if cfg.trial is not None and wanted == 1:
        pool = pool[:1]
    pool = pool[: wanted + max(cfg.candidates, 1) - 1]
    held: list[RefitMember] = []
    rejected: list[RefitMember] = []
    for config in pool:
        if len(held) == wanted:
            break
        if ahead := _measured_above(config, rejected, wanted - len(held)):
            log(
                f"trial {config.number}, the next on the leaderboard, claims "
                f"{config.mean:.4f}: no more than the check of trial(s) "
                f"{', '.join(str(m.trial) for m in ahead)}, so no configuration left is "
                "worth trying"
            )
            break
        if held or rejected:
            log(f"trying trial {config.number}, the next on the leaderboard")
        m = _member(config, cfg.seed)
        trainer.check(m)
        log(_check_line(m))
        (held if m.check_holds else rejected).append(m)
        if not m.check_holds:
            log(f"trial {m.trial} does not hold its figure")
    warning = None
    if len(held) < wanted:
        fill = sorted(rejected, key=lambda m: -(m.check_val_accuracy or 0.0))[: wanted - len(held)]
        rejected = [m for m in rejected if m not in fill]
        held += fill
        warning = (
            f"WARNING: {len(fill)} of {wanted} refitted configuration(s) fell below their "
            f"leaderboard figure in the honest check (trial(s) "
            f"{', '.join(str(m.trial) for m in fill)}; best check kept): expect the "
            "submission to score below the leaderboard"
        )
        log(warning)
    seeds = cfg.member_seeds()
    first = held[0]
    if seeds > 1 and first.search_seed_avg is not None:
        log(
            f"the average of {seeds} seeds: expect about {first.search_seed_avg:.4f} on the "
            f"validation part (trial {first.trial}'s {first.search_evals} evaluations, "
            "probabilities averaged), from a model trained on 80% of the rows"
        )
    if seeds > 1:  # the other seeds share the first's check: its confusion matrix is shown once
        held = [first] + [
            dataclasses.replace(
                first, val_confusion=None, val_class_names=None, seed=first.seed + k
            )
            for k in range(1, seeds)
        ]
    return held, rejected, warning


def _save_models(
    models: list[keras.Model], members: list[RefitMember], out_dir: Path, say: Callable[[str], None]
) -> list[tuple[keras.Model, RefitMember]]:
    """One ``model.keras`` (several members averaged in one model when they take the same
    inputs), else one file per member, into ``out_dir`` (the refit's staging folder: an
    earlier refit's files are not there); each member records its file. Returns each saved
    model with a member whose resolution it takes."""
    from mmtune.refit.ensemble import averaging_model, same_inputs

    if len(models) == 1 or same_inputs(models):
        model = models[0]
        if len(models) > 1:
            names = [f"member_{k + 1}_trial{m.trial}_seed{m.seed}" for k, m in enumerate(members)]
            model = averaging_model(models, names)
            say(f"model.keras averages the class probabilities of the {len(models)} members")
        saved = [(model, members[0], "model.keras")]
    else:  # members at other resolutions: a file each, averaged by the submission
        saved = [
            (model, m, f"model_{k + 1}_trial{m.trial}_seed{m.seed}.keras")
            for k, (m, model) in enumerate(zip(members, models))
        ]
    for model, _, file in saved:
        with atomic_path(out_dir / file, suffix=".keras") as tmp:
            model.save(str(tmp))
    for k, m in enumerate(members):
        m.model_file = saved[0][2] if len(saved) == 1 else saved[k][2]
    return [(model, m) for model, m, _ in saved]


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in (
        "mmtune",
        "tensorflow",
        "jax",
        "torch",
        "keras",
        "keras-tuner",
        "optuna",
        "numpy",
    ):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_refit(cfg: RefitConfig, log: Callable[[str], None] | None = None) -> RefitOutcome:
    """Check, then refit the chosen members, average their probabilities, write model(s),
    submission and record."""
    from mmtune import keras_backend
    from mmtune.keras_backend import clear_keras_session, set_precision

    keras_backend.enable_determinism()  # first: JAX reads it as its devices start
    set_precision(cfg.precision)

    from mmtune.refit.prediction import predict_probabilities, write_submission

    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    started = time.perf_counter()
    study, name, model_name = _open_study(cfg, say)
    out_dir = study_dir(cfg.results_dir, name) / "refit"  # a ledger's odd name: refused here
    check_folder_target(out_dir)  # a file of the user's there: refused before any training
    members = choose_members(study, cfg.trial, cfg.ensemble, cfg.member_seeds(), cfg.seed)
    source, first = _data_source(cfg, study, name, members)
    trainer = _Trainer(cfg, model_name, source)
    rejected: list[RefitMember] = []
    warning = None
    if cfg.check:
        members, rejected, warning = _checked_members(cfg, study, trainer, say)
    models = []
    for m in members:
        t0 = time.perf_counter()
        say(
            f"refitting trial {m.trial} (seed {m.seed}) on all {len(first.data.train_labels)} "
            f"labelled rows for {m.epochs} epochs"
        )
        models.append(trainer.full(m))
        m.duration_s = round(time.perf_counter() - t0, 2)
        clear_keras_session()
    # The model(s), the submission and the record go into a staging folder that replaces
    # refit/ whole: a reader (predict, report) never sees a new model beside an old record.
    with atomic_folder(out_dir) as staging:
        probabilities = []
        for model, m in _save_models(models, members, staging, say):  # the submission: what
            data = source.get(_resolution(m)).data  # the saved files predict
            probabilities.append(predict_probabilities(model, data.test_images, data.test_mfcc))
        classes = np.mean(probabilities, axis=0).argmax(axis=1)
        names = first.data.spec.class_names
        counts = {names[c]: int((classes == c).sum()) for c in range(len(names))}
        write_submission(staging / "submission.csv", classes)
        record = _record(name, model_name, members, rejected, warning, source, first)
        record.test_rows = int(len(classes))
        record.predicted_class_counts = counts
        record.duration_s = round(time.perf_counter() - started, 2)
        atomic_write_text(staging / "refit.json", record.to_json())
    submission, record_path = out_dir / "submission.csv", out_dir / "refit.json"
    return RefitOutcome(name, out_dir, submission, record_path, members, counts, rejected, warning)


def _record(
    name: str,
    model_name: str,
    members: list[RefitMember],
    rejected: list[RefitMember],
    warning: str | None,
    source: DataSource,
    first: SplitData,
) -> RefitRecord:
    """``refit.json``'s record, but for what the submission adds (rows, counts, time)."""
    from mmtune import keras_backend

    return RefitRecord(
        study=name,
        model=model_name,
        rule=REFIT_EPOCHS_RULE,
        members=members,
        rejected_by_check=rejected,
        warning=warning,
        ensemble="mean of class probabilities" if len(members) > 1 else None,
        data_path=str(source.data_dir.resolve()),
        data_hash=first.data.data_hash,
        backend=keras_backend.name(),
        versions=_versions(),
    )
