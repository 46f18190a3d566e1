"""Every notebook runs under papermill in the smoke profile with injected parameters, and its
metrics.json holds what those parameters ask for."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest
from factories import write_cifar_like

from course_lib.assign.grading import read_outcome, read_points, score, shown_verdicts

ROOT = Path(__file__).resolve().parents[2]
POINTS = read_points(ROOT / "assignments" / "points.yaml")


def check_training(metrics):
    assert metrics["model"] == "lenet300" and metrics["params"] == 266610
    assert metrics["normalize"] == "center"
    assert 0.5 < metrics["test_accuracy"] <= 1 and metrics["epochs"] == 1
    # one at a time around the reference's lr 0.1 and batch 256: the centre, then each value off it
    assert metrics["design"] == "one_at_a_time" and metrics["factorial_runs"] == 2
    grid = [(run["lr"], run["batch_size"]) for run in metrics["grid"]]
    assert grid == [(0.1, 256), (0.05, 256), (0.01, 256), (0.1, 128)]
    assert all(run["activation"] == "tanh" for run in metrics["grid"])  # the reference's options
    assert {"momentum", "init", "max_epochs"} <= set(metrics["grid"][0])
    assert {run["lr"]: run["diverged"] for run in metrics["learning_rates"]}[1000.0] is True
    # 2048 images in batches of 256: 8 steps, the validation split evaluated after every 2nd
    assert [row["step"] for row in metrics["val_steps"]] == [2, 4, 6, 8]
    assert metrics["val_steps"][-1]["val_accuracy"] == metrics["val_accuracy"]
    (augment,) = metrics["comparisons"]
    assert [run["augment"] for run in augment] == [False, True]
    assert [run["epochs"] for run in augment] == [2, 2]
    assert augment[0]["train_loss"] != augment[1]["train_loss"]
    figures = {"steps", "epochs", "confusion", "grid_lr", "grid_batch_size", "lr", "comparison_0"}
    assert figures <= set(metrics["figures"])


def check_lc_compression(metrics):
    assert metrics["profile"] == "smoke" and metrics["model"] == "lenet300"
    assert 0 < metrics["reference"]["test_error"] < 0.9
    runs = {run["run"]: run for run in metrics["runs"]}
    assert set(runs) == {"pruning 0.05", "quantization 2", "fixed rank 5"}
    assert round(runs["quantization 2"]["ratio"], 1) == 30.5
    assert runs["pruning 0.05"]["params"] == round(0.05 * 266200) + 410
    assert runs["fixed rank 5"]["tasks"].startswith("fc1: low-rank r = 5")
    for run in metrics["runs"] + metrics["mixes"] + metrics["schedules"]:
        assert {"ratio", "train_error", "test_error", "direct_test_error", "tasks"} <= set(run)
    assert metrics["normalize"] == "center"
    assert len(metrics["mixes"]) == 16  # 8 mixes (all three in both orders) at 2 budget points
    assert len({row["method"] for row in metrics["mixes"]}) == 8
    assert metrics["lc_config"]["mu_schedule"] == [9e-4]
    assert {
        "error_vs_ratio",
        "error_vs_codebook",
        "pareto_lenet300",
        "mu_effect",
        "mix_error_vs_ratio",
    } <= set(metrics["figures"])
    disk = {row["run"]: row for row in metrics["on_disk"]}
    assert set(disk) == set(runs) | {row["run"] for row in metrics["mixes"]}
    k2 = disk["quantization 2"]  # 30.5x by the ledger, a file of 36 KB: 29.5x on disk
    assert round(k2["ratio"], 1) == 30.5 and 28 < k2["ratio_on_disk"] < k2["ratio"]
    assert 0 <= k2["overhead_bytes"] - k2["header_bytes"] - 18 < 4  # prefix, one byte a layer
    for name in ("quantization 2", "pruning 0.05"):
        assert disk[name]["loaded_test_error"] == disk[name]["test_error"]


def check_runtimes(rows, models, accuracy):
    """notebooks 03-05: each model in each runtime, eager PyTorch's accuracy the notebook's."""
    runtimes = ["eager", "onnxruntime", "onnxruntime-int8"]
    assert [(row["model"], row["runtime"]) for row in rows] == [
        (model, runtime) for model in models for runtime in runtimes
    ]
    by = {(row["model"], row["runtime"]): row for row in rows}
    assert by[models[1], "eager"]["accuracy"] == accuracy
    assert by[models[1], "onnxruntime"]["accuracy"] == pytest.approx(accuracy, abs=0.005)
    assert by[models[1], "eager"]["file_bytes"] < by[models[0], "eager"]["file_bytes"]
    assert all(row["ms_per_image"] > 0 and row["speedup_vs_eager"] > 0 for row in rows)


def check_pruning(metrics):
    assert metrics["profile"] == "smoke" and metrics["model"] == "fashion_cnn"
    scan = metrics["sensitivity"]
    assert scan["rates"] == [0.0, 0.8] and scan["scope"] == "global"
    assert list(scan["accuracy"]) == ["conv2", "fc1", "all layers"]
    assert all(curve[0] == scan["baseline"] for curve in scan["accuracy"].values())
    structured = metrics["structured"]
    assert structured["settings"]["order"] == "cheapest"
    assert structured["settings"]["round_to"] == {"conv2": 1, "fc1": 4}
    assert structured["widths"] == {"conv2": 12, "fc1": 96}  # 4 removals: 4 steps, 1 step of 4
    assert structured["trajectory"]["phase"] == ["start"] + ["prune"] * 5
    assert structured["settings"]["latency"]["batch_size"] == 64  # the table of layer times
    assert all(ms > 0 for ms in structured["trajectory"]["latency_ms"])
    assert structured["settings"]["latency_step"] is None  # only order "latency" steps by time
    chosen = metrics["chosen"]
    assert (chosen["c1"], chosen["c2"], chosen["f1"]) == (12, 12, 96)
    assert all(type(chosen[key]) is int for key in ("c1", "c2", "f1", "params", "flops"))
    assert chosen["final_epochs"] == 0
    assert chosen["test_accuracy"] == chosen["test_accuracy_before_finetune"]
    assert chosen["flops"] == chosen["formula_torch"] < chosen["original"]["flops"]
    assert chosen["timing"]["batch_size"] == 64 and chosen["timing"]["images"] == 10000
    by_layer = chosen["time_by_layer"]
    assert by_layer["conv2"]["flops_pruned"] == 64 * 2 * 12 * 12 * 25 * 22 * 22
    assert by_layer["total"]["flops_pruned"] == 64 * chosen["flops"]
    assert metrics["masked_speedup"]["flop_ratio"] == 1.0
    check_runtimes(metrics["runtimes"], ["original", "pruned"], chosen["test_accuracy"])
    assert all(row["batch_size"] == 64 for row in metrics["runtimes"])
    assert {"sensitivity", "histograms", "structured"} <= set(metrics["figures"])


def check_tucker(metrics):
    assert metrics["profile"] == "smoke" and metrics["model"] == "vgg_small"
    assert metrics["layers"] == ["conv3", "conv5"] and metrics["method"] == "hosvd"
    assert metrics["full_rank_output_error"] < 1e-5
    curves = metrics["curves"]
    assert metrics["curve_held_rank"] == 16
    assert [(row["varied"], row["rank"], row["R1"], row["R2"]) for row in curves] == [
        ("R1", 1, 1, 16), ("R1", 16, 16, 16), ("R1", 32, 32, 16),
        ("R2", 1, 16, 1), ("R2", 32, 16, 32), ("R2", 64, 16, 64),
    ]  # fmt: skip
    sweep = {row["model"]: row for row in metrics["sweep"]}
    assert list(sweep) == ["original", "k=1", "k=8"]
    assert sweep["original"]["accuracy"] == metrics["reference_accuracy"]
    # full ranks: the same outputs up to float rounding, so at most one of 256 test images flips
    assert sweep["k=8"]["accuracy"] == pytest.approx(metrics["reference_accuracy"], abs=1 / 256)
    assert sweep["k=1"]["flop_ratio"] > 1 > sweep["k=8"]["flop_ratio"]
    assert sweep["k=1"]["accuracy_tuned"] is not None and sweep["k=8"]["accuracy_tuned"] is None
    assert {row["layer"] for row in metrics["sweep_layers"]} == {"conv3", "conv5"}
    assert [row["k"] for row in metrics["methods"]] == [1, 8]
    assert {"reconstruction", "accuracy", "forward_time"} <= set(metrics["figures"])
    check_runtimes(metrics["runtimes"], ["original", "k=1"], sweep["k=1"]["accuracy_tuned"])


def check_alpha_branch(metrics):
    assert metrics["profile"] == "smoke" and metrics["model"] == "vgg_small"
    assert metrics["schedule"] == [0.5, 0.0]
    assert [row["pair"] for row in metrics["branches"]] == ["conv6 -> fc1", "fc1 -> fc2"]
    stages = metrics["runs"]["frozen"]["stages"]
    assert [stage["alpha"] for stage in stages] == [0.5, 0.0]
    assert metrics["folded_run"] == "frozen"
    check = metrics["fold_check"]
    assert check["folded_accuracy"] == check["branched_accuracy"] == stages[-1]["test_accuracy"]
    costs = {row["model"]: row for row in metrics["costs"] if row["device"] == "cpu"}
    # conv6 128 -> 32 outputs, bn6 folded away, fc1 32*9 -> 64, fc2 64 -> 10 inputs
    assert costs["original"]["params"] == 585066
    assert costs["folded"]["params"] == 585066 - 147584 + 36896 - 256 - 295168 + 18496 - 2570 + 650
    assert {"alpha_stages", "alpha_accuracy", "costs"} <= set(metrics["figures"])
    check_runtimes(metrics["runtimes"], ["original", "folded"], check["folded_accuracy"])
    assert metrics["start_from"] == {}


CASES = {
    "01_training": (
        {
            "model": "lenet300",
            "model_kwargs": {"activation": "tanh"},  # a reference of its own in the model cache,
            "val_every": 2,  # trained with validation every 2 steps
            "normalize": "center",  # on inputs x/255 − mean
            "grid": {"lr": [0.05, 0.01], "batch_size": [128]},
            "design": "one_at_a_time",
            "divergence_lrs": [1000.0],
            "comparisons": [{"augment": [False, True]}],
            "comparison_epochs": 2,
        },
        check_training,
    ),
    "02_lc_compression": (
        {
            "codebook_sizes": [2],
            "keep_fractions": [0.05],
            "rank_alphas": [],
            "ranks": [5],
            "normalize": "center",
            "mix_budgets": [
                {"pruning": 0.1, "quantization": 2, "low-rank": 1e-8},
                {"pruning": 0.05, "quantization": 4, "low-rank": 1e-7},
            ],
        },
        check_lc_compression,
    ),
    "03_pruning": (
        {
            "prune_rates": [0.8, 0.0],
            "scan_layers": ["conv2", "fc1"],
            "scope": "global",
            "histogram_rate": 0.8,
            "structured_layers": ["conv2", "fc1"],
            "norm": "l1",
            "order": "cheapest",
            "accuracy_floor": 0.0,
            "max_removals": 4,
            "round_to": {"fc1": 4},
            "finetune_epochs": 0,
            "final_epochs": 0,
            "eval_images": 200,
            "latency_batch": 64,
            "latency_repeats": 2,
        },
        check_pruning,
    ),
    "04_tucker": (
        {
            "layers": ["conv3", "conv5"],
            "ks": [1, 8],
            "finetune_ks": [1],
            "curve_layer": "conv3",
            "curve_points": 3,
            "curve_held_rank": 16,
            "method": "hosvd",
        },
        check_tucker,
    ),
    "05_alpha_branch": (
        {
            "layers": ["conv6", "fc1"],
            "widths": {"conv6": 32, "fc1": 64},
            "branch_init": "random",
            "alphas": [0.5, 0.0],
            "pretrained_weights": ["frozen"],
        },
        check_alpha_branch,
    ),
}


def execute(notebook: str, folder, parameters: dict, **options) -> None:
    """Run ``notebook`` in the smoke profile with ``parameters``, writing into ``folder/run``."""
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{notebook}.ipynb"),
        str(folder / "executed.ipynb"),
        parameters={"profile": "smoke", "output_dir": str(folder / "run"), **parameters},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
        **options,
    )


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", CASES)
def test_notebook_runs_with_injected_parameters(notebook, tmp_path):
    parameters, check = CASES[notebook]
    out = tmp_path / "run"
    execute(notebook, tmp_path, parameters)
    metrics = json.loads((out / "metrics.json").read_text())
    check(metrics)
    assert all((out / f"{name}.png").is_file() for name in metrics["figures"])
    # the instructor's solutions pass every check, visible and hidden: full marks
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    outcome = read_outcome(executed)
    outcome.verdicts = shown_verdicts(executed)
    exercises = POINTS.exercises[notebook]
    assert score(outcome, exercises) == exercises, outcome.to_dict()
    assert not outcome.fallbacks and len(outcome.verdicts) == len(exercises)


@pytest.mark.notebook
def test_seed_003s_experiments_run_on_cifar10(tmp_path, monkeypatch):
    """Seed 003's Part 1 as section 4 of notebook 01 runs it, on CIFAR-10 files in the upstream
    format (small and random here, in a model cache of their own): the reference at lr 0.001
    without augmentation, lr 0.1 and 1 beside it, with and without max-pooling, without and with
    augmentation; each comparison is its own figure."""
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    write_cifar_like(tmp_path / "data" / "cifar-10-batches-py", per_batch=300)
    parameters = {
        "dataset": "cifar10",
        "model": "cifar_cnn",
        "data_dir": str(tmp_path / "data"),
        "lr": 0.001,
        "step_size": 0,
        "augment": False,
        "grid": {"lr": [0.01, 0.001]},
        "divergence_lrs": [0.1, 1.0],
        "comparisons": [{"pool": [True, False]}, {"augment": [False, True]}],
    }
    execute("01_training", tmp_path, parameters)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == "cifar10" and metrics["model"] == "cifar_cnn"
    assert [run["lr"] for run in metrics["learning_rates"]] == [0.001, 0.1, 1.0]
    pool, augment = metrics["comparisons"]
    assert [run["pool"] for run in pool] == [True, False]
    assert all(run["lr"] == 0.001 and run["max_epochs"] == 1 for run in pool)
    assert [run["augment"] for run in augment] == [False, True]
    assert pool[0]["train_loss"] != pool[1]["train_loss"]
    assert augment[0]["train_loss"] != augment[1]["train_loss"]
    figures = {"comparison_0", "comparison_1", "lr", "lr_epochs", "steps", "epochs"}
    assert figures <= set(metrics["figures"])


def test_notebook_03_prunes_the_net_a_student_tuned(tmp_path, monkeypatch):
    """reference=<a checkpoint>: notebook 03 prunes that net (a narrower fashion_cnn than the
    shared reference), and trains or caches no reference of its own."""
    from course_lib import costs
    from course_lib.checkpoints import save_checkpoint
    from course_lib.models import build_model
    from course_lib.train import TrainConfig

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    config = TrainConfig(model="fashion_cnn", dataset="fashion-mnist", model_kwargs={"c1": 6})
    net = build_model("fashion_cnn", c1=6)
    path = save_checkpoint(tmp_path / "tuned.pt", net, config, {}, (1, 28, 28))
    parameters = {**CASES["03_pruning"][0], "reference": str(path), "max_removals": 1}
    execute("03_pruning", tmp_path, parameters)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["reference"] == str(path) and list(cache.rglob("*.pt")) == []
    assert metrics["chosen"]["original"]["params"] == costs.count_params(net)
    assert metrics["chosen"]["c1"] == 6


@pytest.mark.notebook
def test_notebook_05_goes_on_from_a_saved_run(tmp_path):
    """Seed 004 Fig 3: a second run starts from the model the first saved (its frozen run, at
    the α it reached), trains it with trainable weights, and leaves the first run's file as it
    was."""
    parameters = CASES["05_alpha_branch"][0]
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    execute("05_alpha_branch", tmp_path / "first", parameters)
    first = tmp_path / "first" / "run"
    saved = first / "branched" / "frozen.pt"
    before = saved.read_bytes()
    reached = json.loads((first / "metrics.json").read_text())["runs"]["frozen"]["stages"][-1]
    again = {**parameters, "pretrained_weights": ["trainable"], "start_from": str(saved)}
    execute("05_alpha_branch", tmp_path / "second", again)
    metrics = json.loads((tmp_path / "second" / "run" / "metrics.json").read_text())
    assert metrics["start_from"] == {"trainable": {"path": str(saved), "alpha": 0.0}}
    segments = metrics["runs"]["trainable"]["segments"]
    assert segments[0]["alpha"] == 0.0 and not segments[0]["resumed"]  # 0.5 is above its α
    assert segments[0]["entry_val_accuracy"] == reached["val_accuracy"]
    assert (tmp_path / "second" / "run" / "branched" / "trainable.pt").is_file()
    assert saved.read_bytes() == before


REFUSALS = [
    (
        "01_training",
        {"epochz": 2},
        "01_training has no parameter 'epochz' (did you mean 'epochs'?)",
    ),
    (
        "02_lc_compression",
        {"keep_fractions": [0.1, 1.5]},
        "02_lc_compression: keep_fractions[1] must be a number in",
    ),
    ("03_pruning", {"model": "resnet_small"}, "03_pruning: model must be one of 'lenet300'"),
    ("03_pruning", {"reference": "/no/such.pt"}, "reference '/no/such.pt' does not exist"),
    ("04_tucker", {"ks": [2, 9]}, "04_tucker: ks[1] must be an integer in [1, 8], got 9."),
    ("05_alpha_branch", {"lr": "fast"}, "05_alpha_branch: lr must be a number > 0, got 'fast'."),
    # the widths need the layers' shapes: chosen on the untrained net in the same first cell
    ("05_alpha_branch", {"layers": ["fc1"], "remove_fraction": 0.9}, "Even 1-wide branches"),
    ("05_alpha_branch", {"start_from": "/no/such/run"}, "05_alpha_branch: start_from '/no/such"),
]


@pytest.mark.notebook
@pytest.mark.parametrize(("notebook", "parameters", "message"), REFUSALS)
def test_a_bad_value_is_refused_by_the_first_cell_before_any_work(
    notebook, parameters, message, tmp_path, monkeypatch
):
    """Run as the README teaches (papermill directly), a bad value ends the notebook in the cell
    that calls profiles.resolve, before any data is loaded or reference trained or loaded: the
    empty model cache stays empty and no output folder is made."""
    cache, out = tmp_path / "cache", tmp_path / "run"
    cache.mkdir()
    monkeypatch.setenv("COURSE_CACHE", str(cache))
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        # a value that slipped through would start training: a cell may not take that long
        execute(notebook, tmp_path, parameters, execution_timeout=120)
    error = caught.value
    assert error.ename == "CourseError" and error.evalue.startswith(message)
    assert f'profiles.resolve("{notebook}", globals())' in error.source
    assert list(cache.iterdir()) == [] and not out.exists()
