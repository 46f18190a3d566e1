"""``course grade SUBMISSIONS_DIR``: every student's notebooks run headless and scored.

SUBMISSIONS_DIR holds one folder per student with their notebooks
(``alice/02_lc_compression.ipynb``, ...). Each notebook gets the instructor's check cells back
(hidden checks included, ``assign.grading.restore_checks``) and runs under papermill in a
process of its own: the smoke profile, downloads refused, every cell run even after one
raised, and the whole process tree killed at the time limit, so that one student's crash or
endless loop never stops the others.
The results go to ``GRADES_DIR/<student>/<notebook>/`` (``result.json``, the executed notebook,
the figures in ``outputs/``); a notebook whose result is there for the same submission and the
same instructor notebook is not run again. The reports (grades.csv, feedback pages, the summary)
are ``runs/grade_report.py``'s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib import paths
from course_lib.assign.grading import Outcome, Points, answers, read_outcome, restore_checks
from course_lib.errors import CourseError
from course_lib.runs.runner import KERNEL_ARGUMENTS, _kernel_config

RESULT = "result.json"
NOTEBOOK_RAISED = "some cells raised"
NO_NETWORK = {  # downloads fail at once: a submission may not fetch anything
    name: "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
}


@dataclass
class Graded:
    """One student's notebook: ``status`` ok | errors | timeout | missing, its outcome."""

    student: str
    notebook: str
    status: str
    seconds: float
    outcome: Outcome
    answers: dict[str, str]
    folder: Path

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "seconds": self.seconds,
            "outcome": self.outcome.to_dict(),
            "answers": self.answers,
        }


def _kill_tree(process: subprocess.Popen) -> None:
    """End ``process`` and everything it started (the kernel runs in a session of its own)."""
    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.kill()
    process.wait()


def run_submission(
    notebook: Path, executed: Path, outputs: Path, timeout: float, kernel
) -> tuple[str, str | None]:
    """Execute ``notebook`` into ``executed`` in a child process: ("ok", None), ("errors", None)
    when some cell raised, ("errors", why) when the run itself broke off (the kernel died), or
    ("timeout", why) when it was killed at ``timeout`` seconds, with all it started."""
    job = {
        "notebook": str(notebook),
        "executed": str(executed),
        "parameters": {"profile": "smoke", "output_dir": str(outputs)},
        "cwd": str(notebook.parent),
        "kernel": kernel,
    }
    env = {**os.environ, **NO_NETWORK, "COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "course_lib.runs.grade", json.dumps(job)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process)
        return "timeout", f"stopped at the time limit of {timeout:g} s"
    if process.returncode == 0:
        return "ok", None
    lines = errors.strip().splitlines()
    broke = process.returncode != 1 or not lines or lines[-1] != NOTEBOOK_RAISED
    return "errors", (
        lines[-1] if lines else f"exit status {process.returncode}"
    ) if broke else None


def _execute(job: dict) -> int:
    """The child process: papermill with every cell run; 0 when no cell raised, else 1 and a
    last line on stderr that says why."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    with tempfile.TemporaryDirectory(prefix="course-grade-") as sockets:
        try:
            papermill.execute_notebook(
                job["notebook"],
                job["executed"],
                parameters=job["parameters"],
                cwd=job["cwd"],
                kernel_name=job["kernel"],
                progress_bar=False,
                start_timeout=180,
                extra_arguments=KERNEL_ARGUMENTS,
                config=_kernel_config(Path(sockets)),
                allow_errors=True,
            )
        except PapermillExecutionError:
            print(NOTEBOOK_RAISED, file=sys.stderr)
            return 1
        except Exception as exc:  # the kernel died, or would not start: the run broke off
            print(
                f"the run broke off: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr
            )
            return 1
    return 0


def grade_notebook(
    submitted: Path, instructor: Path, folder: Path, timeout: float, kernel=None
) -> Graded:
    """Grade one submitted notebook into ``folder`` (its result, or the earlier one)."""
    student, stem = submitted.parent.name, instructor.stem
    if not submitted.is_file():
        return Graded(student, stem, "missing", 0.0, Outcome(), {}, folder)
    digest = paths.file_digest(submitted, instructor)
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
    except Exception as exc:  # a file that is no notebook is the student's result, not a crash
        outcome = Outcome(errors=[f"not a readable notebook: {type(exc).__name__}: {exc}"])
        return _record(Graded(student, stem, "errors", 0.0, outcome, {}, folder), digest)
    prepared = restore_checks(notebook, nbformat.read(instructor, as_version=4))
    source = folder / f"{stem}.ipynb"
    nbformat.write(prepared, source)
    executed, start = folder / f"{stem}.executed.ipynb", time.perf_counter()
    status, why = run_submission(source, executed, folder / "outputs", timeout, kernel)
    seconds = round(time.perf_counter() - start, 1)
    result = nbformat.read(executed, as_version=4) if executed.is_file() else prepared
    outcome = read_outcome(result)
    if why:
        outcome.errors.append(why)
    return _record(
        Graded(student, stem, status, seconds, outcome, answers(prepared), folder), digest
    )


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


def grade_all(
    submissions: Path,
    out: Path,
    instructor_dir: Path,
    points: Points,
    *,
    timeout: float,
    kernel: str | None = None,
    workers: int = 1,
    say: Callable[[str], None] = print,
) -> list[Graded]:
    """Grade every student folder of ``submissions`` against the instructor's notebooks that the
    points file names, ``workers`` notebooks at a time; results under ``out``."""
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
    instructor = {stem: Path(instructor_dir) / f"{stem}.ipynb" for stem in stems}
    absent = [str(p) for p in instructor.values() if not p.is_file()]
    if absent:
        raise CourseError(f"The points file names notebooks that are not there: {absent}.")

    def grade(job: tuple[Path, Path]) -> Graded:
        student, source = job
        folder = out / student.name / source.stem
        result = grade_notebook(student / source.name, source, folder, timeout, kernel)
        say(f"{student.name}/{source.stem}: {result.status} ({result.seconds:g} s)")
        return result

    jobs = [(student, source) for student in students for source in instructor.values()]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # each job waits on its own process
        return list(pool.map(grade, jobs))


if __name__ == "__main__":
    sys.exit(_execute(json.loads(sys.argv[1])))
