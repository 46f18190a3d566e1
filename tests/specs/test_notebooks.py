"""The notebooks' specs: every profile passes its spec, the choices and layer catalogues agree with
the methods that use them, and a bad value of any kind is refused by the notebook's first cell
(``profiles.resolve``) with one line naming the parameter, the value and what is allowed."""

import warnings
from dataclasses import fields
from pathlib import Path

import pytest

from course_lib import branches, explore, lc, models, profiles, prune, specs, surgery, tucker
from course_lib.branches.attach import BRANCH_INITS
from course_lib.branches.schedule import PRETRAINED_MODES
from course_lib.errors import CourseError
from course_lib.runs.parameters import inspect_parameters
from course_lib.specs import fit
from course_lib.specs.notebooks import BUDGETS, MIX_POINT, TRAINING
from course_lib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
SHAPES = [(1, 28, 28), (3, 32, 32)]


def cell(notebook: str) -> dict:
    """The parameters cell's own values, as the notebook's globals hold them."""
    table = inspect_parameters(ROOT / "notebooks" / f"{notebook}.ipynb")
    return {name: parameter.default for name, parameter in table.items()}


@pytest.mark.parametrize("notebook", specs.SPECS)
@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_every_profile_of_every_notebook_passes_its_spec(notebook, profile):
    settings = profiles.resolve(notebook, cell(notebook) | {"profile": profile})
    assert settings.profile == profile


def test_the_choices_are_the_ones_the_methods_accept():
    rules = {name: spec.parameters for name, spec in specs.SPECS.items()}
    assert set(rules["03_pruning"]["norm"].values) == set(prune.P_NORMS)
    assert set(rules["03_pruning"]["order"].values) == set(prune.ORDERS)
    assert set(rules["03_pruning"]["scope"].values) == set(prune.magnitude.SCOPES)
    assert set(rules["04_tucker"]["method"].values) == set(tucker.METHODS)
    assert set(rules["01_training"]["design"].values) == set(explore.DESIGNS)
    assert set(BUDGETS) == set(lc.studies.METHODS)
    assert set(MIX_POINT.fields) == set(lc.LAYER_COMPRESSIONS)
    assert set(rules["05_alpha_branch"]["branch_init"].values) == set(BRANCH_INITS)
    assert set(rules["05_alpha_branch"]["pretrained_weights"].item.values) == set(PRETRAINED_MODES)
    assert set(TRAINING) == {f.name for f in fields(TrainConfig)}
    for field in fields(TrainConfig):  # the library's defaults pass the notebook's rules
        TRAINING[field.name].check(field.name, getattr(TrainConfig(), field.name))
    # a model the notebook offers is one its methods can use
    for name in rules["03_pruning"]["model"].values:
        assert prune.prunable_layers(models.build_model(name))
    for name in rules["04_tucker"]["model"].values:
        assert tucker.default_layers(models.build_model(name))
    assert not tucker.conv_layers(models.build_model("lenet300"))


@pytest.mark.parametrize("model", models.MODELS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_layer_catalogues_match_the_methods(model, shape):
    net = models.build_model(model, shape)
    assert prune.weight_layers is surgery.weight_layers  # the one catalogue scan_layers names
    assert fit.convolutions(net) == tucker.conv_layers(net)
    assert fit.spatial_convolutions(net) == tucker.default_layers(net)
    assert fit.pair_heads(net) == [pair.name for pair in branches.find_pairs(net)]
    if isinstance(net, models.nn.Sequential):
        assert fit.prunable_layers(net) == prune.prunable_layers(net)
    else:
        assert fit.prunable_layers(net) == []


REFUSED = [
    ("01_training", {"lr": "fast"}, "lr must be None or a number > 0, got 'fast'"),
    ("01_training", {"lr": float("nan")}, "lr must be None or a number > 0, got nan"),
    ("01_training", {"epochs": 0}, "epochs must be None or an integer >= 1, got 0"),
    ("01_training", {"epochs": True}, "epochs must be None or an integer >= 1, got True"),
    ("01_training", {"momentum": 1.0}, r"momentum must be None or a number in \[0, 1\)"),
    ("01_training", {"seed": -1}, r"seed must be an integer in \[0, 4294967295\], got -1"),
    ("01_training", {"seed": 2**64}, "seed must be an integer in"),
    ("01_training", {"init": "he"}, "init must be None or one of 'default'"),
    ("01_training", {"nesterov": True, "momentum": 0}, "nesterov=True needs momentum > 0"),
    ("01_training", {"model": "resnet"}, "model must be one of 'lenet300'"),
    ("01_training", {"dataset": "imagenet"}, "dataset must be one of 'mnist'"),
    ("01_training", {"grid": {}}, "grid must be a non-empty mapping"),
    ("01_training", {"grid": {"lr": []}}, r"grid\['lr'\] must be a non-empty list"),
    ("01_training", {"grid": {"lr": 0.1}}, r"grid\['lr'\] must be a non-empty list"),
    ("01_training", {"grid": {"lr": [0.1, "x"]}}, r"grid\['lr'\]\[1\] must be a number > 0"),
    ("01_training", {"grid": {"c1": [0]}}, r"grid\['c1'\] holds 0, which does not build fashion"),
    ("01_training", {"grid": {"c9": [1]}}, "grid has the key 'c9', neither a training setting"),
    ("01_training", {"grid": {"f1": [100, 10**9]}}, r"grid\['f1'\] holds 1000000000, a size over"),
    ("01_training", {"grid": {"k1": [3, 100]}}, r"grid\['k1'\] holds 100, which does not build"),
    ("01_training", {"model_kwargs": {"c7": 3}}, "model_kwargs has the key 'c7', not an option"),
    (
        "01_training",
        {"model_kwargs": {"k1": 40}},
        r"model_kwargs holds \{'k1': 40\}, which does not build",
    ),
    ("01_training", {"model_kwargs": {"k1": 5000}}, "model_kwargs holds 5000, a size over"),
    ("01_training", {"design": "latin"}, "design must be one of 'factorial'"),
    ("01_training", {"val_every": -5}, "val_every must be an integer >= 0, got -5"),
    ("01_training", {"augment": "yes"}, "augment must be None or"),
    (
        "01_training",
        {"comparisons": [{"lr": [0.1]}, {"pool": [False]}]},
        r"comparisons\[1\] has the key 'pool', neither",
    ),
    ("01_training", {"comparisons": {"lr": [0.1]}}, "comparisons must be a list"),
    ("01_training", {"comparison_epochs": 0}, "comparison_epochs must be an integer >= 1"),
    ("01_training", {"divergence_lrs": [0.1, -1]}, r"divergence_lrs\[1\] must be a number > 0"),
    ("01_training", {"output_dir": ""}, "output_dir must be None or a folder path, got ''"),
    ("01_training", {"data_dir": "/no/such/folder"}, "data_dir must be None or an existing fol"),
    (
        "02_lc_compression",
        {"keep_fractions": [1.5]},
        r"keep_fractions\[0\] must be a number in \(0, 1\]",
    ),
    ("02_lc_compression", {"codebook_sizes": [1]}, r"codebook_sizes\[0\] must be an integer >= 2"),
    ("02_lc_compression", {"ranks": [2, 2]}, "ranks holds 2 twice"),
    ("02_lc_compression", {"mu0": 0}, "mu0 must be a number > 0, got 0"),
    ("02_lc_compression", {"mu_growth": 0.9}, "mu_growth must be a number >= 1, got 0.9"),
    ("02_lc_compression", {"steps": 0}, "steps must be an integer >= 1, got 0"),
    ("02_lc_compression", {"model": "vgg_small"}, "model must be one of 'lenet300', 'lenet5'"),
    ("02_lc_compression", {"mix_budgets": {"pruning": 0.1}}, "mix_budgets must be a mapping of"),
    (
        "02_lc_compression",
        {"mix_budgets": [{"pruning": [0.2, 1.5], "quantization": 2, "low-rank": 1e-8}]},
        r"mix_budgets\[0\]\['pruning'\]\[1\] must be a number",
    ),
    (
        "02_lc_compression",
        {"schedule_method": "pruning", "schedule_budget": 2},
        "a budget of pruning",
    ),
    ("02_lc_compression", {"schedule_method": "magic"}, "schedule_method must be one of"),
    (
        "02_lc_compression",
        {"keep_fractions": [], "codebook_sizes": [], "rank_alphas": [], "ranks": []},
        "are all empty: give at least one budget",
    ),
    ("03_pruning", {"prune_rates": [0.5, 1.5]}, r"prune_rates\[1\] must be a number in \[0, 1\]"),
    ("03_pruning", {"prune_rates": []}, "prune_rates must be a non-empty list"),
    ("03_pruning", {"norm": "l3"}, "norm must be one of 'l1', 'l2', got 'l3'"),
    ("03_pruning", {"order": "random"}, "order must be one of 'sequential'"),
    ("03_pruning", {"model": "resnet_small"}, "model must be one of 'lenet300'.*'resnet_small'"),
    ("03_pruning", {"accuracy_floor": 87}, r"accuracy_floor must be a number in \[0, 1\], got 87"),
    ("03_pruning", {"scan_layers": ["conv9"]}, "scan_layers holds 'conv9', not a conv or linear"),
    ("03_pruning", {"structured_layers": ["fc2"]}, "structured_layers holds 'fc2'.*never the out"),
    ("03_pruning", {"structured_layers": "fc1"}, "structured_layers must be a non-empty list"),
    ("03_pruning", {"histogram_rate": 0.7}, "histogram_rate must be one of prune_rates"),
    ("03_pruning", {"round_to": {"conv9": 4}}, "round_to holds 'conv9', not a structured_layers"),
    ("03_pruning", {"round_to": 0}, "round_to must be an integer >= 1, or a non-empty mapping"),
    ("03_pruning", {"max_removals": {"fc2": 4}}, "max_removals holds 'fc2', not a structured"),
    ("03_pruning", {"latency_step": 1}, r"latency_step must be a number in \(0, 1\), got 1"),
    ("03_pruning", {"threads": 0}, r"threads must be an integer in \[1, 256\], got 0"),
    ("03_pruning", {"threads": 10**6}, r"threads must be an integer in \[1, 256\], got 1000000"),
    ("04_tucker", {"latency_batch": 10**9}, r"latency_batch must be an integer in \[1, 10000\]"),
    ("05_alpha_branch", {"latency_batch": 0}, r"latency_batch must be an integer in \[1, 10000\]"),
    ("04_tucker", {"ks": [0, 9]}, r"ks\[0\] must be an integer in \[1, 8\], got 0"),
    ("04_tucker", {"ks": [2, 9]}, r"ks\[1\] must be an integer in \[1, 8\], got 9"),
    ("04_tucker", {"model": "lenet300"}, "model must be one of 'vgg_small', 'cifar_cnn'"),
    ("04_tucker", {"layers": ["fc1"]}, "layers holds 'fc1', not a convolution of vgg_small"),
    ("04_tucker", {"curve_layer": "fc1"}, "curve_layer holds 'fc1', not a convolution"),
    ("04_tucker", {"model": "resnet_small"}, "curve_layer holds 'conv2'.*smoke profile's value"),
    ("04_tucker", {"finetune_ks": [3]}, r"finetune_ks holds 3, not one of ks \[2, 8\]"),
    ("04_tucker", {"method": "svd"}, "method must be one of 'hooi', 'hosvd'"),
    ("04_tucker", {"energy": 0}, r"energy must be a number in \(0, 1\], got 0"),
    (
        "04_tucker",
        {"curve_points": 10**9},
        r"curve_points must be None or an integer in \[2, 1024\]",
    ),
    ("04_tucker", {"channels_last": "yes"}, "channels_last must be True or False"),
    ("05_alpha_branch", {"alpha_step": 0}, r"alpha_step must be a number in \[0.0001, 1\], got 0"),
    ("05_alpha_branch", {"remove_fraction": 1.0}, r"remove_fraction must be a number in \(0, 1\)"),
    ("05_alpha_branch", {"layers": ["fc2"]}, "layers holds 'fc2', not the first layer of a pair"),
    ("05_alpha_branch", {"widths": {"conv1": 8}}, "widths must name exactly the branched pairs"),
    (
        "05_alpha_branch",
        {"layers": ["conv6"], "widths": {"conv6": 999}},
        r"widths\['conv6'\] must be at most conv6's 128 units of vgg_small, got 999",
    ),
    ("05_alpha_branch", {"alphas": [1.0, 0.5]}, "alphas must never rise and must end at 0"),
    ("05_alpha_branch", {"alphas": [0.5, 1.0, 0.0]}, "alphas must never rise"),
    ("05_alpha_branch", {"pretrained_weights": ["both"]}, r"pretrained_weights\[0\] must be one"),
    ("05_alpha_branch", {"resume_lrs": [0]}, r"resume_lrs\[0\] must be a number > 0, got 0"),
    ("05_alpha_branch", {"branch_init": "zeros"}, "branch_init must be one of 'channels'"),
]


@pytest.mark.parametrize(("notebook", "given", "message"), REFUSED)
def test_a_bad_value_is_refused_in_one_line_naming_it(notebook, given, message):
    with pytest.raises(CourseError, match=f"^{notebook}: .*{message}") as caught:
        profiles.resolve(notebook, cell(notebook) | {"profile": "smoke"} | given)
    assert "\n" not in str(caught.value)


def test_every_parameter_of_every_notebook_is_checked():
    """Each spec names every parameter of its notebook's cell (profile aside): none goes
    unchecked; and the bad values above reach every notebook."""
    for notebook, spec in specs.SPECS.items():
        assert set(spec.parameters) | {"profile"} == set(cell(notebook)), notebook
    assert {notebook for notebook, _, _ in REFUSED} == set(specs.SPECS)


def test_a_value_from_a_badly_edited_profile_is_refused_naming_the_file(tmp_path, monkeypatch):
    original = (profiles.FOLDER / "03_pruning.yaml").read_text()
    monkeypatch.setattr(profiles, "FOLDER", tmp_path)
    profiles.load_profile_file.cache_clear()
    try:
        path = tmp_path / "03_pruning.yaml"
        path.write_text(original.replace("norm: l2", "norm: l7", 1))
        with pytest.raises(CourseError, match="norm must be one of .*got 'l7'. It is the smoke "):
            profiles.resolve("03_pruning", cell("03_pruning") | {"profile": "smoke"})
        # the parameter given wins over the broken profile value
        given = cell("03_pruning") | {"profile": "smoke", "norm": "l1"}
        assert profiles.resolve("03_pruning", given).norm == "l1"
        for text, message in [
            ("smoke: [unclosed", "is not valid YAML"),
            ("- a list", "must be a mapping"),
            (original.split("\ndefault:")[0], "lacks the profile 'default'"),
            (original.replace("  threads: 1\n", "", 1), r"differ in the settings \['threads'\]"),
        ]:
            path.write_text(text)
            profiles.load_profile_file.cache_clear()
            with pytest.raises(CourseError, match=message):
                profiles.resolve("03_pruning", cell("03_pruning") | {"profile": "smoke"})
    finally:
        profiles.load_profile_file.cache_clear()


def test_a_notebook_without_a_spec_is_refused():
    with pytest.raises(CourseError, match="No parameter spec for '06_new'"):
        specs.spec_of("06_new")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        profiles.resolve("05_alpha_branch", cell("05_alpha_branch"))  # no warning for the cell
