"""Value checks name the value and what is allowed; writes are atomic; run folders are fresh."""

import json
import math
import os
import re

import pytest

from course_lib import checks, paths
from course_lib.errors import CourseError


def test_integer_number_and_choice_refuse_with_the_name_the_value_and_the_bounds():
    assert checks.integer("k", 3, low=1, high=8) == 3
    for bad in (0, 9, 2.0, True, "3"):
        with pytest.raises(CourseError, match=r"k must be an integer in \[1, 8\], got"):
            checks.integer("k", bad, low=1, high=8)
    assert checks.number("lr", 0.1, 0, open_low=True) == 0.1
    with pytest.raises(CourseError, match=r"lr must be a number > 0, got 0"):
        checks.number("lr", 0, 0, open_low=True)
    for bad in (math.nan, math.inf, "fast", None, False):
        with pytest.raises(CourseError, match="lr must be a number"):
            checks.number("lr", bad, 0, 1)
    with pytest.raises(CourseError, match=r"rate must be a number in \[0, 1\), got 1"):
        checks.number("rate", 1, 0, 1, open_high=True)
    assert checks.choice("norm", "l1", ["l1", "l2"]) == "l1"
    with pytest.raises(CourseError, match="norm must be one of 'l1', 'l2'; got 'l3'"):
        checks.choice("norm", "l3", ["l1", "l2"])


def test_atomic_write_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "sub" / "out.json"
    paths.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    def broken(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        paths.atomic_write(target, broken)
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(target.parent) == ["out.json"]


def test_fresh_folders_are_never_reused(tmp_path):
    folders = [paths.fresh_folder(tmp_path, "smoke") for _ in range(3)]
    assert len(set(folders)) == 3 and all(f.is_dir() and f.parent == tmp_path for f in folders)
    assert all(re.fullmatch(r"\d{8}-\d{6}-smoke(-\d+)?", f.name) for f in folders)
