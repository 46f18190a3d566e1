"""Every exercise's checks: the library's own function passes them all, a stub fails every case as
"not implemented yet", and a plausible wrong answer fails with a message that names the mistake;
``use`` falls back on the library's function and says so once."""

import copy
import math

import pytest
import torch

from course_lib import assign, branches, costs, lc, prune, tucker
from course_lib.assign.checks_pruning import small_cnn
from course_lib.errors import CourseError
from course_lib.lc.kmeans import lloyd_1d, quantile_seeds
from course_lib.surgery import keep_inputs, keep_outputs
from course_lib.train import Diverged, count_confusion, sgd_epoch


@pytest.mark.parametrize("name", sorted(assign.EXERCISES))
def test_the_librarys_function_passes_every_check(name):
    exercise = assign.exercise(name)
    for hidden in (False, True):
        verdict = assign.verdict(name, exercise.library, hidden)
        assert verdict.ok and verdict.cases, verdict.lines()


@pytest.mark.parametrize("name", sorted(assign.EXERCISES))
def test_a_stub_fails_every_case_as_not_implemented(name):
    def stub(*args):
        raise NotImplementedError(f"not implemented yet: {name}")

    verdict = assign.verdict(name, stub)
    assert verdict.missing and verdict.passed == 0
    assert verdict.lines() == [f"✘ {name}: not implemented yet"]
    bundle = verdict._repr_mimebundle_()
    assert bundle[assign.MIME]["failures"] and "data-ok='false'" in bundle["text/html"]


# ------------------------------------------------------------------ plausible wrong answers


def transposed_confusion(labels, predicted, k):
    return count_confusion(labels, predicted, k).T  # the mistake: rows are the predictions


def per_step_schedule(model, batches, optimizer, scheduler):
    """The mistake: the schedule steps with every batch (an epoch of one batch each)."""
    return [loss for batch in batches for loss in sgd_epoch(model, [batch], optimizer, scheduler)]


class KeepsGradients:
    """An optimizer whose zero_grad does nothing: the mistake of never resetting gradients."""

    def __init__(self, optimizer):
        self.step = optimizer.step

    def zero_grad(self):
        pass


def no_zero_grad(model, batches, optimizer, scheduler):
    return sgd_epoch(model, batches, KeepsGradients(optimizer), scheduler)


def strict_threshold(w, kappa):
    kth = w.abs().sort(descending=True).values[kappa - 1]
    return w.abs() > kth  # the mistake: drops the κ-th largest itself


def cold_kmeans(values, k, init=None):
    distinct = sorted(set(values.tolist()))
    if len(distinct) <= k:
        return torch.tensor(distinct).numpy()
    return lloyd_1d(values, quantile_seeds(values, k))[0]  # the mistake: init ignored


def svd_without_values(matrix, r):
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    return u[:, :r], vh[:r]


def bits_without_ceiling(num_weights, k):
    return math.log2(k) * num_weights + 32 * k if k > 1 else 32 * k


def threshold_mask(w, rate):
    removed = round(rate * w.numel())
    if removed == 0:
        return torch.ones_like(w)
    kth = w.abs().reshape(-1).sort().values[removed - 1]
    return (w.abs() > kth).float()  # the mistake: every tie at the threshold goes


def inputs_norm(layer, norm):
    order = {"l1": 1, "l2": 2}[norm]
    return torch.linalg.vector_norm(layer.weight.detach().flatten(1), ord=order, dim=0)


def removed_with(next_layer):
    """``remove_unit`` with the next conv or linear layer cut by ``next_layer(module, unit)``."""

    def remove(model, layer, unit):
        smaller = copy.deepcopy(model)
        target = getattr(model, layer)
        keep = torch.tensor([u for u in range(target.weight.shape[0]) if u != unit])
        setattr(smaller, layer, keep_outputs(target, keep))
        names = [name for name, _ in model.named_children()]
        following = [
            n for n in names[names.index(layer) + 1 :] if hasattr(getattr(model, n), "weight")
        ]
        setattr(smaller, following[0], next_layer(getattr(model, following[0]), unit))
        return smaller

    return remove


def without(count: int, unit: int) -> torch.Tensor:
    return torch.tensor([u for u in range(count) if u != unit])


# the mistakes: the next layer loses an output instead of its input; across the flatten, one
# column of fc1 instead of the channel's block
next_layer_outputs = removed_with(lambda m, u: keep_outputs(m, without(m.weight.shape[0], u)))
one_column_across_flatten = removed_with(lambda m, u: keep_inputs(m, without(m.weight.shape[1], u)))


def seed001_in_torchs_convention(c1, c2, f1):
    return costs.fashion_cnn_flops(c1, c2, f1, convention="torch")


def transposed_factors(weight, r1, r2):
    in_factor, out_factor = tucker.hosvd_factors(weight, r1, r2)
    return in_factor.T, out_factor  # the mistake: I as R1×c


def factor_reshaped_not_transposed(conv, core, in_factor, out_factor):
    layer = tucker.tucker_layer(conv, core, in_factor, out_factor)
    r1, c = in_factor.shape[1], in_factor.shape[0]
    layer.first.weight.data = in_factor.reshape(r1, c, 1, 1).to(conv.weight)  # not Iᵀ
    return layer


def padding_on_the_first_conv(conv, core, in_factor, out_factor):
    layer = tucker.tucker_layer(conv, core, in_factor, out_factor)
    layer.core.padding, layer.core.stride = (0, 0), (1, 1)  # the mistake: the core lost them
    return layer


def swapped_alpha(original, branch, alpha):
    return alpha * branch + (1 - alpha) * original


def fold_without_batch_norm(weight, bias, norm, reduce_weight, reduce_bias):
    return branches.fold_first(weight, bias, None, reduce_weight, reduce_bias)


WRONG = {
    "confusion": [(transposed_confusion, "swapped")],
    "sgd_epoch": [
        (per_step_schedule, "call scheduler.step() once, after the loop"),
        (no_zero_grad, "zero_grad"),
    ],
    "keep_largest": [(strict_threshold, "off-by-one")],
    "kmeans_1d": [(cold_kmeans, "warm start")],
    "truncated_svd": [(svd_without_values, "lacks the singular values")],
    "codebook_bits": [(bits_without_ceiling, "⌈log2 k⌉")],
    "magnitude_mask": [(threshold_mask, "tie at the threshold")],
    "unit_importance": [(inputs_norm, "one score per output unit")],
    "remove_unit": [
        (next_layer_outputs, "remove its input"),
        (one_column_across_flatten, "across the flatten"),
    ],
    "seed001_flops": [(seed001_in_torchs_convention, "2 per multiply-add")],
    "hosvd_factors": [(transposed_factors, "the singular vectors are its columns")],
    "tucker_layer": [
        (factor_reshaped_not_transposed, "reshaped, not transposed"),
        (padding_on_the_first_conv, "stride, padding and dilation"),
    ],
    "branch_mix": [(swapped_alpha, "α weighs the branch")],
    "fold_first": [(fold_without_batch_norm, "ignores the batch norm")],
}


def test_every_exercise_has_a_wrong_answer_here():
    assert set(WRONG) == set(assign.EXERCISES)


@pytest.mark.parametrize(
    ("name", "wrong", "words"),
    [(name, wrong, words) for name, cases in WRONG.items() for wrong, words in cases],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_wrong_answer_fails_with_a_message_that_names_the_mistake(name, wrong, words):
    verdicts = [assign.verdict(name, wrong), assign.verdict(name, wrong, hidden=True)]
    failures = [why for verdict in verdicts for why in verdict.failures.values()]
    assert failures, f"{name}: the wrong answer passed every check"
    assert any(words in why for why in failures), failures


def test_remove_unit_checks_that_the_original_stays_as_it_is():
    def in_place(model, layer, unit):
        smaller = prune.remove_unit(model, layer, unit)
        with torch.no_grad():
            model.conv1.weight.zero_()
        return smaller

    verdict = assign.verdict("remove_unit", in_place)
    assert all("original model was changed" in why for why in verdict.failures.values())
    assert len(verdict.failures) == len(verdict.cases)
    assert small_cnn(0).conv1.weight.abs().sum() > 0


# ---------------------------------------------------------------------------------- use()


def test_use_runs_the_students_function_when_it_works():
    calls = []

    def mine(w, kappa):
        calls.append(kappa)
        return lc.largest_mask(w, kappa)

    plugged = assign.use(mine, "keep_largest")
    assert plugged(torch.tensor([3.0, -1.0, 2.0]), 2).tolist() == [True, False, True]
    assert calls == [2]
    assert copy.deepcopy(plugged) is plugged  # copies of a compression share it


def test_use_falls_back_on_the_library_and_says_so_once(capsys):
    def stub(w, kappa):
        raise NotImplementedError("not implemented yet: keep_largest")

    plugged = assign.use(stub, "keep_largest")
    for _ in range(3):
        assert plugged(torch.tensor([3.0, -1.0, 2.0]), 1).tolist() == [True, False, False]
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "keep_largest: not implemented yet; this experiment uses the library's keep_largest instead"
    ]


def test_use_names_the_error_of_a_crashing_function(capsys):
    plugged = assign.use(lambda *a: [][1], "codebook_bits")
    assert plugged(1000, 2) == 1064
    assert "IndexError: list index out of range; this experiment uses" in capsys.readouterr().out


def test_use_lets_the_libraries_stop_signal_through():
    def diverging(*args):
        raise Diverged("loss became nan")

    with pytest.raises(Diverged):
        assign.use(diverging, "sgd_epoch")(None, [], None, None)


def test_check_shows_the_verdict(capsys):
    assign.check("codebook_bits", costs.codebook_bits)
    assert capsys.readouterr().out.strip() == "✔ codebook_bits: 3 of 3 checks passed"


def test_an_unknown_exercise_is_named():
    with pytest.raises(CourseError, match="No exercise 'nope'"):
        assign.verdict("nope", print)
