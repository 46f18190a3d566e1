"""Every exercise's checks: the library's own function passes them all, a stub fails every case as
"not implemented yet", and a plausible wrong answer fails with a message that names the mistake;
``use`` falls back on the library's function and says so once."""

import copy
from pathlib import Path

import pytest
import torch

from course_lib import assign, costs, lc, prune
from course_lib.assign.checks_pruning import small_cnn
from course_lib.assign.exercises import run_cases
from course_lib.assign.hidden import load_hidden
from course_lib.errors import CourseError
from course_lib.lc.kmeans import lloyd_1d, quantile_seeds
from course_lib.train import Diverged

HIDDEN = load_hidden(Path(__file__).resolve().parents[2] / "assignments" / "hidden_cases.py")


@pytest.mark.parametrize("name", sorted(assign.EXERCISES))
def test_the_librarys_function_passes_every_check(name):
    exercise = assign.exercise(name)
    for hidden, cases in ((False, exercise.visible), (True, HIDDEN[name])):
        verdict = run_cases(name, cases, exercise.library, hidden)
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


# ---------------------------------------------------------- delegation earns nothing
# (plausible wrong answers: tests/assign/test_mistakes.py, through the grader's judge)


DELEGATES = [
    ("keep_largest", lambda w, kappa: lc.largest_mask(w, kappa), "lc.compressions.largest_mask"),
    ("kmeans_1d", lambda v, k, init=None: assign.exercise("kmeans_1d").library(v, k, init),
     "lc.kmeans.kmeans_codebook"),
    ("kmeans_1d", lambda v, k, init=None: lloyd_1d(v, quantile_seeds(v, k))[0],
     "lc.kmeans.quantile_seeds"),
    ("remove_unit", lambda m, layer, u: prune.remove_unit(m, layer, u),
     "prune.slimming.remove_unit"),
    ("seed001_flops", lambda *w: costs.fashion_cnn_flops(*w, convention="seed001"),
     "costs.counts.fashion_cnn_flops"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "delegate", "called"), DELEGATES)
def test_a_function_that_calls_the_librarys_reference_fails_every_case(name, delegate, called):
    verdict = assign.verdict(name, delegate)
    assert verdict.passed == 0
    assert set(verdict.failures.values()) == {
        f"called the library's {called}: {name} must be written, not called"
    }
    assert lc.largest_mask(torch.tensor([3.0, -1.0]), 1).tolist() == [True, False]  # restored
    assert assign.exercise("kmeans_1d").library is lc.kmeans_codebook


def test_building_blocks_stay_callable():
    def keep_largest(w, kappa):
        mask = torch.zeros_like(w, dtype=torch.bool)
        mask[torch.topk(w.abs(), kappa).indices] = True
        return mask

    assert assign.verdict("keep_largest", keep_largest).ok


def test_remove_unit_checks_that_the_original_stays_as_it_is():
    def in_place(model, layer, unit):
        smaller = copy.deepcopy(model)
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


def test_hidden_cases_not_found_make_a_failed_case_that_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_HIDDEN_CASES", raising=False)
    verdict = assign.verdict("codebook_bits", costs.codebook_bits, hidden=True)
    assert not verdict.ok and verdict.passed == 0
    assert (
        f"No hidden cases at {tmp_path / 'assignments' / 'hidden_cases.py'}"
        in (verdict.failures["the hidden cases"])
    )
