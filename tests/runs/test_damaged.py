"""``course grade`` on damaged submissions: 24 kinds of damage a class hands in, from a truncated
file to a notebook that sleeps forever. Each is graded (its sound exercises still score) or gets
a one-line reason, and none stops the batch."""

import copy
import csv
import json
import os

import nbformat
import pytest
from runs.submissions import FIXTURE, POINTS, STEM, editions, filled, hand_in

from course_lib.assign.edition import marks
from course_lib.runs.grade import Rules, grade_all
from course_lib.runs.grade_report import write_reports
from course_lib.sandbox import Limits

LIMIT = 40  # seconds per notebook (the sound one takes ~15 s on a busy 2-core machine)
RULES = Rules(
    FIXTURE, FIXTURE / "hidden_cases.py", Limits(wall=LIMIT, cpu=2 * LIMIT), case_timeout=5
)


def _cell(notebook, grade_id):
    return next(c for c in notebook.cells if marks(c).get("grade_id") == grade_id)


def _damaged(sound):
    """{kind: (notebook to write, or raw bytes, or a callable(path) that makes the file)}."""

    def changed(change):
        notebook = copy.deepcopy(sound)
        change(notebook)
        return notebook

    def retyped(nb):
        cell = _cell(nb, "keep_largest")
        nb.cells[nb.cells.index(cell)] = nbformat.v4.new_markdown_cell(cell.source)

    def moved_check(nb):
        nb.cells.insert(0, nb.cells.pop(nb.cells.index(_cell(nb, "codebook_bits_check"))))

    def stripped(nb):
        for cell in nb.cells:
            cell.metadata = {}
        nb.metadata = {}

    def duplicated_ids(nb):
        for cell in nb.cells:
            cell.id = "same"

    def renamed(nb):
        cell = _cell(nb, "keep_largest")
        cell.source = cell.source.replace("def keep_largest(", "def keep_largest_mine(")

    def other_signature(nb):
        cell = _cell(nb, "codebook_bits")
        cell.source = cell.source.replace("(num_weights, k)", "(num_weights, k, bits)")

    def huge_output(nb):
        cell = _cell(nb, "keep_largest")
        cell.outputs = [nbformat.v4.new_output("stream", text="x" * (30 * 2**20))]

    def syntax_error(nb):
        _cell(nb, "keep_largest").source += "\n    return (("

    def magics(nb):
        _cell(nb, "codebook_bits").source = "%time 1 + 1\n" + _cell(nb, "codebook_bits").source

    def kernel(nb):
        nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "?"}

    def sleeps(nb):
        nb.cells.insert(3, nbformat.v4.new_code_cell("import time\ntime.sleep(10**6)"))

    def forks(nb):
        nb.cells.insert(3, nbformat.v4.new_code_cell("import os\nwhile True:\n    os.fork()"))

    text = nbformat.writes(sound)
    version3 = nbformat.writes(nbformat.convert(copy.deepcopy(sound), 3), version=3)
    no_ids = json.loads(text)
    for cell in no_ids["cells"]:
        cell.pop("id", None)
    no_ids["nbformat_minor"] = 4
    return {
        "sound": sound,
        "truncated_json": text[: len(text) // 2].encode(),
        "nbformat_3": version3.encode(),
        "missing_cell_ids": json.dumps(no_ids).encode(),
        "duplicated_cell_ids": json.dumps(
            {**json.loads(text), "cells": [{**c, "id": "same"} for c in json.loads(text)["cells"]]}
        ).encode(),
        "cell_type_changed": changed(retyped),
        "exercise_deleted": changed(lambda nb: nb.cells.remove(_cell(nb, "keep_largest"))),
        "check_deleted": changed(lambda nb: nb.cells.remove(_cell(nb, "keep_largest_check"))),
        "check_moved_to_the_top": changed(moved_check),
        "metadata_stripped": changed(stripped),
        "function_renamed": changed(renamed),
        "another_signature": changed(other_signature),
        "huge_outputs": changed(huge_output),
        "syntax_error": changed(syntax_error),
        "magics": changed(magics),
        "unknown_kernel": changed(kernel),
        "another_notebook": (FIXTURE.parent / "notebooks" / "01_quadratic.ipynb").read_bytes(),
        "not_a_notebook_json": b'{"cells": 5, "metadata": []}',
        "binary": os.urandom(4096),
        "empty": b"",
        "invalid_utf8": text.encode()[:200] + b"\xff\xfe" + text.encode()[200:],
        "a_link": lambda path: path.symlink_to("/etc/passwd"),
        "a_folder": lambda path: path.mkdir(),
        "sleeps_forever": changed(sleeps),
        "forks_forever": changed(forks),
    }


# (total score, status) of each kind: sound exercises keep their points
EXPECTED = {
    "sound": ("3.0", "ok"),
    "truncated_json": ("0.0", "errors"),
    "nbformat_3": ("3.0", "ok"),
    "missing_cell_ids": ("3.0", "ok"),
    "duplicated_cell_ids": ("3.0", "ok"),
    "cell_type_changed": ("1.0", "errors"),
    "exercise_deleted": ("1.0", "errors"),
    "check_deleted": ("3.0", "ok"),
    "check_moved_to_the_top": ("3.0", "errors"),
    "metadata_stripped": ("3.0", "ok"),
    "function_renamed": ("1.0", "errors"),
    "another_signature": ("2.0", "ok"),  # the experiment falls back on the library's
    "huge_outputs": ("3.0", "ok"),
    "syntax_error": ("1.0", "errors"),
    "magics": ("3.0", "ok"),
    "unknown_kernel": ("3.0", "ok"),  # the course's kernel runs it
    "another_notebook": ("0.0", "errors"),
    "not_a_notebook_json": ("0.0", "errors"),
    "binary": ("0.0", "errors"),
    "empty": ("0.0", "errors"),
    "invalid_utf8": ("0.0", "errors"),
    "a_link": ("0.0", "errors"),
    "a_folder": ("0.0", "missing"),
    "sleeps_forever": ("3.0", "timeout"),
    "forks_forever": ("3.0", "memory"),  # or raised, or timed out: whichever limit comes first
}
UNSETTLED = {"forks_forever": {"memory", "errors", "timeout"}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    student, instructor = editions(root)
    kinds = _damaged(filled(student, instructor))
    hand_in(root / "submissions", {k: v for k, v in kinds.items() if hasattr(v, "cells")})
    for kind, content in kinds.items():
        path = root / "submissions" / kind / f"{STEM}.ipynb"
        if isinstance(content, bytes):
            path.parent.mkdir(parents=True)
            path.write_bytes(content)
        elif callable(content):
            path.parent.mkdir(parents=True)
            content(path)
    results, changed = grade_all(root / "submissions", root / "grades", POINTS, RULES, workers=2)
    written = write_reports(results, POINTS, FIXTURE, root / "grades", changed)
    with open(written["grades"]) as table:
        totals = {row["student"]: row["total"] for row in csv.DictReader(table)}
    return {r.student: r for r in results}, totals, changed


def test_there_are_twenty_kinds_of_damage_or_more():
    assert len(EXPECTED) - 1 >= 20


def test_every_kind_is_graded_or_given_a_reason(graded):
    results, totals, changed = graded
    assert changed == []
    found = {kind: (totals[kind], results[kind].status) for kind in EXPECTED}
    for kind, statuses in UNSETTLED.items():
        assert found[kind][1] in statuses, found[kind]
        found[kind] = EXPECTED[kind]
    assert found == EXPECTED
    for kind, result in results.items():
        if result.status not in ("ok", "missing"):
            assert result.outcome.errors or result.outcome.stopped, kind
            assert all("\n" not in line.strip() for line in result.outcome.errors), kind


def test_the_reasons_say_what_was_wrong(graded):
    results, _, _ = graded
    assert "not a readable notebook" in results["binary"].outcome.errors[0]
    assert "not a readable notebook" in results["truncated_json"].outcome.errors[0]
    assert results["a_link"].outcome.errors == ["the submission is a link, not a notebook file"]
    assert results["sleeps_forever"].outcome.stopped == f"stopped at the time limit of {LIMIT} s"
    renamed = results["function_renamed"].outcome.verdicts["keep_largest"][0]
    assert "no function keep_largest in the notebook" in next(iter(renamed.failures.values()))
