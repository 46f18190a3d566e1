"""A student's own functions plugged into the branches: the mix of the two paths (at every α) and
the fold of A and the batch norm into L1. The library's own functions plugged in change nothing;
a wrong one changes the outputs."""

import pytest
import torch
from branches.cases import CASES, inputs, prepared

from course_lib import branches


@pytest.mark.parametrize("case", list(CASES))
def test_the_librarys_mix_plugged_in_gives_the_same_outputs_at_every_alpha(case):
    model, branched, widths = prepared(case)
    plugged = branches.attach_branches(
        model, list(widths), widths=widths, seed=3, mix=branches.mix
    ).eval()
    x = inputs(case)
    with torch.no_grad():
        for alpha in (1.0, 0.3, 0.0):
            branches.set_alpha(branched, alpha)
            branches.set_alpha(plugged, alpha)
            assert torch.equal(branched(x), plugged(x)), alpha


def test_a_wrong_mix_shows_even_at_alpha_one():
    model, branched, widths = prepared("conv pair")
    swapped = branches.attach_branches(
        model, list(widths), widths=widths, seed=3, mix=lambda o, b, a: branches.mix(b, o, a)
    ).eval()
    x = inputs("conv pair")
    with torch.no_grad():
        assert torch.allclose(branched(x), model(x))  # α = 1: the original path
        assert not torch.allclose(swapped(x), model(x))


@pytest.mark.parametrize("case", list(CASES))
def test_the_librarys_fold_plugged_in_folds_the_same(case):
    _, branched, _ = prepared(case)
    branches.set_alpha(branched, 0.0)
    own, plugged = branches.fold(branched), branches.fold(branched, first=branches.fold_first)
    x = inputs(case)
    with torch.no_grad():
        assert torch.equal(own(x), plugged(x))


def test_a_fold_without_the_batch_norm_is_no_longer_the_branched_model():
    _, branched, _ = prepared("conv pair")
    branches.set_alpha(branched, 0.0)

    def without_norm(weight, bias, norm, a, a_bias):
        return branches.fold_first(weight, bias, None, a, a_bias)

    x = inputs("conv pair")
    with torch.no_grad():
        assert torch.allclose(branches.fold(branched)(x), branched(x))
        assert not torch.allclose(branches.fold(branched, first=without_norm)(x), branched(x))
