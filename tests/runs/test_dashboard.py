"""`course dashboard`: the page's notebook (parameters injected, cells tagged `dashboard` shown,
the rest run hidden) and bad input refused before a server starts. The served page itself is
tested in a browser (tests/browser/test_pruning.py)."""

import socket

import nbclient
import nbformat
import pytest

from course_lib.runs.cli import main
from course_lib.runs.dashboard import HOST, dashboard_notebook


def write_notebook(folder, tagged: bool):
    """A course-style notebook: title, parameters, a cell with output, a panel cell, a last cell."""
    cells = [
        nbformat.v4.new_markdown_cell("# Part 9 — Demo\n\nLong introduction."),
        nbformat.v4.new_code_cell("profile = None\noutput_dir = None\nvalue = 1"),
        nbformat.v4.new_code_cell(
            "import matplotlib.pyplot as plt\nprint('setup', value)\nplt.plot([1, 2])\nvalue * 10"
        ),
        nbformat.v4.new_markdown_cell("## Explore\n\nMove the slider."),
        nbformat.v4.new_code_cell("print('panel', value, profile)"),
        nbformat.v4.new_code_cell("print('after')"),
    ]
    cells[1].metadata["tags"] = ["parameters"]
    if tagged:
        cells[4].metadata["tags"] = ["dashboard"]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder.mkdir(exist_ok=True)
    path = folder / "09_demo.ipynb"
    nbformat.write(notebook, path)
    return path


def test_untagged_notebook_is_shown_whole_with_the_parameters_injected(tmp_path):
    page = dashboard_notebook(
        write_notebook(tmp_path, tagged=False), {"profile": "smoke", "value": 3}
    )
    sources = [cell.source for cell in page.cells]
    assert len(sources) == 7
    assert sources[0].startswith("# Part 9") and sources[1].endswith("value = 1")
    assert page.cells[2].metadata.tags == ["injected-parameters"]
    assert 'profile = "smoke"' in sources[2] and "value = 3" in sources[2]
    assert sources[3:] == [c.source for c in nbformat.read(tmp_path / "09_demo.ipynb", 4).cells[2:]]


def test_tagged_cells_are_shown_under_their_markdown_and_the_rest_runs_hidden(tmp_path):
    page = dashboard_notebook(
        write_notebook(tmp_path, tagged=True), {"profile": "smoke", "value": 3}
    )
    kinds = [(cell.cell_type, cell.source.splitlines()[0]) for cell in page.cells]
    assert kinds == [
        ("markdown", "# Part 9 — Demo"),
        ("code", "%%capture"),  # parameters
        ("code", "%%capture"),  # injected parameters
        ("code", "%%capture"),
        ("markdown", "## Explore"),
        ("code", "print('panel', value, profile)"),
        ("code", "%%capture"),
    ]
    nbclient.NotebookClient(page, timeout=60, kernel_name="python3").execute()
    outputs = [[o.get("text", "") for o in c.outputs] for c in page.cells if c.cell_type == "code"]
    assert outputs == [[], [], [], ["panel 3 smoke\n"], []]


def test_bad_input_is_refused_before_a_server_starts(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    write_notebook(folder, tagged=True)
    common = ["--notebooks-dir", str(folder), "--no-browser"]
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(["dashboard", "09", "--port", port, *common]) == 2
    assert f"Port {port} on {HOST} is in use" in capsys.readouterr().err
    assert main(["dashboard", "07", *common]) == 2
    assert "'07' is not a notebook: choose from 09_demo" in capsys.readouterr().err
    assert main(["dashboard", "demo", "-p", "speed", "2", *common]) == 2
    assert "Unknown parameter 'speed'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dashboard", "demo", "--profile", "huge", *common])
