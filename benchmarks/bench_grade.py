"""Grading benchmark (issue 28): what the sandbox and the judge cost.

For each notebook of the assignment (the instructor's, solutions in: an honest student who
finishes everything), in the smoke profile at one thread:

* baseline: a plain papermill run of the same notebook in a child process (no sandbox, no
  judge), its wall time and the peak memory of its process tree (resident, polled);
* graded: what ``course grade``'s ``grade_notebook`` does with it, by part: the run in its
  sandbox (namespaces, a user of its own, limits, the process tree watched) and the judge (a
  second sandbox, a contestant process, every visible and hidden case); wall time and peak
  memory (resident, of each part's processes, as the grader watches them).

Both read the trained references from the model cache (an empty cache is filled first by one
unmeasured run of each notebook). Target: the sandboxed run at most 1.1x the baseline per
student (all five notebooks, the sum); the judge's seconds are printed beside it (work a plain
run does not do: a second process that loads the student's code and answers every case). Run it
on a quiet machine.

    python benchmarks/bench_grade.py [--notebooks 02_lc_compression ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
from common import header

from course_lib.assign.grading import read_points, restore_checks
from course_lib.checkpoints import cache_dir
from course_lib.runs.grade import Rules, judge_submission, run_notebook
from course_lib.runs.runner import THREAD_VARIABLES
from course_lib.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
PLAIN = """
import sys, papermill
papermill.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], progress_bar=False,
                           parameters={"profile": "smoke", "output_dir": sys.argv[4]})
"""


def plain_run(notebook: Path, scratch: Path, threads: int) -> tuple[float, float]:
    """Seconds and peak memory (MiB, the tree's resident memory) of papermill on ``notebook``."""
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads)),
           "COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg"}  # fmt: skip
    command = [sys.executable, "-c", PLAIN, str(notebook), str(scratch / "executed.ipynb"),
               str(notebook.parent), str(scratch / "outputs")]  # fmt: skip
    start, peak = time.perf_counter(), 0.0
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    while process.poll() is None:
        try:
            family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
            peak = max(peak, sum(p.memory_info().rss for p in family if p.is_running()))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    if process.returncode:
        raise SystemExit(f"papermill failed on {notebook.name}")
    return time.perf_counter() - start, peak / 2**20


def graded_run(notebook: Path, scratch: Path, threads: int, points) -> dict:
    """What grading ``notebook`` as a submission costs, by part: the run in its sandbox and the
    judge (the same calls as ``grade_notebook``): seconds, peak memory (MiB), cases passed."""
    rules = Rules(ROOT / "notebooks", ROOT / "assignments" / "hidden_cases.py", Limits(),
                  threads=threads)  # fmt: skip
    original = nbformat.read(notebook, as_version=4)
    (scratch / "graded").mkdir()
    start = time.perf_counter()
    status, _, peak = run_notebook(restore_checks(original, original), scratch / "graded",
                                   notebook.stem, rules)  # fmt: skip
    ran = time.perf_counter() - start
    names = list(points.exercises.get(notebook.stem, {}))
    start = time.perf_counter()
    judged, judge_peak = judge_submission(original, original, names, rules)
    judging = time.perf_counter() - start
    cases = [v for vs in judged.verdicts.values() for v in vs]
    passed = f"{sum(v.passed for v in cases)}/{sum(len(v.cases) for v in cases)} cases"
    memory = max(peak, judge_peak) / 2**20
    return {"run_s": ran, "judge_s": judging, "graded_mib": memory, "graded": f"{status}, {passed}"}


def _graded(row: dict) -> float:
    return row["run_s"] + row["judge_s"]


def _line(row: dict) -> str:
    base = row["papermill_s"]
    return (
        f"{row['notebook']} | {base:.1f} | {row['run_s']:.1f} | {row['judge_s']:.1f} | "
        f"{_graded(row):.1f} | {_graded(row) / base:.2f}x | {row['run_s'] / base:.2f}x | "
        f"{row['papermill_mib']:.0f} | {row['graded_mib']:.0f} | {row['graded']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    points = read_points(ROOT / "assignments" / "points.yaml")
    stems = [*dict.fromkeys([*points.exercises, *points.questions])]
    parser.add_argument("--notebooks", nargs="+", default=stems)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    header("grading: sandbox and judge beside a plain papermill run (smoke profile)")
    if not any(cache_dir().rglob("*.pt")):
        print("the model cache is empty: one unmeasured run of each notebook trains its references")
        for stem in args.notebooks:
            with tempfile.TemporaryDirectory() as scratch:
                plain_run(ROOT / "notebooks" / f"{stem}.ipynb", Path(scratch), args.threads)
    rows = []
    print("notebook | papermill s | sandboxed run s | judge s | graded s | ratio | sandbox alone "
          "| papermill MiB | graded MiB | graded")  # fmt: skip
    for stem in args.notebooks:
        notebook = ROOT / "notebooks" / f"{stem}.ipynb"
        with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as graded:
            base_s, base_m = plain_run(notebook, Path(plain_dir), args.threads)
            row = {"notebook": stem, "papermill_s": base_s, "papermill_mib": base_m,
                   **graded_run(notebook, Path(graded), args.threads, points)}  # fmt: skip
        rows.append(row)
        print(_line(row))
    total = {key: sum(row[key] for row in rows) for key in ("papermill_s", "run_s", "judge_s")}
    total |= {key: max(row[key] for row in rows) for key in ("papermill_mib", "graded_mib")}
    print(_line({"notebook": "per student", **total, "graded": "(memory: the largest notebook)"}))
    alone, graded = total["run_s"] / total["papermill_s"], _graded(total) / total["papermill_s"]
    print(f"targets: the sandbox at most 1.10x papermill per student: {alone:.2f}x "
          f"({'met' if alone <= 1.1 else 'not met'}); with the judge: {graded:.2f}x")  # fmt: skip
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
