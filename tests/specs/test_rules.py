"""course_lib.specs.rules: each rule allows what it says, and refuses in one line that names the
parameter, the value and what is allowed."""

import math

import pytest

from course_lib.errors import CourseError
from course_lib.specs import rules


@pytest.mark.parametrize(
    ("rule", "good", "bad", "message"),
    [
        (
            rules.Integer(1),
            [1, 10**12],
            [0, -1, 1.0, True, "3", None],
            "n must be an integer >= 1, got",
        ),
        (rules.Integer(1, 8), [1, 8], [0, 9], r"n must be an integer in \[1, 8\], got"),
        (
            rules.Number(0, 1),
            [0, 0.5, 1],
            [-0.1, 1.5, math.nan, math.inf, "0.5", False],
            r"in \[0, 1\]",
        ),
        (
            rules.Number(0, open_low=True),
            [1e-9, 1e9],
            [0, -1.0, -math.inf],
            "n must be a number > 0",
        ),
        (rules.Number(0, 1, open_low=True, open_high=True), [0.5], [0, 1], r"in \(0, 1\)"),
        (rules.Flag(), [True, False], [1, 0, "true", None], "n must be True or False"),
        (
            rules.Choice("l1", "l2"),
            ["l1"],
            ["l3", "L1", 1, None],
            "n must be one of 'l1', 'l2', got",
        ),
        (rules.Text(), ["conv1"], ["", "  ", 3, None], r"n must be a name \(non-empty text\)"),
        (rules.Folder(), ["/tmp/x", "runs/ü 测试"], ["", 3, None], "n must be a folder path"),
        (
            rules.Optional(rules.Integer(1)),
            [None, 3],
            [0, "x"],
            "n must be None or an integer >= 1, got",
        ),
        (
            rules.Either(rules.Integer(1), rules.MappingOf(rules.Integer(1))),
            [4, {"fc1": 4}],
            [0, "x", {}],
            "or a non-",
        ),
    ],
)
def test_scalar_rules_allow_and_refuse(rule, good, bad, message):
    for value in good:
        rule.check("n", value)
    for value in bad:
        with pytest.raises(CourseError, match=message) as caught:
            rule.check("n", value)
        assert "\n" not in str(caught.value) and repr(value)[:20] in str(caught.value)


def test_containers_name_the_element_that_is_wrong():
    rates = rules.ListOf(rules.Number(0, 1))
    rates.check("prune_rates", [0.0, 0.5])
    message = r"^prune_rates\[1\] must be a number in \[0, 1\], got 1.5"
    with pytest.raises(CourseError, match=message):
        rates.check("prune_rates", [0.5, 1.5])
    for value in ([], 0.5, "0.5", {"a": 1}):
        with pytest.raises(CourseError, match="prune_rates must be a non-empty list, each a num"):
            rates.check("prune_rates", value)
    rules.ListOf(rules.Integer(1), min_len=0).check("ranks", [])
    with pytest.raises(CourseError, match="ks holds 2 twice: give each value once"):
        rules.ListOf(rules.Integer(1), distinct=True).check("ks", [2, 1, 2])
    widths = rules.MappingOf(rules.Integer(1))
    with pytest.raises(CourseError, match=r"widths\['fc1'\] must be an integer >= 1, got 0"):
        widths.check("widths", {"conv1": 3, "fc1": 0})
    with pytest.raises(CourseError, match="a key of widths must be a name"):
        widths.check("widths", {3: 3})
    budgets = rules.Record({"pruning": rules.Number(0, 1), "quantization": rules.Integer(2)})
    budgets.check("mix", {"pruning": 0.1, "quantization": 2})
    with pytest.raises(CourseError, match="mix must be a mapping of 'pruning' to a number"):
        budgets.check("mix", {"pruning": 0.1})
    with pytest.raises(CourseError, match=r"mix\['quantization'\] must be an integer >= 2, got 1"):
        budgets.check("mix", {"pruning": 0.1, "quantization": 1})


def test_a_huge_value_is_shown_cut_to_one_short_line():
    with pytest.raises(CourseError) as caught:
        rules.Integer(1).check("n", "x" * 10_000)
    assert len(str(caught.value)) < 160 and str(caught.value).endswith("x....")
