"""Branch widths: checked, chosen for a share of parameters to remove, counted after the fold."""

import pytest
from branches.cases import CASES, conv_pair_net, prepared

from course_lib import CourseError, branches
from course_lib.models import build_model


@pytest.mark.parametrize("case", CASES)
def test_folded_parameter_count_matches_the_widths(case):
    model, branched, widths = prepared(case)
    folded = branches.fold(branched)
    counted = sum(p.numel() for p in folded.parameters())
    assert counted == branches.folded_parameter_count(
        model, branches.select_pairs(model, list(widths)), widths
    )
    assert branches.branch_widths(branched) == widths


def test_widths_for_removed_fraction_remove_at_least_the_fraction():
    model = build_model("vgg_small")
    pairs = branches.select_pairs(model)
    original = sum(p.numel() for p in model.parameters())
    widths = branches.widths_for_removed_fraction(model, pairs, 0.65)
    removed = 1 - branches.folded_parameter_count(model, pairs, widths) / original
    assert 0.65 <= removed < 0.68
    folded = branches.fold(branches.attach_branches(model, widths=widths))
    assert sum(p.numel() for p in folded.parameters()) == round((1 - removed) * original)


def test_choose_widths_prefers_explicit_widths_over_a_fraction():
    model = conv_pair_net()
    pairs = branches.select_pairs(model)
    assert branches.choose_widths(model, pairs, {"conv1": 3}, remove_fraction=0.5) == {"conv1": 3}
    assert branches.choose_widths(
        model, pairs, remove_fraction=0.5
    ) == branches.widths_for_removed_fraction(model, pairs, 0.5)
    with pytest.raises(CourseError, match="remove_fraction"):
        branches.choose_widths(model, pairs)
    with pytest.raises(CourseError, match=r"\[1, 8\]"):
        branches.choose_widths(model, pairs, {"conv1": 0}, remove_fraction=0.5)
