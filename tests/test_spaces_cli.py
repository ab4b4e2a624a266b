"""`mmtune spaces` and `mmtune spaces show` through the command line's entry point."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest
from test_spaces import BAD  # tests/ is on sys.path (pytest's prepend import mode)

from mmtune.cli import main
from mmtune.locations import builtin_spaces_dir


def test_spaces_lists_one_line_per_space(capsys):
    assert main(["spaces"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["audio_mlp", "direct_mix", "image_cnn", "split"]
    assert all(len(line.split()) > 2 for line in lines)  # name, model, description


def test_show_prints_the_table_and_the_seed_size(capsys):
    assert main(["spaces", "show", "direct_mix"]) == 0
    out = capsys.readouterr().out
    for column in ("name", "type", "range/choices", "log", "default", "condition"):
        assert column in out
    assert "optimizer = sgd" in out
    assert "104 MFCC, 9 classes, pictures 64x64" in out
    assert "parameters: 1,400,105" in out


def test_show_takes_a_file(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.write_text((builtin_spaces_dir() / "audio_mlp.yaml").read_text())
    assert main(["spaces", "show", str(path)]) == 0
    assert "parameters: 9,481" in capsys.readouterr().out


def test_show_uses_the_datas_shapes(tmp_path, capsys, monkeypatch):
    @dataclass
    class Spec:
        n_mfcc: int = 20
        n_classes: int = 4

    fake = types.ModuleType("mmtune.data.contract")
    fake.read_tables = lambda data_dir: types.SimpleNamespace(spec=Spec())
    monkeypatch.setitem(sys.modules, "mmtune.data.contract", fake)
    assert main(["spaces", "show", "audio_mlp", "--data", str(tmp_path)]) == 0
    # 20*64+64 + 64*32+32 + 32*16+16 + 16*4+4
    assert f"parameters: {1344 + 2080 + 528 + 68:,}" in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_exit_2_with_file_and_key(case, tmp_path, capsys):
    text, key = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["spaces", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mmtune: error: ")
    assert str(path) in err and key in err
    assert "Traceback" not in err


def test_unknown_space_name_exits_2(capsys):
    assert main(["spaces", "show", "nope"]) == 2
    assert "direct_mix" in capsys.readouterr().err


def test_help_says_a_bare_name_is_a_builtin_space(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "a bare name is always the built-in space" in " ".join(capsys.readouterr().out.split())


def test_a_bad_default_is_refused_before_tensorflow_is_imported(tmp_path):
    import subprocess

    from test_spaces import CNN

    path = tmp_path / "bad.yaml"
    path.write_text(CNN.replace("low: 1, high: 3, default: 2", "low: 1, high: 6, default: 6"))
    code = (
        "import sys; from mmtune.cli import main; code = main(['spaces', 'show', sys.argv[1]]);"
        " print('tensorflow' in sys.modules, 'keras' in sys.modules); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stdout.strip() == "False False"
    assert str(path) in proc.stderr and "parameters.*.default" in proc.stderr
    assert "conv_blocks=6" in proc.stderr and "Traceback" not in proc.stderr
