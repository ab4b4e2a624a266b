"""Peak resident memory of a search at the competition's size.

    python benchmarks/memory.py                        # 13,802 + 3,450 rows, 256x256 PNGs
    python benchmarks/memory.py --resolution 128       # the same, trials at 128 px
    python benchmarks/memory.py --mmtune /path/to/other/checkout   # another version, same data
    python benchmarks/memory.py --trials 8 --tuner random    # a whole search, Keras Tuner's

Writes ``--pictures`` distinct 256x256 demo pictures once and gives every one of the 17,252
rows its own file name (hard links, inside the data directory), so the cache build decodes
every row as with real data. Then runs ``mmtune search --trials N --max-epochs 1`` in a fresh
process with a cold picture cache, sampling the resident memory of the process and its children
every 0.2 s. One trial: the seed's network alone (no size limits, no re-evaluation); more: a
search as a user runs it (its size limits, the finalists' re-evaluations). Prints the peak, the time, the cache's
size and how often the search restarted itself to stay under ``--max-memory-mb``
(``--timeline``: also the memory over time, to see which phase holds the peak).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search import _tree_rss_mb


def make_data(out: Path, rows: int, test: int, pictures: int) -> Path:
    """A data set of ``rows`` + ``test`` rows over ``pictures`` distinct demo pictures."""
    from mmtune.data.demo import write_demo

    if (out / "data_test_novt.csv").is_file():
        return out
    seed_set = out.with_name(out.name + "-pictures")
    if not (seed_set / "data_train.csv").is_file():
        write_demo(seed_set, n_train=pictures, n_test=9, image_size=256, overwrite=True)
    out.mkdir(parents=True, exist_ok=True)
    lines = (seed_set / "data_train.csv").read_text().splitlines()
    header, body = lines[0], lines[1:]

    def table(prefix: str, n: int, with_class: bool) -> str:
        rows_out = [header if with_class else header.rsplit(",", 1)[0]]
        for i in range(n):
            source = body[i % len(body)].split(",")
            name = f"{prefix}_{i:05d}.png"
            os.link(seed_set / source[0], out / name)
            cells = [name, *source[1:]] if with_class else [name, *source[1:-1]]
            rows_out.append(",".join(cells))
        return "\n".join(rows_out) + "\n"

    (out / "data_train.csv").write_text(table("trainimg", rows, True))
    (out / "data_test_novt.csv").write_text(table("testimg", test, False))
    shutil.copy(seed_set / "class_names.txt", out / "class_names.txt")
    return out


def measure(
    data: Path,
    resolution: int | None,
    checkout: Path | None,
    timeline: bool = False,
    trials: int = 1,
    tuner: str | None = None,
    max_memory_mb: int = 1500,
    finalists: int | None = None,
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="mmtune-memory-"))
    space = "direct_mix"
    if resolution:
        text = Path(__file__).resolve().parent.parent / "search_spaces" / "direct_mix.yaml"
        spec = text.read_text().replace("    default: 64\n", f"    default: {resolution}\n")
        space = str(work / "direct_mix_at.yaml")
        Path(space).write_text(spec)
    env = dict(os.environ, MMTUNE_CACHE_DIR=str(work / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    if checkout:
        env["PYTHONPATH"] = str(checkout)
    cmd = [
        sys.executable,
        "-m",
        "mmtune",
        "search",
        "--space",
        space,
        "--data",
        str(data),
        "--results",
        str(work / "results"),
        "--trials",
        str(trials),
        "--max-epochs",
        "1",
    ]
    if trials == 1:  # the seed's network alone, as in the earlier one-trial rows
        cmd += ["--max-cost", "0", "--max-params", "0"]
    if tuner:
        cmd += ["--tuner", tuner]
    if checkout is None:
        cmd += ["--max-memory-mb", str(max_memory_mb)]
    if checkout is None and trials == 1:  # one training (older versions have no --finalists)
        cmd += ["--finalists", "0"]
    elif finalists is not None:
        cmd += ["--finalists", str(finalists)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=str(checkout or work),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0.0]

    def sample() -> None:
        shown = 0.0
        while proc.poll() is None:
            now = _tree_rss_mb(proc.pid)
            peak[0] = max(peak[0], now)
            if timeline and abs(now - shown) > 40:  # the curve, where it moves
                print(f"{time.perf_counter() - started:7.1f} s  {now:6.0f} MB", flush=True)
                shown = now
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"search failed:\n{err[-3000:]}")
    cache = sum(p.stat().st_size for p in (work / "cache").rglob("*") if p.is_file())
    shutil.rmtree(work, ignore_errors=True)
    return {
        "peak_rss_mb": round(peak[0], 1),
        "restarts": err.count("restarting the search process"),
        "wall_s": round(time.perf_counter() - started, 1),
        "cache_mb": round(cache / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=13_802)
    parser.add_argument("--test", type=int, default=3_450)
    parser.add_argument("--pictures", type=int, default=450)
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--tuner", default=None, help="mmtune's --tuner (default: its own)")
    parser.add_argument("--max-memory-mb", type=int, default=1500, help="the search's ceiling")
    parser.add_argument(
        "--finalists", type=int, default=None, help="the search's --finalists (default: its own)"
    )
    parser.add_argument("--mmtune", type=Path, default=None, help="checkout to run instead")
    parser.add_argument("--work", default="/tmp/mmtune-memory-data")
    parser.add_argument(
        "--timeline", action="store_true", help="print the resident memory as it moves"
    )
    args = parser.parse_args()
    data = make_data(
        Path(args.work) / f"data-{args.rows}-{args.test}", args.rows, args.test, args.pictures
    )
    print(
        measure(
            data,
            args.resolution,
            args.mmtune,
            args.timeline,
            args.trials,
            args.tuner,
            args.max_memory_mb,
            args.finalists,
        )
    )


if __name__ == "__main__":
    main()
