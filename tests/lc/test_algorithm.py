"""The LC loop on small synthetic data: it beats direct compression, reports divergence, and its
compressed model and storage are real."""

import copy

import pytest
import torch
from factories import prototype_bundle

from course_lib import CourseError, lc
from course_lib.costs import count_params
from course_lib.models import build_model
from course_lib.train import TrainConfig, fit


@pytest.fixture(scope="module")
def data():
    return prototype_bundle()


@pytest.fixture(scope="module")
def reference(data):
    torch.manual_seed(0)
    model = build_model("lenet300", (1, 8, 8))
    config = TrainConfig(dataset="mnist", epochs=5, lr=0.05, batch_size=64, device="cpu")
    assert not fit(model, data, config, progress=False, eval_splits=()).diverged
    return model


FAST = dict(mu0=1e-2, mu_growth=2.0, steps=6, epochs=1, lr=0.05, batch_size=64, device="cpu")


def test_lc_beats_direct_compression(reference, data):
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    tasks = lc.task_map(reference, {lc.joint("all"): lc.Prune(keep_fraction=0.01)})
    result = lc.run_lc(reference, tasks, data, lc.LCConfig(**FAST), progress=False)
    history = result.history
    assert list(history["step"]) == list(range(7))
    assert list(history["mu"][1:]) == pytest.approx([1e-2 * 2**s for s in range(6)])
    assert result.direct["test_error"] > 0.15  # 1 % of the weights without retraining: poor
    assert result.final["test_error"] < result.direct["test_error"] / 3
    assert (type(result.direct["step"]), type(result.final["step"])) == (int, int)
    assert history["distance"].iloc[-1] < 0.01 * history["distance"].iloc[0]  # w → Δ(θ) as μ grows
    assert all(torch.equal(before[k], v) for k, v in reference.state_dict().items())  # untouched
    kept = sum(int((d != 0).sum()) for d in result.deltas.values())
    assert kept == round(0.01 * 50200)
    assert result.advice is None


def test_a_penalty_too_weak_to_bring_w_and_delta_together_is_flagged(reference, data):
    tasks = lc.task_map(reference, {"all": lc.Quantize(k=2)})
    config = lc.LCConfig(**{**FAST, "mu0": 1e-7, "mu_growth": 1.1, "steps": 3})
    result = lc.run_lc(reference, tasks, data, config, progress=False)
    assert result.history["distance"].iloc[-1] > result.history["distance"].iloc[0]
    assert "Raise mu0 (now 1e-07)" in result.advice
    assert result.summary()["advice"] == result.advice


def test_quadratic_penalty_variant_differs_from_the_augmented_lagrangian(reference, data):
    tasks = lc.task_map(reference, {"all": lc.Quantize(k=2)})
    runs = [
        lc.run_lc(reference, tasks, data, lc.LCConfig(**FAST, multipliers=m), progress=False)
        for m in (True, False)
    ]
    untimed = [{k: v for k, v in r.direct.items() if "seconds" not in k} for r in runs]
    assert untimed[0] == untimed[1]
    # step 1 starts from λ = 0 in both; from step 2 on the multipliers move the penalty's target
    assert runs[0].history["distance"][1] == pytest.approx(runs[1].history["distance"][1])
    assert runs[0].history["distance"][3] != pytest.approx(runs[1].history["distance"][3], rel=1e-3)


def test_a_diverging_l_step_is_reported_not_carried_on(reference, data):
    tasks = lc.task_map(reference, {"all": lc.Quantize(k=2)})
    config = lc.LCConfig(**{**FAST, "lr": 1e4, "momentum": 0.9})
    result = lc.run_lc(reference, tasks, data, config, progress=False)
    assert result.diverged
    assert "L step 0" in result.divergence and "lower lr" in result.divergence
    assert list(result.history["step"]) == [0]  # only direct compression was evaluated
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    model = result.compressed_model()
    assert torch.isfinite(model(torch.randn(4, 1, 8, 8))).all()


def test_the_training_set_error_is_measured_at_the_ends_unless_every_step_is_asked(reference, data):
    from course_lib.train import accuracy

    tasks = lc.task_map(reference, {"all": lc.Quantize(k=2)})
    ends, every = (
        lc.run_lc(
            reference,
            tasks,
            data,
            lc.LCConfig(**{**FAST, "steps": 3}, train_error_every_step=flag),
            progress=False,
        )  # fmt: skip
        for flag in (False, True)
    )
    assert ends.history["train_error"].isna().tolist() == [False, True, True, False]
    assert every.history["train_error"].notna().all()
    assert ends.final["train_error"] == every.final["train_error"]
    assert ends.final["test_error"] == every.final["test_error"]
    train_error = 1 - accuracy(ends.compressed_model(), data, "train")
    assert ends.final["train_error"] == pytest.approx(train_error)
    # a run stopped by a diverging L step measures it on the last net it kept
    config = lc.LCConfig(**{**FAST, "mu_schedule": [1e-2, 1e6]})
    stopped = lc.run_lc(reference, tasks, data, config, progress=False)
    assert stopped.diverged and "L step 1" in stopped.divergence
    assert stopped.history["train_error"].notna().tolist() == [True, True]


def test_compressed_model_splits_low_rank_layers_and_matches_the_history(reference, data):
    tasks = lc.task_map(reference, {"fc1": lc.LowRank(rank=5), "rest": lc.Quantize(k=4)})
    result = lc.run_lc(reference, tasks, data, lc.LCConfig(**{**FAST, "steps": 2}), progress=False)
    dense = result.compressed_model(split_low_rank=False)
    split = result.compressed_model()
    assert count_params(split) == count_params(reference) - 64 * 300 + 5 * (64 + 300)
    x = torch.randn(16, 1, 8, 8)
    assert torch.allclose(split(x), dense(x), atol=1e-4)
    for name, delta in result.deltas.items():
        assert torch.equal(dense.get_parameter(name), delta)
    assert len(torch.unique(dense.fc2.weight)) == 4
    table = result.task_table()
    assert table["learned"][0] == "rank 5 of 64"
    assert table["ratio"][0] == pytest.approx(64 * 300 / (5 * 364))
    assert table["learned"][1].startswith("codebook ") and table["learned"][1].count(",") == 3
    assert table["compressed_bits"].sum() + 32 * 410 == result.storage["compressed_bits"]
    from course_lib.train import evaluate

    error = 1 - evaluate(split, data.loader("test", 256))[1]
    assert error == pytest.approx(result.final["test_error"], abs=1e-9)


def test_rank_selection_uses_the_first_mu_for_direct_compression(reference, data):
    tasks = lc.task_map(reference, {"all": lc.RankSelection(alpha=1e-8)})
    result = lc.direct_compression(reference, tasks, data, mu0=1e-3, device="cpu")
    assert list(result.history["step"]) == [0]
    for task in result.tasks:
        alone = lc.RankSelection(alpha=1e-8)
        alone.project(reference.get_submodule(task.layers[0]).weight.detach(), 1e-3)
        assert task.compression.rank == alone.rank
    assert 0 < result.tasks[0].compression.rank < 64
    expected_bits = sum(t.compression.storage_bits() for t in result.tasks) + 32 * 410
    assert result.storage["compressed_bits"] == expected_bits


@pytest.mark.parametrize(
    "model, spec, ratio",
    [("lenet300", {"all": lc.Quantize(k=2)}, 30.5), ("lenet5", {"all": lc.Quantize(k=2)}, 30.7)],
)
def test_codebook_of_two_pins_the_compression_ratio(model, spec, ratio):
    net = build_model(model)
    result = lc.direct_compression(
        net, lc.task_map(net, spec), prototype_bundle((1, 28, 28), 16, 16)
    )
    assert round(result.ratio, 1) == ratio
    assert result.direct["ratio"] == result.ratio


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(mu0=-1.0), "mu0"),
        (dict(mu_growth=0.5), "mu_growth"),
        (dict(mu_schedule=[]), "mu_schedule"),
        (dict(mu_schedule=[1e-3, float("nan")]), "mu_schedule"),
        (dict(epochs=0), "epochs"),
        (dict(lr_decay=2.0), "lr_decay"),
        (dict(momentum=0.0), "Nesterov"),
    ],
)
def test_bad_lc_settings_are_refused(settings, message):
    with pytest.raises(CourseError, match=message):
        lc.LCConfig(**settings)


def test_tasks_of_another_model_are_refused_before_any_work(data):
    tasks = lc.task_map(build_model("lenet300"), {"fc1": lc.Quantize(k=2)})
    with pytest.raises(CourseError, match="another model"):
        lc.run_lc(build_model("lenet300", (1, 8, 8)), tasks, data, lc.LCConfig(**FAST))
    with pytest.raises(CourseError, match="No compression tasks"):
        lc.run_lc(build_model("lenet300", (1, 8, 8)), [], data, lc.LCConfig(**FAST))


def test_explicit_schedule_and_learning_rates():
    config = lc.LCConfig(mu_schedule=[1e-3, 2e-3, 5e-3], lr=0.1, lr_decay=0.5, epochs=2)
    assert config.schedule() == [1e-3, 2e-3, 5e-3]
    assert [config.lr_at(s) for s in range(3)] == [0.1, 0.05, 0.025]
    assert [config.epochs_at(s) for s in range(3)] == [4, 2, 2]
    assert lc.mu_schedule(9e-5, 1.1, 3) == pytest.approx([9e-5, 9.9e-5, 1.089e-4])


def test_the_closed_form_penalty_gradient_is_autograds_gradient_of_the_penalty(reference):
    """μ(w − Δ(θ) − λ/μ) added to the gradient is the gradient of μ/2‖w − Δ(θ) − λ/μ‖²."""
    from course_lib.lc.state import TaskState

    (task,) = lc.task_map(reference, {lc.joint("all"): lc.Prune(keep_fraction=0.1)})
    state = TaskState(task, reference)
    state.c_step(0.0, 0.0)
    for lam in state.multipliers:
        lam.normal_()
    mu = 0.37
    state.set_target(mu)
    pairs = zip(state.params, state.target, strict=True)
    penalty = mu / 2 * sum(((p - t) ** 2).sum() for p, t in pairs)
    expected = torch.autograd.grad(penalty, state.params)
    for p in state.params:
        p.grad = None
    state.add_penalty_gradient(mu)
    for p, g in zip(state.params, expected, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-6)
        p.grad = None


def test_compressed_weights_swaps_delta_in_and_the_weights_back_without_copies(reference):
    from course_lib.lc.state import TaskState, compressed_weights

    model = copy.deepcopy(reference)
    (task,) = lc.task_map(model, {"fc1": lc.Quantize(k=2)})
    state = TaskState(task, model)
    state.c_step(0.0, 0.0)
    before = model.fc1.weight.detach().clone()
    with compressed_weights([state]):
        assert model.fc1.weight.data_ptr() == state.delta[0].data_ptr()
        assert len(model.fc1.weight.unique()) == 2
    assert torch.equal(model.fc1.weight, before)


def test_lc_runs_on_centred_data_and_its_l_step_trains_on_it(reference, data):
    """The L step's training config follows the data's normalisation (fit refuses a mismatch)."""
    from dataclasses import replace

    centred = replace(data, normalize="center")
    tasks = lc.task_map(reference, {"all": lc.Quantize(k=2)})
    result = lc.run_lc(reference, tasks, centred, lc.LCConfig(**{**FAST, "steps": 1}),
                       progress=False)  # fmt: skip
    assert not result.diverged and len(result.history) == 2
    assert {"l_seconds", "c_seconds", "eval_seconds"} <= set(result.history.columns)
    row = result.history.iloc[1]
    assert row["seconds"] == pytest.approx(
        row["l_seconds"] + row["c_seconds"] + row["eval_seconds"]
    )
