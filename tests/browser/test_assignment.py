"""The student edition in JupyterLab: a check cell shows its verdict, red while the exercise is
still a stub, green once the student has written a right function, as a student sees it."""

import re
from pathlib import Path

import pytest
from browser_kit import UPDATE_MS
from playwright.sync_api import Locator, Page, expect

from course_lib.assign.edition import write_edition
from course_lib.assign.grading import read_points

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "05_alpha_branch"
WRITTEN = """def branch_mix(original, branch, alpha):
    return alpha * original + (1 - alpha) * branch"""


@pytest.fixture(scope="module")
def student_notebook(workspace):
    """The student edition, generated into the folder JupyterLab serves."""
    points = read_points(REPO / "assignments" / "points.yaml")
    write_edition(REPO / "notebooks", workspace.notebooks / "student", points.all_cells())
    return f"student/{NOTEBOOK}"


def cell_with(page: Page, text: str) -> Locator:
    cells = page.locator(".jp-NotebookPanel:visible .jp-CodeCell")
    cell = cells.filter(has=page.locator(".jp-InputArea", has_text=text))
    expect(cell).to_have_count(1, timeout=UPDATE_MS)
    return cell


def run(cell: Locator) -> None:
    """Select the cell, Shift+Enter, and wait until it has run."""
    cell.locator(".jp-InputArea-editor").click()
    cell.page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputPrompt")
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=UPDATE_MS)
    expect(prompt).not_to_have_text(re.compile(r"\*"), timeout=UPDATE_MS)


def test_a_check_cell_shows_its_verdict_before_and_after_the_exercise_is_written(
    open_notebook, student_notebook
):
    page = open_notebook(student_notebook)
    kernel = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^Python .*\| Idle$"))
    expect(kernel).to_have_count(1, timeout=UPDATE_MS)
    exercise = cell_with(page, "def branch_mix(")
    check = cell_with(page, 'assign.check("branch_mix", branch_mix)')
    expect(exercise).to_contain_text("not implemented yet: branch_mix")
    run(cell_with(page, "from course_lib import assign"))
    run(exercise)
    run(check)
    verdict = check.locator(".course-check")
    expect(verdict).to_have_attribute("data-ok", "false", timeout=UPDATE_MS)
    expect(verdict).to_have_text("✘ branch_mix: not implemented yet")

    editor = exercise.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(WRITTEN)
    run(exercise)
    run(check)
    expect(verdict).to_have_attribute("data-ok", "true", timeout=UPDATE_MS)
    expect(verdict).to_have_text("✔ branch_mix: 3 of 3 checks passed")
