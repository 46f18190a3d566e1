"""The spec of each course notebook: every parameter of its ``parameters`` cell (``profile``
aside) with its rule, and the relations that need several parameters or the model.

The choices here are the ones the methods accept (prune's P_NORMS, ORDERS and SCOPES, tucker's
METHODS, lc's METHODS, branches' BRANCH_INITS and PRETRAINED_MODES): core may not import the
methods, so tests/specs checks that they agree.
"""

from __future__ import annotations

from pathlib import Path

from course_lib.data import DATASETS, NORMALIZATIONS
from course_lib.errors import CourseError
from course_lib.models import INITS, MODELS
from course_lib.specs import fit
from course_lib.specs.rules import (
    Anything,
    Choice,
    Either,
    Flag,
    Folder,
    Integer,
    ListOf,
    Location,
    MappingOf,
    Number,
    Optional,
    Record,
    Rule,
    Text,
    shown,
)
from course_lib.specs.spec import Relation, Spec
from course_lib.surgery import weight_layers

SEED = Integer(0, 2**32 - 1)
IMAGES = Optional(Integer(1))  # a number of images; None: all of them
POSITIVE = Number(0, open_low=True)
FRACTION = Number(0, 1)
LAYER_NAMES = Optional(ListOf(Text(), distinct=True))  # None: the notebook's default layers
THREADS = Integer(1, 256)  # torch threads while timing (a million threads hang torch)
TIMED_BATCH = Integer(1, 10_000)  # images per timed pass: at most a test set, which is 10000
COMMON: dict[str, Rule] = {
    "dataset": Choice(*DATASETS),
    "seed": SEED,
    "output_dir": Optional(Folder()),
    "data_dir": Optional(Folder(existing=True)),
}
# Notebooks 02-05: None, the shared cached reference; else a notebook-01 run folder or checkpoint.
REFERENCE = Optional(Location())
# Every TrainConfig field: notebook 01's training parameters, and the keys of its grid.
TRAINING: dict[str, Rule] = {
    "model": Choice(*MODELS),
    "model_kwargs": MappingOf(Anything(), min_len=0),
    "dataset": Choice(*DATASETS),
    "epochs": Integer(1),
    "batch_size": Integer(1),
    "lr": POSITIVE,
    "momentum": Number(0, 1, open_high=True),
    "nesterov": Flag(),
    "weight_decay": Number(0),
    "step_size": Integer(0),
    "gamma": Number(0, 1, open_low=True),
    "init": Choice(*INITS),
    "seed": SEED,
    "val_size": Optional(Integer(0)),
    "subset": IMAGES,
    "augment": Optional(Flag()),
    "normalize": Choice(*NORMALIZATIONS),
    "device": Optional(Text()),
    "val_every": Integer(0),
}
# An LC method's budget (notebook 02): what lc.method_spec takes for each method.
BUDGETS: dict[str, Rule] = {
    "pruning": Number(0, 1, open_low=True),
    "quantization": Integer(2),
    "low-rank": POSITIVE,
    "fixed rank": Integer(1),
}
# One budget point of notebook 02's mixes: pruning keeps a fraction of each layer's weights, or
# one fraction per layer of the group (seed 002's κ = 104 and 2,505 of LeNet-5's convs).
MIX_POINT = Record(
    {
        "pruning": Either(BUDGETS["pruning"], ListOf(BUDGETS["pruning"])),
        "quantization": BUDGETS["quantization"],
        "low-rank": BUDGETS["low-rank"],
    }
)


def _grid_fits(model: str, dataset: str, grid: dict, name: str = "grid") -> None:
    """Each grid key is a training setting (its values checked as such) or an option of the
    model (each value must build it)."""
    options = fit.model_options(model)
    for key, values in grid.items():
        if key in TRAINING:
            for index, value in enumerate(values):
                TRAINING[key].check(f"{name}[{key!r}][{index}]", value)
        elif key in options:
            for value in values:
                fit.check_option(f"{name}[{key!r}]", model, dataset, key, value)
        else:
            raise CourseError(
                f"{name} has the key {key!r}, neither a training setting nor an option of "
                f"{model}: use {', '.join([*TRAINING, *options])}."
            )


def _comparisons_fit(model: str, dataset: str, comparisons: list) -> None:
    for index, grid in enumerate(comparisons):
        _grid_fits(model, dataset, grid, f"comparisons[{index}]")


def _options_build(model: str, dataset: str, model_kwargs: dict | None) -> None:
    """Each key of ``model_kwargs`` is an option of the model, and together they build it."""
    options = fit.model_options(model)
    for key in model_kwargs or {}:
        if key not in options:
            raise CourseError(
                f"model_kwargs has the key {key!r}, not an option of {model}: use "
                f"{', '.join(options) or 'none (it takes no options)'}."
            )
    if model_kwargs:
        fit.check_options("model_kwargs", model, dataset, model_kwargs)


def _nesterov_needs_momentum(nesterov, momentum) -> None:
    if nesterov and momentum == 0:
        raise CourseError("nesterov=True needs momentum > 0, got momentum 0: raise it or drop it.")


TRAINING_PARAMETERS = ("epochs", "batch_size", "lr", "momentum", "nesterov", "step_size")
TRAINING_PARAMETERS += ("gamma", "init", "augment", "normalize", "model_kwargs")
DESIGNS = ("factorial", "one_at_a_time")  # explore.DESIGNS
TRAINING_SPEC = Spec(
    {
        **COMMON,
        "model": Choice(*MODELS),
        **{name: Optional(TRAINING[name]) for name in TRAINING_PARAMETERS},
        "val_every": TRAINING["val_every"],
        "grid": MappingOf(ListOf(Anything())),
        "design": Choice(*DESIGNS),
        "grid_epochs": Integer(1),
        "grid_subset": IMAGES,
        "test_subset": IMAGES,
        "divergence_lrs": ListOf(POSITIVE, min_len=0),
        "divergence_epochs": Integer(1),
        "comparisons": ListOf(MappingOf(ListOf(Anything())), min_len=0),
        "comparison_epochs": Integer(1),
    },
    (
        Relation(("model", "dataset", "grid"), _grid_fits),
        Relation(("model", "dataset", "comparisons"), _comparisons_fit),
        Relation(("model", "dataset", "model_kwargs"), _options_build),
        Relation(("nesterov", "momentum"), _nesterov_needs_momentum),
    ),
)


def _some_budget(*budgets: list) -> None:
    if not any(budgets):
        raise CourseError(
            "keep_fractions, codebook_sizes, rank_alphas and ranks are all empty: give at least "
            "one budget to sweep."
        )


def _schedule_budget(method: str, budget) -> None:
    BUDGETS[method].check(f"schedule_budget (a budget of {method})", budget)


def _some_schedule(mu0s: list, growths: list) -> None:
    if not mu0s and not growths:
        raise CourseError(
            "schedule_mu0s and schedule_growths are both empty: give at least one μ0 or growth."
        )


LC_SPEC = Spec(
    {
        **COMMON,
        "reference": REFERENCE,
        "normalize": Optional(Choice(*NORMALIZATIONS)),
        "model": Choice("lenet300", "lenet5"),
        "subset": IMAGES,
        "test_subset": IMAGES,
        "mu0": POSITIVE,
        "mu_growth": Number(1),
        "steps": Integer(1),
        "epochs": Integer(1),
        "lr": POSITIVE,
        "lr_decay": Number(0, 1, open_low=True),
        "batch_size": Integer(1),
        "keep_fractions": ListOf(BUDGETS["pruning"], min_len=0, distinct=True),
        "codebook_sizes": ListOf(BUDGETS["quantization"], min_len=0, distinct=True),
        "rank_alphas": ListOf(BUDGETS["low-rank"], min_len=0, distinct=True),
        "ranks": ListOf(BUDGETS["fixed rank"], min_len=0, distinct=True),
        "mix_model": Choice("lenet300", "lenet5"),
        "mix_budgets": Either(MIX_POINT, ListOf(MIX_POINT)),
        "schedule_method": Choice(*BUDGETS),
        "schedule_budget": POSITIVE,
        "schedule_mu0s": ListOf(POSITIVE, min_len=0),
        "schedule_growths": ListOf(Number(1), min_len=0),
    },
    (
        Relation(("keep_fractions", "codebook_sizes", "rank_alphas", "ranks"), _some_budget),
        Relation(("schedule_method", "schedule_budget"), _schedule_budget),
        Relation(("schedule_mu0s", "schedule_growths"), _some_schedule),
    ),
)


def _pruning_fits(model, dataset, scan_layers, structured_layers, round_to, max_removals) -> None:
    net = fit.skeleton(model, dataset)
    if scan_layers is not None:
        layers = list(weight_layers(net))
        fit.check_names("scan_layers", scan_layers, layers, "a conv or linear layer", model)
    shrunk = "a layer structured pruning shrinks (never the output layer)"
    fit.check_names("structured_layers", structured_layers, fit.prunable_layers(net), shrunk, model)
    for name, value in (("round_to", round_to), ("max_removals", max_removals)):
        if isinstance(value, dict):
            entry = "a structured_layers entry"
            fit.check_names(name, list(value), structured_layers, entry, model)


def _histogram_rate(rates: list, rate) -> None:
    if rate not in rates:
        raise CourseError(f"histogram_rate must be one of prune_rates {rates}, got {rate!r}.")


PRUNING_SPEC = Spec(
    {
        **COMMON,
        "reference": REFERENCE,
        "model": Choice("lenet300", "lenet5", "fashion_cnn", "cifar_cnn", "vgg_small"),
        "prune_rates": ListOf(FRACTION),
        "scan_layers": LAYER_NAMES,
        "scope": Choice("layer", "global"),
        "histogram_rate": FRACTION,
        "structured_layers": ListOf(Text(), distinct=True),
        "norm": Choice("l1", "l2"),
        "order": Choice("sequential", "cheapest", "latency"),
        "accuracy_floor": FRACTION,
        "max_removals": Optional(Either(Integer(0), MappingOf(Integer(0)))),
        "flop_ratio_target": Optional(Number(1)),
        "round_to": Either(Integer(1), MappingOf(Integer(1))),
        "latency_step": Number(0, 1, open_low=True, open_high=True),
        "finetune_epochs": Integer(0),
        "final_epochs": Integer(0),
        "finetune_lr": POSITIVE,
        "eval_images": IMAGES,
        "latency_batch": TIMED_BATCH,
        "latency_repeats": Integer(1),
        "threads": THREADS,
    },
    (
        Relation(
            ("model", "dataset", "scan_layers", "structured_layers", "round_to", "max_removals"),
            _pruning_fits,
        ),
        Relation(("prune_rates", "histogram_rate"), _histogram_rate),
    ),
)


def _tucker_fits(model, dataset, layers, curve_layer) -> None:
    net = fit.skeleton(model, dataset)
    convs = fit.convolutions(net)
    if layers is None and not fit.spatial_convolutions(net):
        raise CourseError(
            f"layers is None (every conv with a spatial kernel but the first) and {model} has "
            f"none: name layers from {convs} or choose another model."
        )
    if layers is not None:
        fit.check_names("layers", layers, convs, "a convolution", model)
    if curve_layer is not None:
        fit.check_names("curve_layer", curve_layer, convs, "a convolution", model)


def _tuned_among_swept(ks: list, finetune_ks) -> None:
    outside = [k for k in finetune_ks or () if k not in ks]
    if outside:
        raise CourseError(f"finetune_ks holds {outside[0]}, not one of ks {ks}: pick among them.")


K_OF_8 = Integer(1, 8)
TUCKER_SPEC = Spec(
    {
        **COMMON,
        "reference": REFERENCE,
        "model": Choice("vgg_small", "cifar_cnn", "lenet5", "resnet_small"),
        "layers": LAYER_NAMES,
        "ks": ListOf(K_OF_8, distinct=True),
        "method": Choice("hooi", "hosvd"),
        "curve_layer": Optional(Text()),
        "curve_points": Optional(Integer(2, 1024)),
        "curve_held_rank": Optional(Integer(1, 4096)),
        "energy": Number(0, 1, open_low=True),
        "finetune_epochs": Integer(0),
        "finetune_ks": Optional(ListOf(K_OF_8, distinct=True)),
        "finetune_lr": POSITIVE,
        "finetune_subset": IMAGES,
        "test_subset": IMAGES,
        "latency_batch": TIMED_BATCH,
        "latency_repeats": Integer(1),
        "latency_rounds": Integer(1),
        "threads": THREADS,
        "channels_last": Flag(),
        "panel_images": IMAGES,
    },
    (
        Relation(("model", "dataset", "layers", "curve_layer"), _tucker_fits),
        Relation(("ks", "finetune_ks"), _tuned_among_swept),
    ),
)


def _branch_fits(model, dataset, layers, widths) -> None:
    net = fit.skeleton(model, dataset)
    heads = fit.pair_heads(net)
    if layers is not None:
        what = "the first layer of a pair a branch can bridge"
        fit.check_names("layers", layers, heads, what, model)
    if widths is not None:
        fit.check_widths(widths, [h for h in heads if layers is None or h in layers], net, model)


def _falling_to_zero(alphas) -> None:
    if alphas is not None and (
        alphas[-1] != 0 or any(b > a for a, b in zip(alphas, alphas[1:], strict=False))
    ):
        raise CourseError(f"alphas must never rise and must end at 0, got {shown(alphas)}.")


def _existing_start(start_from) -> None:
    if start_from is not None and not Path(start_from).exists():
        raise CourseError(
            f"start_from {shown(start_from)} does not exist: pass a notebook-05 run folder or a "
            "branched-model file it saved (branched/<run>.pt)."
        )


BRANCH_SPEC = Spec(
    {
        **COMMON,
        "reference": REFERENCE,
        "model": Choice(*MODELS),
        "layers": LAYER_NAMES,
        "remove_fraction": Number(0, 1, open_low=True, open_high=True),
        "widths": Optional(MappingOf(Integer(1))),
        "branch_init": Choice("channels", "random"),
        "alpha_step": Number(0.0001, 1),
        "alphas": Optional(ListOf(FRACTION)),
        "pretrained_weights": ListOf(Choice("trainable", "frozen"), distinct=True),
        "lr": POSITIVE,
        "resume_lrs": ListOf(POSITIVE, min_len=0),
        "tolerance": FRACTION,
        "start_from": Optional(Text()),
        "max_epochs": Integer(1),
        "patience": Integer(1),
        "batch_size": Integer(1),
        "subset": IMAGES,
        "test_subset": IMAGES,
        "latency_batch": TIMED_BATCH,
        "latency_repeats": Integer(1),
    },
    (
        Relation(("model", "dataset", "layers", "widths"), _branch_fits),
        Relation(("alphas",), _falling_to_zero),
        Relation(("start_from",), _existing_start),
    ),
)

SPECS: dict[str, Spec] = {
    "01_training": TRAINING_SPEC,
    "02_lc_compression": LC_SPEC,
    "03_pruning": PRUNING_SPEC,
    "04_tucker": TUCKER_SPEC,
    "05_alpha_branch": BRANCH_SPEC,
}
