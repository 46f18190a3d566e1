"""``course dashboard NOTEBOOK``: a notebook's slider panels as a standalone Voilà page.

    course dashboard 03 [--port 8866] [--profile smoke] [-p NAME VALUE ...] [--no-browser]

Voilà runs the notebook afresh for every visitor (with the parameters given here injected after
its ``parameters`` cell, as ``course run`` does) and shows its outputs without the code. When
some code cells carry the tag ``dashboard``, the page shows only those cells' outputs, each
under the markdown cell just above it, below the notebook's title; the other cells still run,
with their output hidden. Served on 127.0.0.1 only. Each visit writes its run's outputs under
$COURSE_RUNS when that is set, else into a temporary folder that goes when the server stops
(Ctrl-C).
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

import nbformat

from course_lib import checks
from course_lib.errors import CourseError
from course_lib.runs.options import add_notebook_options, add_parameter_option, say, warn
from course_lib.runs.parameters import discover_notebooks, select_notebooks
from course_lib.runs.runner import plan_runs

SHOWN_TAG = "dashboard"
HOST = "127.0.0.1"
DEFAULT_PORT = 8866


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _title(cells) -> str:
    """The notebook's first markdown heading, else an empty string."""
    for cell in cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line
    return ""


def _hidden(cell):
    """The same code, run with every output (prints, displays, figures) captured."""
    return nbformat.v4.new_code_cell("%%capture\n" + cell.source)


def dashboard_notebook(notebook: str | Path, parameters: dict) -> nbformat.NotebookNode:
    """``notebook`` with ``parameters`` injected, its cells arranged for the dashboard page.

    Without cells tagged ``dashboard`` every output is shown; with them, the title, each tagged
    cell under the markdown cell right above it, and every other code cell run hidden.
    """
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    source = parameterize_notebook(load_notebook_node(str(notebook)), parameters)
    cells = source.cells
    if not any(SHOWN_TAG in _tags(cell) for cell in cells):
        return source
    title = _title(cells)
    arranged = [nbformat.v4.new_markdown_cell(title)] if title else []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        if SHOWN_TAG not in _tags(cell):
            arranged.append(_hidden(cell))
            continue
        if index and cells[index - 1].cell_type == "markdown":
            arranged.append(nbformat.v4.new_markdown_cell(cells[index - 1].source))
        arranged.append(nbformat.v4.new_code_cell(cell.source))
    source.cells = arranged
    return source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course dashboard",
        description="Serve a notebook's panels (sliders over cached results) as a Voilà page "
        f"on {HOST}. Cells tagged '{SHOWN_TAG}' are the ones shown; the notebook runs afresh "
        "for each visitor.",
    )
    parser.add_argument("notebook", help="03, pruning, 03_pruning or a path")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    add_parameter_option(parser, "a parameter of the notebook (repeatable)")
    add_notebook_options(parser)
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return parser


def _find_notebook(name: str, notebooks_dir: Path) -> Path:
    """The course notebook ``name`` names; a path to a notebook file picks its own folder."""
    if Path(name).is_file():
        notebooks_dir = Path(name).parent
    return select_notebooks(discover_notebooks(notebooks_dir), [name])[0].resolve()


def _check_port(port: int) -> None:
    checks.integer("--port", port, 1, 65535)
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            raise CourseError(
                f"Port {port} on {HOST} is in use: choose another with --port."
            ) from None


def voila_arguments(notebook: Path, port: int, open_browser: bool) -> list[str]:
    """Command-line arguments of the Voilà server for ``notebook``."""
    arguments = [
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        "--show_tracebacks=True",
    ]
    return arguments + ([] if open_browser else ["--no-browser"])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``course dashboard``; returns the exit status once the server stops."""
    args = build_parser().parse_args(argv)
    source = _find_notebook(args.notebook, args.notebooks_dir)
    plan = plan_runs([source], args.profile, args.parameter or [], warn=warn)[0]
    _check_port(args.port)
    from voila.app import Voila

    with tempfile.TemporaryDirectory(prefix="course-dashboard-") as folder:
        page = Path(folder) / source.name
        nbformat.write(dashboard_notebook(source, plan.parameters), page)
        say(
            f"course dashboard: {source.stem} ({plan.parameters['profile']} profile) at "
            f"http://{HOST}:{args.port}/  (Ctrl-C stops it)"
        )
        Voila.launch_instance(argv=voila_arguments(page, args.port, not args.no_browser))
    return 0


if __name__ == "__main__":
    sys.exit(main())
