"""``course grade SUBMISSIONS_DIR``: every student's notebooks run and judged, each in a sandbox.

SUBMISSIONS_DIR holds one folder per student with their notebooks
(``alice/02_lc_compression.ipynb``, ...). For each notebook:

1. the run: a copy of the submission, its check cells put back as the student edition has them
   (``assign.grading.restore_checks``), runs under papermill in a sandbox of its own
   (``assign.sandbox``: no network, a user of its own, the grader's folders hidden, memory,
   CPU-time and wall-clock limits): the smoke profile, every cell run even after one raised.
   It gives the figures, the fallbacks and the errors of the feedback;
2. the score: the judge (``assign.judge``) runs the notebook's definitions in another fresh
   sandbox and the exercises' visible and hidden cases against them from the grader's own
   process; nothing the notebook displayed counts.

The results go to ``GRADES_DIR/<student>/<notebook>/`` (``result.json``, the executed notebook,
the figures in ``outputs/``); a notebook whose result is there for the same submission, the same
instructor notebook and the same hidden cases is not run again. Every submission's digest is
taken before and after, and a change is reported. The reports are ``runs/grade_report.py``'s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import nbformat

import course_lib
from course_lib import paths
from course_lib.assign.edition import is_exercise, marks
from course_lib.assign.grading import Outcome, Points, answers, read_outcome, restore_checks
from course_lib.assign.hidden import load_hidden
from course_lib.assign.judge import CASE_TIMEOUT, judge
from course_lib.checkpoints import cache_dir
from course_lib.data import DEFAULT_DATA
from course_lib.errors import CourseError
from course_lib.headless import NOTEBOOK_RAISED
from course_lib.runs.runner import THREAD_VARIABLES
from course_lib.sandbox import Limits, Sandbox

RESULT = "result.json"
KEPT_NOTEBOOK = 64 * 2**20  # bytes of an executed notebook kept for the feedback
KEPT_OUTPUTS = 64 * 2**20  # bytes of figures kept


@dataclass(frozen=True)
class Rules:
    """How submissions are graded: the instructor's notebooks and hidden cases, the limits,
    the Jupyter kernel, and the folders no submission may see (besides the instructor's)."""

    instructor_dir: Path
    hidden_path: Path
    limits: Limits = field(default_factory=Limits)
    kernel: str | None = None
    case_timeout: float = CASE_TIMEOUT
    hide: tuple[Path, ...] = ()
    threads: int | None = None  # threads of each notebook's kernel (None: torch's choice)

    @cached_property
    def hidden(self) -> dict:
        return load_hidden(self.hidden_path)

    def sandbox(self, work: Path) -> Sandbox:
        """A sandbox working in ``work`` that reaches the grader's data folder (read only)."""
        data = data_folder()
        hide = (self.instructor_dir, self.hidden_path, *self.hide, *kit_solutions())
        env = {"COURSE_DATA": str(data)}
        if self.threads is not None:
            env |= dict.fromkeys(THREAD_VARIABLES, str(self.threads))
        return Sandbox(work, self.limits, hide=hide, reach=[data] if data.is_dir() else [], env=env)


def data_folder() -> Path:
    """The grader's own data folder, as ``data.load_data`` finds it ($COURSE_DATA or the
    default); Debian's /usr/share/datasets is seen by every sandbox anyway."""
    return Path(os.environ.get("COURSE_DATA") or DEFAULT_DATA).resolve()


def kit_solutions() -> list[Path]:
    """The instructor's material of the checkout course_lib runs from, when it runs from one
    (an editable install): its notebooks (the solutions), assignments (the hidden cases) and
    tests (the wrong implementations the checks catch)."""
    checkout = Path(course_lib.__file__).resolve().parents[1]
    if not (checkout / "pyproject.toml").is_file():
        return []
    return [checkout / name for name in ("notebooks", "assignments", "tests")]


@dataclass
class Graded:
    """One student's notebook: ``status`` ok | errors | timeout | cpu | memory | missing;
    ``seconds`` and ``memory`` (MiB, the most its processes held together) of its grading."""

    student: str
    notebook: str
    status: str
    seconds: float
    outcome: Outcome
    answers: dict[str, str]
    folder: Path
    memory: float = 0.0

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "seconds": self.seconds,
            "memory": self.memory,
            "outcome": self.outcome.to_dict(),
            "answers": self.answers,
        }


def _seed_cache(cache: Path) -> None:
    """A copy of the grader's model cache (its trained references, not its datasets) for one
    sandbox: read there without retraining, and whatever a submission does to it stays there."""
    source = cache_dir()
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        inside = path.relative_to(source)
        if path.is_file() and not path.is_symlink() and "data" not in inside.parts:
            (cache / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, cache / inside)


def _keep(found: Path, kept: Path, budget: int) -> int:
    """Copy the regular files under ``found`` into ``kept`` (no link followed) up to ``budget``
    bytes in all; what is left of the budget."""
    for path in sorted(found.rglob("*")) if found.is_dir() else []:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > budget:
            continue
        target = kept / path.relative_to(found)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target, follow_symlinks=False)
        budget -= path.stat().st_size
    return budget


def _launch(work: Path, stem: str, rules: Rules, log) -> tuple[str | None, float]:
    """Run the notebook ``work/<stem>.ipynb`` in a sandbox: None, or the limit it crossed, or
    "errors"; and the most memory its processes held together."""
    job = {
        "notebook": str(work / f"{stem}.ipynb"),
        "executed": str(work / "executed.ipynb"),
        "parameters": {"profile": "smoke", "output_dir": str(work / "outputs")},
        "cwd": str(work),
        "kernel": rules.kernel,
    }
    settings = {"COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg", "COURSE_CACHE": str(work / "cache")}
    sandbox = rules.sandbox(work)
    argv = [sys.executable, "-I", "-m", "course_lib.headless", json.dumps(job)]
    process = sandbox.popen(argv, extra_env=settings, stdout=log, stderr=log)
    crossed = sandbox.wait(process, time.monotonic() + rules.limits.wall)
    return crossed or (None if process.returncode == 0 else "errors"), sandbox.peak


def run_notebook(prepared, folder: Path, stem: str, rules: Rules) -> tuple[str, Outcome, float]:
    """Run ``prepared`` in a sandbox; keep its executed notebook and figures in ``folder``.
    Its status, what it showed, and its peak memory (bytes)."""
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as scratch:
        Path(scratch).chmod(0o711)  # the sandbox's user may pass through, not look around
        work = Path(scratch) / "work"
        (work / "outputs").mkdir(parents=True)
        nbformat.write(prepared, work / f"{stem}.ipynb")
        _seed_cache(work / "cache")
        with open(Path(scratch) / "run.log", "w+") as log:
            ended, peak = _launch(work, stem, rules, log)
            log.seek(0)
            last = (log.read()[-4000:].strip().splitlines() or ["the run broke off"])[-1]
        executed = work / "executed.ipynb"
        if executed.is_file() and not executed.is_symlink():
            if executed.stat().st_size <= KEPT_NOTEBOOK:
                shutil.copyfile(executed, folder / f"{stem}.executed.ipynb")
                outcome = read_outcome(nbformat.read(executed, as_version=4))
            else:
                outcome.errors.append(f"the executed notebook is over {KEPT_NOTEBOOK >> 20} MB")
        _keep(work / "outputs", folder / "outputs", KEPT_OUTPUTS)
    if ended in ("timeout", "cpu", "memory"):
        outcome.stopped = rules.limits.crossed(ended)
        return ended, outcome, peak
    if ended == "errors" and last != NOTEBOOK_RAISED:
        outcome.errors.append(last)
    return ended or "ok", outcome, peak


def grade_notebook(
    submitted: Path, instructor: Path, folder: Path, rules: Rules, exercises: list[str]
) -> Graded:
    """Grade one submitted notebook into ``folder`` (its result, or the earlier one)."""
    student, stem = submitted.parent.name, instructor.stem
    if submitted.is_symlink():  # never followed: it could point at any file the grader reads
        outcome = Outcome(errors=["the submission is a link, not a notebook file"])
        return Graded(student, stem, "errors", 0.0, outcome, {}, folder)
    if not submitted.is_file():
        return Graded(student, stem, "missing", 0.0, Outcome(), {}, folder)
    digest = paths.file_digest(submitted, instructor, rules.hidden_path)
    record = folder / RESULT
    if record.is_file():
        earlier = json.loads(record.read_text())
        if earlier.get("digest") == digest:
            values = {k: v for k, v in earlier.items() if k != "digest"}
            values["outcome"] = Outcome.from_dict(values["outcome"])
            return Graded(student, stem, **values, folder=folder)
    _clear_attempt(folder, stem)
    folder.mkdir(parents=True)
    try:
        notebook = nbformat.read(submitted, as_version=4)
        notebook.cells  # noqa: B018  (a JSON file without cells is no notebook)
    except Exception as exc:  # a file that is no notebook is the student's result, not a crash
        outcome = Outcome(errors=[f"not a readable notebook: {type(exc).__name__}: {exc}"[:300]])
        return _record(Graded(student, stem, "errors", 0.0, outcome, {}, folder), digest)
    original = nbformat.read(instructor, as_version=4)
    prepared = restore_checks(notebook, original)
    for key in ("kernelspec", "language_info"):  # the course's kernel, whatever the file says
        prepared.metadata[key] = original.metadata.get(key, {})
    nbformat.write(prepared, folder / f"{stem}.ipynb")
    start = time.perf_counter()
    status, outcome, peak = run_notebook(prepared, folder, stem, rules)
    judged, judge_peak = judge_submission(notebook, original, exercises, rules)
    outcome.verdicts, outcome.copies = judged.verdicts, judged.copies
    outcome.errors += [f"the grader could not run: {line}" for line in judged.failed]
    seconds = round(time.perf_counter() - start, 1)
    memory = round(max(peak, judge_peak) / 2**20, 1)
    graded = Graded(student, stem, status, seconds, outcome, answers(prepared), folder, memory)
    return _record(graded, digest)


def judge_submission(notebook, original, exercises: list[str], rules: Rules):
    """The judge's verdicts on ``notebook``'s functions, in a sandbox of its own (``original``:
    the instructor's notebook, whose solutions a copy is compared with); and its peak memory."""
    with tempfile.TemporaryDirectory(prefix="course-judge-") as scratch:
        Path(scratch).chmod(0o711)  # the sandbox's user may pass through, not look around
        (Path(scratch) / "work").mkdir()
        sandbox = rules.sandbox(Path(scratch) / "work")
        solutions = {marks(c)["grade_id"]: c.source for c in original.cells if is_exercise(c)}
        judged = judge(notebook, exercises, rules.hidden, sandbox, solutions, rules.case_timeout)
    return judged, sandbox.peak


def _clear_attempt(folder: Path, stem: str) -> None:
    """Remove an earlier attempt of ours (cut off, or of another submission); a folder holding
    anything else is refused, never removed."""
    if not folder.exists():
        return
    ours = {RESULT, f"{stem}.ipynb", f"{stem}.executed.ipynb", "outputs"}
    others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [folder.name]
    if not set(others) <= ours:
        raise CourseError(
            f"{folder} holds files course grade did not write ({', '.join(others[:3])}): "
            "choose another --out; nothing was changed."
        )
    shutil.rmtree(folder)


def _record(graded: Graded, digest: str) -> Graded:
    paths.write_json(graded.folder / RESULT, {"digest": digest, **graded.to_dict()})
    return graded


def digests(submissions: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``submissions``, by its path there."""
    return {
        str(p.relative_to(submissions)): paths.file_digest(p)
        for p in sorted(submissions.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The submitted files that differ, appeared or disappeared between two ``digests``."""
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def grade_all(
    submissions: Path,
    out: Path,
    points: Points,
    rules: Rules,
    *,
    workers: int = 1,
    say: Callable[[str], None] = print,
) -> tuple[list[Graded], list[str]]:
    """Grade every student folder of ``submissions`` against the instructor's notebooks that the
    points file names, ``workers`` notebooks at a time; results under ``out``. Returns the
    graded notebooks and the submitted files that changed while grading (none, normally)."""
    submissions, out = Path(submissions), Path(out)
    if not submissions.is_dir():
        raise CourseError(f"{submissions} is not a folder: give the folder of student folders.")
    students = sorted(
        p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    )
    if not students:
        raise CourseError(f"{submissions} holds no student folders (one folder per student).")
    if out.resolve() in {s.resolve() for s in students}:
        raise CourseError(f"The grades folder {out} is a student's folder: choose another --out.")
    stems = [*dict.fromkeys([*points.exercises, *points.questions])]
    instructor = {stem: Path(rules.instructor_dir) / f"{stem}.ipynb" for stem in stems}
    absent = [str(p) for p in instructor.values() if not p.is_file()]
    if absent:
        raise CourseError(f"The points file names notebooks that are not there: {absent}.")
    rules.hidden  # noqa: B018  (a broken hidden-cases file is refused before any work)
    out.mkdir(parents=True, exist_ok=True)
    rules = replace(rules, hide=(*rules.hide, submissions.resolve(), out.resolve()))

    def grade(job: tuple[Path, Path]) -> Graded:
        student, source = job
        folder = out / student.name / source.stem
        names = list(points.exercises.get(source.stem, {}))
        result = grade_notebook(student / source.name, source, folder, rules, names)
        say(f"{student.name}/{source.stem}: {result.status} ({result.seconds:g} s)")
        return result

    before = digests(submissions)
    jobs = [(student, source) for student in students for source in instructor.values()]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # each job waits on its own processes
        graded = list(pool.map(grade, jobs))
    return graded, changed_files(before, digests(submissions))
