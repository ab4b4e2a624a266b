"""The synthetic demo data set: layout, determinism, atomic write, CLI, learnability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mmtune.cli import main
from mmtune.data import demo
from mmtune.data.demo import CLASS_NAMES, ensure_demo, mfcc, write_demo
from mmtune.errors import MmtuneError

TINY = dict(n_train=36, n_test=9, image_size=32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_demo(tmp_path_factory.mktemp("demo") / "data", seed=1, **TINY)


def test_layout_and_columns(tiny):
    train = pd.read_csv(tiny / "data_train.csv")
    test = pd.read_csv(tiny / "data_test_novt.csv")
    mfccs = [f"mfcc_{j}" for j in range(1, 105)]
    assert list(train.columns) == ["IMAGE", *mfccs, "CLASS"]
    assert list(test.columns) == ["IMAGE", *mfccs]
    assert len(train) == 36 and len(test) == 9
    assert train.IMAGE[0] == "trainimg_00000.png" and test.IMAGE[8] == "testimg_00008.png"
    assert train.CLASS.dtype.kind == "i"
    assert sorted(train.CLASS.unique()) == list(range(9))
    assert train.CLASS.value_counts().tolist() == [4] * 9
    assert np.isfinite(train[mfccs].to_numpy()).all() and np.isfinite(test[mfccs].to_numpy()).all()
    assert (tiny / "class_names.txt").read_text().splitlines() == list(CLASS_NAMES)
    assert "synthetic" in (tiny / "README.txt").read_text().lower()


def test_pictures_are_rgb_of_the_asked_size(tiny):
    names = pd.concat(
        [pd.read_csv(tiny / f).IMAGE for f in ("data_train.csv", "data_test_novt.csv")]
    )
    for name in names:
        with Image.open(tiny / name) as img:
            assert img.format == "PNG" and img.mode == "RGB" and img.size == (32, 32)


def test_other_mfcc_counts(tmp_path):
    d = write_demo(tmp_path / "d", n_train=9, n_test=1, image_size=16, n_mfcc=20)
    assert pd.read_csv(d / "data_train.csv").shape == (9, 22)
    assert mfcc(np.zeros(16000), 7).shape == (7,)


def test_same_seed_same_bytes(tiny, tmp_path):
    again = write_demo(tmp_path / "again", seed=1, **TINY)
    other = write_demo(tmp_path / "other", seed=2, **TINY)
    for name in ("data_train.csv", "data_test_novt.csv"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes()
        assert (other / name).read_bytes() != (tiny / name).read_bytes()
    assert (again / "trainimg_00003.png").read_bytes() == (tiny / "trainimg_00003.png").read_bytes()


def _fail_after(monkeypatch, rows: int) -> None:
    real, calls = demo.mfcc, [0]

    def failing(*a, **kw):
        calls[0] += 1
        if calls[0] > rows:
            raise RuntimeError("simulated crash")
        return real(*a, **kw)

    monkeypatch.setattr(demo, "mfcc", failing)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    _fail_after(monkeypatch, 20)
    with pytest.raises(RuntimeError, match="simulated"):
        write_demo(tmp_path / "data", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_keeps_the_old_set(tiny, tmp_path, monkeypatch):
    out = write_demo(tmp_path / "data", seed=1, **TINY)
    before = (out / "data_train.csv").read_bytes()
    _fail_after(monkeypatch, 20)
    with pytest.raises(RuntimeError):
        write_demo(out, seed=5, overwrite=True, **TINY)
    assert (out / "data_train.csv").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_refuses_a_non_empty_dir_even_with_overwrite_unless_it_is_a_demo_set(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        write_demo(tmp_path / "d", **TINY)
    with pytest.raises(MmtuneError, match="no .mmtune-demo marker"):
        write_demo(tmp_path / "d", overwrite=True, **TINY)
    assert (tmp_path / "d" / "mine.txt").read_text() == "keep"
    write_demo(tmp_path / "e", **TINY)
    write_demo(tmp_path / "e", overwrite=True, **{**TINY, "seed": 4})  # a demo set: replaced
    with pytest.raises(ValueError, match="n_train=5"):
        write_demo(tmp_path / "e", n_train=5)


def test_ensure_demo_makes_once_then_reuses(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MMTUNE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(demo, "DEFAULT_TRAIN", 18)
    monkeypatch.setattr(demo, "DEFAULT_TEST", 9)
    monkeypatch.setattr(demo, "DEFAULT_IMAGE_SIZE", 16)
    first = ensure_demo()
    assert first == tmp_path / "demo" and "(first use)" in capsys.readouterr().err
    stamp = (first / "data_train.csv").stat().st_mtime_ns
    assert ensure_demo() == first and capsys.readouterr().err == ""
    assert (first / "data_train.csv").stat().st_mtime_ns == stamp
    monkeypatch.setattr(demo, "GENERATOR_VERSION", demo.GENERATOR_VERSION + 1)
    ensure_demo()
    assert "(first use)" in capsys.readouterr().err


def test_cli_writes_then_refuses_then_forces(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["data", "demo", "--out", str(out), "--train", "18", "--test", "9", "--image-size", "16"]
    assert main(argv) == 0
    assert "18 labelled rows" in capsys.readouterr().out
    assert len(pd.read_csv(out / "data_train.csv")) == 18
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and "Traceback" not in err
    assert main([*argv, "--seed", "3", "--force"]) == 0
    with pytest.raises(SystemExit) as refused:  # at the parser, with the range it takes
        main(["data", "demo", "--out", str(tmp_path / "x"), "--train", "4"])
    assert refused.value.code == 2
    assert "argument --train: Expected an integer between 9" in capsys.readouterr().err


def test_each_modality_alone_is_clearly_below_both(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    d = write_demo(tmp_path / "d", n_train=180, n_test=9, image_size=64, seed=0, difficulty="easy")
    df = pd.read_csv(d / "data_train.csv")
    audio, y = df.filter(like="mfcc_").to_numpy(), df.CLASS.to_numpy()
    pixels = (
        np.stack(
            [np.asarray(Image.open(d / n).resize((16, 16), Image.BOX)) for n in df.IMAGE]
        ).reshape(len(df), -1)
        / 255.0
    )
    cv = StratifiedKFold(4, shuffle=True, random_state=0)

    def score(features):
        # tol 1e-3: the same scores to 0.6 points, in a third of the time (lbfgs's iterations)
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, tol=1e-3, max_iter=1000))
        return cross_val_score(model, features, y, cv=cv).mean()

    a, p, both = score(audio), score(pixels), score(np.hstack([audio, pixels]))
    assert 0.4 < a < 0.85 and 0.4 < p < 0.85, (a, p, both)
    assert both > 0.9 and both > max(a, p) + 0.15, (a, p, both)


def _frames(d, n):
    df = pd.read_csv(d / "data_train.csv")
    return [np.asarray(Image.open(d / name), np.int16) for name in df.IMAGE[:n]], df


def test_difficulty_knobs_change_what_they_say(tmp_path):
    """With every variation off, the frames of one video are the same picture; each knob then
    brings its own variation, and more videos bring more distinct scenes."""
    still = demo.Difficulty(videos=1, cue=0.0, camera=0.0, light=0.0, noise=0.0)
    d = write_demo(tmp_path / "still", n_train=18, n_test=2, image_size=32, difficulty=still)
    frames, df = _frames(d, 18)
    by_class = {}
    for frame, label in zip(frames, df.CLASS):
        by_class.setdefault(label, []).append(frame)
    assert all(np.array_equal(f[0], f[1]) for f in by_class.values()), "one video, no jitter"
    for knob in ("noise", "light", "camera"):
        varied = demo.Difficulty(**{**still.__dict__, knob: 2.0})
        d = write_demo(tmp_path / knob, n_train=18, n_test=2, image_size=32, difficulty=varied)
        frames, df = _frames(d, 18)
        pairs = {}
        for frame, label in zip(frames, df.CLASS):
            pairs.setdefault(label, []).append(frame)
        assert all(not np.array_equal(f[0], f[1]) for f in pairs.values()), knob
    quiet = write_demo(tmp_path / "quiet", n_train=9, n_test=1, image_size=16, difficulty=still)
    noisy = write_demo(
        tmp_path / "noisy",
        n_train=9,
        n_test=1,
        image_size=16,
        difficulty=demo.Difficulty(
            videos=1, cue=0.0, camera=0.0, light=0.0, noise=0.0, sound_noise=2.0
        ),
    )
    a = pd.read_csv(quiet / "data_train.csv").filter(like="mfcc_").to_numpy()
    b = pd.read_csv(noisy / "data_train.csv").filter(like="mfcc_").to_numpy()
    assert np.abs(a - b).mean() > 1.0, "sound noise changes the MFCCs"


def test_presets_are_graded_and_the_answers_are_written(tmp_path):
    names = list(demo.DIFFICULTIES)
    assert names[:2] == ["easy", "demo"] and "hard" in names
    easy, hard = demo.DIFFICULTIES["easy"], demo.DIFFICULTIES["hard"]
    for knob in ("videos", "camera", "light", "noise", "palette", "sound_noise"):
        assert getattr(hard, knob) > getattr(easy, knob), knob
    assert hard.cue < easy.cue
    d = write_demo(tmp_path / "d", n_train=18, n_test=7, image_size=16, difficulty="hard")
    answers = pd.read_csv(d / demo.ANSWERS_CSV)
    assert list(answers.columns) == ["id", "CLASS"] and answers.id.tolist() == list(range(7))
    assert answers.CLASS.between(0, 8).all()
    assert "videos=10" in (d / "README.txt").read_text()
    with pytest.raises(ValueError, match="Expected a difficulty among"):
        write_demo(tmp_path / "x", n_train=9, n_test=1, image_size=16, difficulty="brutal")
    with pytest.raises(ValueError, match="Expected cue in"):
        demo.Difficulty(cue=1.5)


def test_the_rows_painted_by_several_processes_are_the_same_files(tmp_path):
    """``workers`` changes who paints each row, never what it holds: every file of the set is
    byte-identical (competition-sized sets are made on every core)."""
    from mmtune.data.demo import write_demo

    one = write_demo(tmp_path / "one", n_train=20, n_test=7, image_size=16, workers=1)
    two = write_demo(tmp_path / "two", n_train=20, n_test=7, image_size=16, workers=2)
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir()) and len(names) > 27
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
