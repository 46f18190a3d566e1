"""``course grade`` on five made-up submissions of a small assignment: one full, one empty (the
student edition as handed out), one with a wrong exercise, one that raises at import and one that
loops forever. The CSV holds the expected scores, the looping one is stopped at the time limit,
the others are not held up, and a second run grades nothing again."""

import csv
import re
import shutil

import pytest
from runs.submissions import FIXTURE, POINTS, STEM, editions, filled, hand_in

from course_lib.assign.grading import Outcome, read_points, score
from course_lib.errors import CourseError
from course_lib.runs.cli import main
from course_lib.runs.grade import Graded, Rules, grade_all, grade_notebook
from course_lib.runs.grade_report import write_reports
from course_lib.sandbox import Limits

LIMIT = 45  # seconds per notebook: this one takes ~15 s on a busy 2-core machine
WORKERS = 2  # the endless one (graded second, by name) runs beside the others
RULES = Rules(
    FIXTURE, FIXTURE / "hidden_cases.py", Limits(wall=LIMIT, cpu=2 * LIMIT), case_timeout=5
)

OFF_BY_ONE = """
def keep_largest(w, kappa):
    kth = w.abs().sort(descending=True).values[kappa - 1]
    return w.abs() > kth
"""
ENDLESS = """
def codebook_bits(num_weights, k):
    while True:
        pass
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    student, instructor = editions(root)
    raises = filled(student, instructor)
    setup = next(c for c in raises.cells if "from course_lib import assign" in c.source)
    setup.source = "import numpyy  # no such module\n" + setup.source
    submissions = {
        "full": filled(student, instructor),
        "empty": student,
        "wrong": filled(student, instructor, {"keep_largest": OFF_BY_ONE}),
        "raises": raises,
        "endless": filled(student, instructor, {"codebook_bits": ENDLESS}),
    }
    hand_in(root / "submissions", submissions)
    (root / "submissions" / "nobody").mkdir()
    out = root / "grades"
    results, changed = grade_all(
        root / "submissions", out, POINTS, RULES, workers=WORKERS, say=print
    )
    assert changed == []
    return root, out, results, write_reports(results, POINTS, FIXTURE, out, changed)


def test_the_csv_holds_the_expected_scores(graded):
    _, _, _, written = graded
    with open(written["grades"]) as table:
        rows = {row.pop("student"): row for row in csv.DictReader(table)}
    assert rows == {
        "empty": {"keep_largest": "0.0", "codebook_bits": "0.0", "total": "0.0"},
        "full": {"keep_largest": "2.0", "codebook_bits": "1.0", "total": "3.0"},
        "endless": {"keep_largest": "2.0", "codebook_bits": "0.0", "total": "2.0"},
        "nobody": {"keep_largest": "0.0", "codebook_bits": "0.0", "total": "0.0"},
        "raises": {"keep_largest": "2.0", "codebook_bits": "1.0", "total": "3.0"},
        "wrong": {"keep_largest": "0.0", "codebook_bits": "1.0", "total": "1.0"},
    }


def test_the_looping_notebook_is_stopped_at_the_limit_and_the_others_run(graded):
    _, _, results, _ = graded
    by_student = {r.student: r for r in results}
    endless = by_student["endless"]
    assert endless.status == "timeout" and LIMIT <= endless.seconds < LIMIT + 15
    assert endless.outcome.stopped == f"stopped at the time limit of {LIMIT} s"
    assert {r.student: r.status for r in results} == {
        "empty": "ok", "endless": "timeout", "full": "ok", "nobody": "missing",
        "raises": "errors", "wrong": "ok",
    }  # fmt: skip
    assert any("ModuleNotFoundError: No module named 'numpyy'" in e for e in
               by_student["raises"].outcome.errors)  # fmt: skip


def test_the_empty_edition_runs_to_the_end_and_says_what_is_missing(graded):
    _, out, results, _ = graded
    empty = next(r for r in results if r.student == "empty")
    assert empty.outcome.fallbacks == [
        f"{name}: not implemented yet; this experiment uses the library's {name} instead"
        for name in ("keep_largest", "codebook_bits")
    ]
    assert (out / "empty" / "01_small" / "outputs" / "bits.png").is_file()


def test_feedback_names_each_failure_and_shows_figures_and_answers(graded):
    _, out, _, written = graded
    wrong = (out / "feedback" / "wrong.html").read_text()
    assert "1 of 3 points from the checks" in wrong and "an off-by-one" in wrong
    assert "../wrong/01_small/outputs/bits.png" in wrong
    assert "Two values need one bit" in (out / "feedback" / "full.html").read_text()
    empty = (out / "feedback" / "empty.html").read_text()
    assert "not implemented yet" in empty and "YOUR ANSWER HERE" in empty
    endless = (out / "feedback" / "endless.html").read_text()
    assert "stopped at the time limit" in endless
    summary = written["summary"].read_text()
    assert re.search(r"<td>keep_largest</td>\s*<td>2.0</td>\s*<td>1.0</td>", summary)
    assert "1× the notebook was not submitted" in summary and "feedback/raises.html" in summary
    markdown = written["markdown"].read_text()
    assert "| 01_small | keep_largest | 2.0 | 1.0 | 3 | 3 |" in markdown


def test_grading_again_runs_nothing_and_course_grade_reports_the_same(graded, capsys):
    root, out, results, written = graded
    executed = out / "endless" / "01_small" / "01_small.executed.ipynb"
    before = executed.stat().st_mtime_ns
    code = main([
        "grade", str(root / "submissions"), "--out", str(out), "--notebooks-dir", str(FIXTURE),
        "--points", str(FIXTURE / "points.yaml"), "--timeout", str(LIMIT),
    ])  # fmt: skip
    assert code == 0 and executed.stat().st_mtime_ns == before
    printed = capsys.readouterr()
    assert f"grades: {written['grades']}" in printed.out
    assert "endless/01_small: timeout" in printed.err
    assert written["grades"].read_text().count("\n") == 7


def test_a_changed_submission_is_graded_again(graded, tmp_path):
    root, out, _, _ = graded
    copy = tmp_path / "submissions"
    shutil.copytree(root / "submissions" / "wrong", copy / "wrong")
    shutil.copytree(out / "wrong", tmp_path / "grades" / "wrong")
    path = copy / "wrong" / "01_small.ipynb"
    path.write_text(path.read_text().replace("return w.abs() > kth", "return w.abs() >= kth"))
    (result,), _ = grade_all(copy, tmp_path / "grades", POINTS, RULES)
    assert all(verdict.ok for verdict in result.outcome.verdicts["keep_largest"])


def test_a_results_folder_holding_other_files_is_refused_and_kept(graded, tmp_path):
    root, _, _, _ = graded
    folder = tmp_path / "grades" / "full" / "01_small"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    submitted = root / "submissions" / "full" / "01_small.ipynb"
    with pytest.raises(CourseError, match="holds files course grade did not write"):
        grade_notebook(submitted, FIXTURE / "01_small.ipynb", folder, RULES, ["keep_largest"])
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.notebook
def test_a_course_notebook_runs_in_the_sandbox_and_scores_full_marks(tmp_path):
    """The instructor's 03_pruning handed in as it is: inside the sandbox it reaches the real
    Fashion-MNIST and a model cache, runs to the end, and the judge gives every exercise its
    points."""
    stem, root = "03_pruning", FIXTURE.parents[2]
    points = read_points(root / "assignments" / "points.yaml")
    (tmp_path / "alice").mkdir()
    submitted = tmp_path / "alice" / f"{stem}.ipynb"
    shutil.copyfile(root / "notebooks" / f"{stem}.ipynb", submitted)
    rules = Rules(root / "notebooks", root / "assignments" / "hidden_cases.py", Limits(wall=600))
    names = list(points.exercises[stem])
    graded = grade_notebook(
        submitted, root / "notebooks" / submitted.name, tmp_path / "g", rules, names
    )
    assert graded.status == "ok", graded.outcome.errors
    assert score(graded.outcome, points.exercises[stem]) == points.exercises[stem]
    assert list((tmp_path / "g" / "outputs").glob("*.png")) and graded.memory > 100


def test_grading_the_same_submissions_twice_gives_the_same_csv_byte_for_byte(graded, tmp_path):
    root, _, _, _ = graded
    for name in ("full", "wrong", "empty", "raises"):
        shutil.copytree(root / "submissions" / name, tmp_path / "submissions" / name)
    csvs = []
    for out in ("first", "second"):
        results, changed = grade_all(
            tmp_path / "submissions", tmp_path / out, POINTS, RULES, workers=2
        )
        csvs.append(write_reports(results, POINTS, FIXTURE, tmp_path / out, changed)["grades"])
    assert csvs[0].read_bytes() == csvs[1].read_bytes()
    assert csvs[0].read_text().count("\n") == 5


def test_copied_code_and_stopped_runs_are_named_in_feedback_and_summary(tmp_path):
    outcome = Outcome(copies={"keep_largest": "the instructor's solution"},
                      stopped="stopped at the memory limit of 4 GiB")  # fmt: skip
    results = [Graded("carol", STEM, "memory", 3.0, outcome, {}, tmp_path / "carol" / STEM)]
    written = write_reports(results, POINTS, FIXTURE, tmp_path, [])
    feedback = (tmp_path / "feedback" / "carol.html").read_text()
    assert "Copied code" in feedback and "the instructor&#x27;s solution" in feedback
    summary = written["summary"].read_text()
    assert "keep_largest is the instructor" in summary
    assert "01_small: stopped at the memory limit of 4 GiB" in summary
    assert "No submitted file changed while grading" in summary
