"""Wall time of one 4-run sweep on a local Dask cluster: 1 worker whose runs get every core (the
baseline) vs 2 workers running side by side with the cores split between them. A warm-up run
first fills the reference-model cache, so both sweeps find the same cache.

    nice -n 10 python benchmarks/bench_sweep.py [--notebook 01_training] [--profile smoke]
        [--axis test_subset --values 1000 1200 1400 1600] [--notebooks-dir notebooks]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml
from common import header

from course_lib.runs.runner import execute
from course_lib.runs.sweep import run_notebook_sweep
from course_lib.runs.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[1]


def timed_sweep(sweep, workers: int) -> tuple[float, int]:
    """Seconds for the whole sweep in a fresh runs folder, and how many runs passed."""
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        table = run_notebook_sweep(
            sweep,
            runs,
            workers=workers,
            threads_per_run=max(1, (os.cpu_count() or 1) // workers),
            say=lambda line: None,
        )
        return time.perf_counter() - start, int((table["status"] == "ok").sum())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="01_training")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--axis", default="test_subset", help="the parameter the 4 runs vary")
    parser.add_argument("--values", nargs=4, default=["1000", "1200", "1400", "1600"])
    parser.add_argument("--notebooks-dir", type=Path, default=ROOT / "notebooks")
    args = parser.parse_args(argv)
    header(f"4-run sweep of {args.notebook} ({args.profile}), 1 worker vs 2 workers")

    with tempfile.TemporaryDirectory() as scratch:
        grid = Path(scratch) / "bench.yaml"
        values = [yaml.safe_load(v) for v in args.values]
        spec = {"notebook": args.notebook, "profile": args.profile, "grid": {args.axis: values}}
        grid.write_text(yaml.safe_dump(spec))
        sweep = load_sweep(grid, args.notebooks_dir)
        start = time.perf_counter()
        warm = execute(sweep.notebook, Path(scratch) / "warm-up", {"profile": args.profile})
        print(f"warm-up run: {warm.headline()} in {time.perf_counter() - start:.1f} s")
        baseline, passed_1 = timed_sweep(sweep, workers=1)
        print(f"1 worker x {os.cpu_count()} threads (baseline): {baseline:7.1f} s, {passed_1}/4 ok")
        parallel, passed_2 = timed_sweep(sweep, workers=2)
        threads = max(1, (os.cpu_count() or 1) // 2)
        print(f"2 workers x {threads} threads:               {parallel:7.1f} s, {passed_2}/4 ok")
        print(f"speed-up of 2 workers over 1: {baseline / parallel:.2f}x")
    return 0 if passed_1 == passed_2 == 4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
