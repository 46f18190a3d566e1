"""``course assign`` and ``course grade``: the student edition, and grading submissions.

course assign [--out assignments/student] [--points assignments/points.yaml]
course grade SUBMISSIONS_DIR [--out DIR] [--points FILE] [--hidden FILE] [--timeout SECONDS]
             [--cpu SECONDS] [--memory GIB] [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib import checks
from course_lib.assign.edition import write_edition
from course_lib.assign.grading import read_points
from course_lib.runs.options import default_notebooks_dir, say

DEFAULT_TIMEOUT = 600
DEFAULT_MEMORY = 4.0  # GiB for one notebook's processes together (the smoke runs peak far lower)


def default_points() -> Path:
    """assignments/points.yaml beside the notebooks folder."""
    return default_notebooks_dir().resolve().parent / "assignments" / "points.yaml"


def command_assign(args) -> int:
    written = write_edition(args.notebooks_dir, args.out, read_points(args.points).all_cells())
    for path in written:
        print(path)
    say(f"student edition: {len(written)} notebooks in {args.out}")
    return 0


def command_grade(args) -> int:
    from course_lib.runs.grade import Rules, grade_all  # papermill's imports are slow
    from course_lib.runs.grade_report import write_reports
    from course_lib.sandbox import Limits

    checks.integer("--workers", args.workers, 1)
    checks.number("--timeout (seconds)", args.timeout, 0, open_low=True)
    checks.number("--memory (GiB)", args.memory, 0, open_low=True)
    cpu = 2 * args.timeout if args.cpu is None else args.cpu
    checks.number("--cpu (seconds)", cpu, 0, open_low=True)
    points = read_points(args.points)
    hidden = args.hidden or Path(args.points).with_name("hidden_cases.py")
    limits = Limits(wall=args.timeout, cpu=cpu, memory=int(args.memory * 2**30))
    if args.threads is not None:
        checks.integer("--threads", args.threads, 1)
    rules = Rules(
        Path(args.notebooks_dir), Path(hidden), limits, kernel=args.kernel, threads=args.threads
    )
    submissions = Path(args.submissions)
    out = args.out or submissions.resolve().with_name(f"{submissions.resolve().name}-grades")
    graded, changed = grade_all(submissions, out, points, rules, workers=args.workers, say=say)
    written = write_reports(graded, points, args.notebooks_dir, out, changed)
    print(f"grades: {written['grades']}")
    print(f"summary: {written['summary']}")
    print(f"feedback: {out / 'feedback'}")
    return 0


def _notebooks_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--notebooks-dir", type=Path, default=default_notebooks_dir(),
        help="the instructor's notebooks (default: ./notebooks)",
    )  # fmt: skip


def add_assignment_commands(commands) -> None:
    """The ``assign`` and ``grade`` subcommands."""
    assign = commands.add_parser(
        "assign",
        help="write the student edition of the notebooks (solutions and hidden checks removed)",
    )
    _notebooks_dir(assign)
    assign.add_argument(
        "--out", type=Path, default=Path("assignments/student"),
        help="where the student edition goes (default: assignments/student)",
    )  # fmt: skip
    assign.add_argument("--points", type=Path, default=default_points(), help="the points file")
    assign.set_defaults(handler=command_assign)

    grade = commands.add_parser(
        "grade", help="run and score every student's notebooks; grades.csv, feedback, summary"
    )
    grade.add_argument("submissions", help="a folder with one folder of notebooks per student")
    _notebooks_dir(grade)
    grade.add_argument(
        "--out", type=Path, help="where the grades go (default: SUBMISSIONS_DIR-grades beside it)"
    )
    grade.add_argument("--points", type=Path, default=default_points(), help="the points file")
    grade.add_argument(
        "--hidden", type=Path,
        help="the instructor's hidden cases (default: hidden_cases.py beside the points file)",
    )  # fmt: skip
    grade.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT,
        help=f"seconds one notebook may run (default {DEFAULT_TIMEOUT})",
    )  # fmt: skip
    grade.add_argument(
        "--cpu", type=float, help="CPU seconds one notebook may use (default: twice --timeout)"
    )
    grade.add_argument(
        "--memory", type=float, default=DEFAULT_MEMORY,
        help=f"GiB one notebook's processes may hold together (default {DEFAULT_MEMORY:g})",
    )  # fmt: skip
    grade.add_argument(
        "--workers", type=int, default=1,
        help="notebooks graded at a time (default 1; each runs its own kernel)",
    )  # fmt: skip
    grade.add_argument(
        "--kernel", help="Jupyter kernel name (default: the instructor's notebook's)"
    )
    grade.add_argument("--threads", type=int, help="threads of each notebook (default: torch's)")
    grade.set_defaults(handler=command_grade)
