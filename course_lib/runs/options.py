"""What ``course`` and ``course dashboard`` share: options, and their lines on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_lib.profiles import PROFILES


def say(text: str) -> None:
    """A progress or warning line on stderr (stdout holds the results)."""
    print(text, file=sys.stderr, flush=True)


def warn(text: str) -> None:
    say(f"warning: {text}")


def default_notebooks_dir() -> Path:
    """./notebooks, else the notebooks folder of the checkout course_lib was installed from."""
    here = Path("notebooks")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "notebooks"


def add_parameter_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The repeatable ``-p NAME VALUE`` option of the commands that run notebooks."""
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help=help_text
    )


def add_notebook_options(parser: argparse.ArgumentParser) -> None:
    """``--notebooks-dir`` and ``--profile``."""
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=default_notebooks_dir(),
        help="where the NN_name.ipynb notebooks are (default: ./notebooks)",
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="default: $COURSE_PROFILE, else default"
    )
