"""Copied code is flagged: a function that is the instructor's solution or the library's
reference once names, docstring, comments and layout are set aside is named as a copy by the
judge (and still scored on what it does); a short natural answer is never flagged."""

import inspect
from pathlib import Path

import nbformat
import pytest

from course_lib.assign.copies import MIN_NODES, copied, find_function, fingerprint, originals
from course_lib.assign.edition import marks
from course_lib.assign.exercises import exercise
from course_lib.assign.hidden import load_hidden
from course_lib.assign.judge import judge
from course_lib.lc.kmeans import kmeans_codebook
from course_lib.sandbox import Limits, Sandbox

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = next(
    c.source
    for c in nbformat.read(ROOT / "notebooks" / "02_lc_compression.ipynb", 4).cells
    if marks(c).get("grade_id") == "kmeans_1d"
)
DISGUISED = """
def kmeans_1d(xs, count, start=None):
    uniq = np.unique(xs)  # my own words
    if len(uniq) <= count:
        return uniq

    def run(c):
        c = np.sort(np.asarray(c, dtype=np.float64))
        for _ in range(300):
            parts = np.split(xs, np.searchsorted(xs, (c[1:] + c[:-1]) / 2))
            pairs = zip(parts, c, strict=True)
            nxt = np.sort([p.mean() if len(p) else q for p, q in pairs])
            if np.array_equal(nxt, c):
                break
            c = nxt
        parts = np.split(xs, np.searchsorted(xs, (c[1:] + c[:-1]) / 2))
        err = sum(float(((p - q) ** 2).sum()) for p, q in zip(parts, c, strict=True))
        return c, err

    starts = [xs[((np.arange(count) + 0.5) / count * len(xs)).astype(np.int64)]]
    if start is not None:
        starts.append(start)
    return min((run(s) for s in starts), key=lambda r: r[1])[0]
"""
NATURAL = """
def keep_largest(w, kappa):
    keep = torch.topk(w.abs(), kappa, sorted=False).indices
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[keep] = True
    return mask
"""


def test_a_renamed_copy_of_the_solution_is_the_solution():
    known = originals(exercise("kmeans_1d"), SOLUTION)
    assert copied(find_function(DISGUISED, "kmeans_1d"), known) == "the instructor's solution"


def test_the_librarys_reference_under_the_exercises_name_is_named():
    source = inspect.getsource(kmeans_codebook).replace("def kmeans_codebook(", "def kmeans_1d(")
    known = originals(exercise("kmeans_1d"), SOLUTION)
    assert copied(find_function(source, "kmeans_1d"), known) == (
        "the library's lc.kmeans.kmeans_codebook"
    )


def test_a_short_natural_answer_is_never_flagged():
    node = find_function(NATURAL, "keep_largest")
    known = {"the library's largest_mask": fingerprint(node)}  # the same tree, but short
    assert sum(1 for _ in __import__("ast").walk(node)) < MIN_NODES
    assert copied(node, known) is None


def test_a_different_function_is_no_copy():
    other = DISGUISED.replace("(c[1:] + c[:-1]) / 2", "c[1:]")  # another algorithm
    known = originals(exercise("kmeans_1d"), SOLUTION)
    assert copied(find_function(other, "kmeans_1d"), known) is None


@pytest.mark.notebook
def test_the_judge_flags_the_copy_and_scores_what_it_does(tmp_path):
    tmp_path.chmod(0o711)
    (tmp_path / "work").mkdir()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nimport torch"),
        nbformat.v4.new_code_cell(DISGUISED),
    ])  # fmt: skip
    hidden = load_hidden(ROOT / "assignments" / "hidden_cases.py")
    judged = judge(notebook, ["kmeans_1d"], hidden, Sandbox(tmp_path / "work", Limits()),
                   {"kmeans_1d": SOLUTION})  # fmt: skip
    assert judged.copies == {"kmeans_1d": "the instructor's solution"}
    assert all(verdict.ok for verdict in judged.verdicts["kmeans_1d"])
