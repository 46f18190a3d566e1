"""Tucker-2 of convolutions: one k×k conv becomes 1×1 (c→R1), k×k (R1→R2), 1×1 (R2→f).

A conv weight W of shape (f, c, k, k) keeps its two spatial modes and has its two channel
modes decomposed:

    W ≈ core ×_out O ×_in I,    O: f×R2,  I: c×R1,  core: (R2, R1, k, k)

so W[o, i] ≈ Σ_{r,s} O[o, r] · core[r, s] · I[i, s]. Run as three convs: the 1×1 conv with
weight Iᵀ maps c input channels to R1, the k×k conv with the core (the original stride,
padding, dilation) maps R1 to R2, and the 1×1 conv with weight O (the original bias) maps R2
to f. R1 is the *input* rank and R2 the *output* rank throughout.

HOSVD takes I and O from the leading left singular vectors of the two channel unfoldings.
HOOI starts there and alternates: O from the unfolding of W projected on I, then I from W
projected on O. Each step maximises ‖core‖ with the other factor fixed, and with orthonormal
factors ‖W − Ŵ‖² = ‖W‖² − ‖core‖², so the error never rises and HOOI is never worse than
HOSVD.

TensorLy's ``partial_tucker`` (PyTorch backend) computes the same factors: the tests check that
we agree with it on random tensors. We keep our own ~60 lines of torch because they need no
switch of TensorLy's process-wide backend, expose the unfoldings' singular values (the energy
rank rule needs them), give factors a fixed sign (reproducible runs), take the leading vectors
from the small c×c and f×f Gram matrices on one thread (fast for conv-sized matrices), and
read as the algorithm the course teaches.
"""

from __future__ import annotations

import copy
import functools
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import costs, train
from course_lib.errors import CourseError
from course_lib.train import TrainConfig

OUT_MODE, IN_MODE = 0, 1


# --------------------------------------------------------------------------- the algebra


@dataclass(frozen=True)
class Tucker2:
    """Factors of W (f, c, k, k): core (R2, R1, k, k), in_factor I (c, R1), out_factor O (f, R2)."""

    core: torch.Tensor
    in_factor: torch.Tensor
    out_factor: torch.Tensor

    @property
    def ranks(self) -> tuple[int, int]:
        """(R1, R2): the input and the output rank."""
        return self.in_factor.shape[1], self.out_factor.shape[1]

    def reconstruct(self) -> torch.Tensor:
        """The weight the factors stand for, W ≈ core ×_out O ×_in I."""
        return torch.einsum("rsab,or,is->oiab", self.core, self.out_factor, self.in_factor)


def _check_weight(weight: torch.Tensor) -> None:
    if weight.ndim != 4:
        raise CourseError(
            f"Tucker-2 needs a conv weight of shape (out, in, kh, kw); got shape "
            f"{tuple(weight.shape)}. Pass a Conv2d's .weight."
        )
    if not torch.isfinite(weight).all():
        raise CourseError("The weight holds NaN or inf values; decompose a trained, finite layer.")


def _check_ranks(weight: torch.Tensor, ranks) -> tuple[int, int]:
    try:
        in_rank, out_rank = (int(r) for r in ranks)
    except (TypeError, ValueError):
        raise CourseError(f"ranks must be a pair (R1, R2) of integers; got {ranks!r}.") from None
    out_channels, in_channels = weight.shape[:2]
    if not (1 <= in_rank <= in_channels and 1 <= out_rank <= out_channels):
        raise CourseError(
            f"ranks (R1={in_rank}, R2={out_rank}) must satisfy 1 <= R1 <= {in_channels} (input "
            f"channels) and 1 <= R2 <= {out_channels} (output channels)."
        )
    return in_rank, out_rank


def _one_thread(decompose):
    """Run on one torch thread: these matrices are small, and extra threads only wait for each
    other (badly so on a shared machine)."""

    @functools.wraps(decompose)
    def run(*args, **kwargs):
        with costs.torch_threads(1):
            return decompose(*args, **kwargs)

    return run


def unfold(weight: torch.Tensor, mode: int) -> torch.Tensor:
    """The mode-`mode` unfolding: rows indexed by that mode, columns by all the others."""
    return weight.movedim(mode, 0).reshape(weight.shape[mode], -1)


@_one_thread
def unfolding_spectra(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values of the input-channel and the output-channel unfoldings (descending)."""
    _check_weight(weight)
    w = weight.detach().double()
    return torch.linalg.svdvals(unfold(w, IN_MODE)), torch.linalg.svdvals(unfold(w, OUT_MODE))


def leading_vectors(matrix: torch.Tensor, rank: int) -> torch.Tensor:
    """The `rank` leading left singular vectors, each signed so its largest entry is positive.

    They are the leading eigenvectors of matrix·matrixᵀ (rows × rows: small for a conv's
    unfoldings, whose columns number the other channels times k²); the eigenbasis is complete,
    so a rank above the matrix's own rank still gets orthonormal columns.
    """
    _, vectors = torch.linalg.eigh(matrix @ matrix.T)
    u = vectors.flip(1)[:, :rank]
    pivot = u.abs().argmax(dim=0)
    signs = torch.sign(u[pivot, torch.arange(rank)])
    return u * torch.where(signs == 0, torch.ones_like(signs), signs)


def _core(weight: torch.Tensor, in_factor: torch.Tensor, out_factor: torch.Tensor):
    return torch.einsum("oiab,or,is->rsab", weight, out_factor, in_factor)


@_one_thread
def hosvd(weight: torch.Tensor, ranks) -> Tucker2:
    """Truncated higher-order SVD of the two channel modes of a conv weight."""
    _check_weight(weight)
    in_rank, out_rank = _check_ranks(weight, ranks)
    w = weight.detach().double()
    in_factor = leading_vectors(unfold(w, IN_MODE), in_rank)
    out_factor = leading_vectors(unfold(w, OUT_MODE), out_rank)
    return _cast(Tucker2(_core(w, in_factor, out_factor), in_factor, out_factor), weight)


@_one_thread
def hooi(weight: torch.Tensor, ranks, max_iter: int = 100, tol: float = 1e-5) -> Tucker2:
    """Higher-order orthogonal iteration from the HOSVD start; stops after `max_iter` sweeps or
    when a sweep lowers the relative error by less than `tol` (TensorLy's rule)."""
    _check_weight(weight)
    in_rank, out_rank = _check_ranks(weight, ranks)
    if max_iter < 0 or tol < 0:
        raise CourseError(f"max_iter and tol must be >= 0; got {max_iter} and {tol}.")
    w = weight.detach().double()
    in_factor = leading_vectors(unfold(w, IN_MODE), in_rank)
    out_factor = leading_vectors(unfold(w, OUT_MODE), out_rank)
    total = w.square().sum()

    def error() -> float:  # orthonormal factors: ‖W − Ŵ‖² = ‖W‖² − ‖core‖²
        captured = _core(w, in_factor, out_factor).square().sum()
        return float((1 - captured / total).clamp(min=0).sqrt())

    current = error()
    for _ in range(max_iter):
        out_factor = leading_vectors(
            unfold(torch.einsum("oiab,is->osab", w, in_factor), 0), out_rank
        )
        in_factor = leading_vectors(
            unfold(torch.einsum("oiab,or->irab", w, out_factor), 0), in_rank
        )
        previous, current = current, error()
        if previous - current < tol:
            break
    return _cast(Tucker2(_core(w, in_factor, out_factor), in_factor, out_factor), weight)


def _cast(factors: Tucker2, like: torch.Tensor) -> Tucker2:
    return Tucker2(
        *(t.to(dtype=like.dtype) for t in (factors.core, factors.in_factor, factors.out_factor))
    )


METHODS = {"hosvd": hosvd, "hooi": hooi}


def decompose_weight(weight: torch.Tensor, ranks, method: str = "hooi") -> Tucker2:
    """Tucker-2 of a conv weight by `method` ("hosvd" or "hooi")."""
    return _method(method)(weight, ranks)


def _method(method: str):
    if method not in METHODS:
        raise CourseError(f"Unknown Tucker method {method!r}; choose one of {sorted(METHODS)}.")
    return METHODS[method]


def relative_error(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    """‖reference − approximation‖_F / ‖reference‖_F (0 when both are zero)."""
    reference, approximation = reference.detach().double(), approximation.detach().double()
    norm = torch.linalg.vector_norm(reference)
    difference = torch.linalg.vector_norm(reference - approximation)
    return float(difference / norm) if norm > 0 else float(difference)


@_one_thread
def weight_error(weight: torch.Tensor, factors: Tucker2) -> float:
    """Relative Frobenius error of the weight the factors reconstruct."""
    return relative_error(weight, factors.reconstruct())


# --------------------------------------------------------------------------- choosing ranks


def ranks_by_fraction(weight: torch.Tensor, fraction: float) -> tuple[int, int]:
    """R1 = ⌈fraction·c⌉, R2 = ⌈fraction·f⌉ (seed 003's k of 8 is fraction = k/8)."""
    _check_weight(weight)
    if not 0 < fraction <= 1:
        raise CourseError(f"fraction must be in (0, 1] (k/8 for k = 1..8); got {fraction}.")
    out_channels, in_channels = weight.shape[:2]
    # Rounding first keeps 0.1 * 30 (= 3.0000000000000004) at 3, not 4.
    return tuple(max(1, math.ceil(round(fraction * n, 9))) for n in (in_channels, out_channels))


def ranks_by_energy(weight: torch.Tensor, energy: float) -> tuple[int, int]:
    """Smallest ranks whose leading singular values keep `energy` of each unfolding's Σσ²."""
    if not 0 < energy <= 1:
        raise CourseError(f"energy must be in (0, 1] (e.g. 0.9 keeps 90 %); got {energy}.")
    spectra = unfolding_spectra(weight)

    def smallest_rank(singular_values: torch.Tensor) -> int:
        kept = singular_values.square().cumsum(0)
        needed = energy * kept[-1] * (1 - 1e-12)
        return int((kept < needed).sum()) + 1

    return tuple(min(smallest_rank(s), len(s)) for s in spectra)


RANK_RULES = {"fraction": ranks_by_fraction, "energy": ranks_by_energy}


def choose_ranks(weight: torch.Tensor, ranks=None, fraction=None, energy=None) -> tuple[int, int]:
    """(R1, R2) from exactly one rule: explicit `ranks`, a channel `fraction`, or an `energy`."""
    given = {"ranks": ranks, "fraction": fraction, "energy": energy}
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise CourseError(
            "Give exactly one rank rule: ranks=(R1, R2), fraction=k/8 or energy=0.9; got "
            f"{chosen or 'none'}."
        )
    if ranks is not None:
        _check_weight(weight)
        return _check_ranks(weight, ranks)
    name = chosen[0]
    return RANK_RULES[name](weight, given[name])


# --------------------------------------------------------------------------- layers and models


class TuckerConv(nn.Sequential):
    """A conv run as `first` (1×1, c→R1), `core` (k×k, R1→R2) and `last` (1×1, R2→f)."""

    def __init__(self, conv: nn.Conv2d, factors: Tucker2):
        in_rank, out_rank = factors.ranks
        kernel = tuple(factors.core.shape[2:])
        options = {"device": conv.weight.device, "dtype": conv.weight.dtype}
        first = nn.Conv2d(conv.in_channels, in_rank, 1, bias=False, **options)
        core = nn.Conv2d(
            in_rank,
            out_rank,
            kernel,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            padding_mode=conv.padding_mode,
            bias=False,
            **options,
        )
        last = nn.Conv2d(out_rank, conv.out_channels, 1, bias=conv.bias is not None, **options)
        with torch.no_grad():
            first.weight.copy_(factors.in_factor.T[:, :, None, None])
            core.weight.copy_(factors.core)
            last.weight.copy_(factors.out_factor[:, :, None, None])
            if conv.bias is not None:
                last.bias.copy_(conv.bias)
        super().__init__(OrderedDict(first=first, core=core, last=last))

    @property
    def ranks(self) -> tuple[int, int]:
        """(R1, R2)."""
        return self.core.in_channels, self.core.out_channels

    def combined_weight(self) -> torch.Tensor:
        """The single conv weight these three convs compute together."""
        factors = Tucker2(
            self.core.weight, self.first.weight[:, :, 0, 0].T, self.last.weight[:, :, 0, 0]
        )
        return factors.reconstruct()


def _check_conv(conv: nn.Module, name: str = "layer") -> None:
    if not isinstance(conv, nn.Conv2d):
        raise CourseError(
            f"{name} is a {type(conv).__name__}, not an nn.Conv2d; Tucker-2 needs a conv."
        )
    if conv.groups != 1:
        raise CourseError(
            f"{name} is a grouped conv (groups={conv.groups}); Tucker-2 needs groups=1."
        )


def decompose_conv(
    conv: nn.Conv2d, ranks=None, fraction=None, energy=None, method: str = "hooi"
) -> TuckerConv:
    """The three-conv Tucker-2 replacement of `conv` at the ranks the one rank rule gives."""
    _check_conv(conv)
    decompose = _method(method)
    chosen = choose_ranks(conv.weight, ranks=ranks, fraction=fraction, energy=energy)
    return TuckerConv(conv, decompose(conv.weight, chosen))


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the ungrouped Conv2d layers of `model`, leaving out those inside a TuckerConv."""
    inside = {
        f"{name}.{child}"
        for name, module in model.named_modules()
        if isinstance(module, TuckerConv)
        for child in ("first", "core", "last")
    }
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d) and module.groups == 1 and name not in inside
    ]


def default_layers(model: nn.Module) -> list[str]:
    """Every conv with a spatial kernel but the first: the raw image has 1 or 3 channels, so an
    input factor saves nothing there."""
    spatial = [
        name for name in conv_layers(model) if max(model.get_submodule(name).kernel_size) > 1
    ]
    return spatial[1:]


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, module)


def _resolve_layers(model: nn.Module, layers) -> list[str]:
    available = conv_layers(model)
    if layers is None:
        layers = default_layers(model)
        if not layers:
            raise CourseError(
                "The model has no conv to decompose besides its first; name layers from "
                f"{available}."
            )
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    unknown = [name for name in layers if name not in available]
    if unknown or not layers:
        raise CourseError(
            f"Cannot decompose {unknown or 'no layers'}; choose convs from {available}."
        )
    for name in layers:
        _check_conv(model.get_submodule(name), name)
    return layers


@_one_thread
def decompose_model(
    model: nn.Module,
    layers=None,
    ranks=None,
    fraction=None,
    energy=None,
    method: str = "hooi",
) -> tuple[nn.Module, pd.DataFrame]:
    """A copy of `model` with each chosen conv replaced by its TuckerConv, and a table per layer.

    `layers`: conv names (None: every spatial conv but the first). `ranks`: one (R1, R2) for all
    layers or a mapping layer → (R1, R2); or `fraction` / `energy` as in `choose_ranks`.
    The table has layer, c, f, kernel, R1, R2, params before and after, and weight_error.
    """
    layers = _resolve_layers(model, layers)
    decompose = _method(method)
    if isinstance(ranks, Mapping):
        missing = [name for name in layers if name not in ranks]
        if missing:
            raise CourseError(f"ranks gives no (R1, R2) for {missing}; add them or use one pair.")
    decomposed = copy.deepcopy(model)
    # Check every layer's ranks before any SVD runs.
    chosen = {
        name: choose_ranks(
            model.get_submodule(name).weight,
            ranks=ranks[name] if isinstance(ranks, Mapping) else ranks,
            fraction=fraction,
            energy=energy,
        )
        for name in layers
    }
    rows = []
    for name in layers:
        conv = model.get_submodule(name)
        factors = decompose(conv.weight, chosen[name])
        replacement = TuckerConv(conv, factors)
        _replace(decomposed, name, replacement)
        rows.append(
            {
                "layer": name,
                "c": conv.in_channels,
                "f": conv.out_channels,
                "kernel": "×".join(map(str, conv.kernel_size)),
                "R1": factors.ranks[0],
                "R2": factors.ranks[1],
                "params": sum(p.numel() for p in conv.parameters()),
                "params_tucker": sum(p.numel() for p in replacement.parameters()),
                "weight_error": weight_error(conv.weight, factors),
            }
        )
    return decomposed, pd.DataFrame(rows)


def layer_input(model: nn.Module, layer: str, inputs: torch.Tensor) -> torch.Tensor:
    """What `layer` of `model` receives when the model runs on `inputs`."""
    captured = []
    handle = model.get_submodule(layer).register_forward_hook(
        lambda module, args, output: captured.append(args[0].detach())
    )
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
    return captured[0]


def output_error(
    model: nn.Module, decomposed: nn.Module, layer: str, inputs: torch.Tensor
) -> float:
    """Relative Frobenius error of `layer`'s output in `decomposed`, both fed the input the
    original layer sees when `model` runs on `inputs` (so earlier layers' errors do not mix in)."""
    features = layer_input(model, layer, inputs)
    with torch.no_grad():
        reference = model.get_submodule(layer)(features)
        approximation = decomposed.get_submodule(layer)(features)
    return relative_error(reference, approximation)


@_one_thread
def reconstruction_curves(
    conv: nn.Conv2d,
    method: str = "hooi",
    inputs: torch.Tensor | None = None,
    points: int | None = None,
) -> pd.DataFrame:
    """Seed 003 Fig. 6: error as one rank varies while the other stays at its full value.

    With one mode at full rank both methods give the truncated SVD of the other mode's
    unfolding, so these curves are that unfolding's discarded energy. `points`: about this many
    ranks per curve, evenly spaced from 1 to full (None: every rank). Rows: varied ("R1" or
    "R2"), rank, R1, R2, weight_error, and output_error when `inputs` (what the layer receives,
    see `layer_input`) are given.
    """
    _check_conv(conv)
    decompose = _method(method)
    out_channels, in_channels = conv.weight.shape[:2]
    grid = [("R1", r, (r, out_channels)) for r in _spaced(in_channels, points)]
    grid += [("R2", r, (in_channels, r)) for r in _spaced(out_channels, points)]
    with torch.no_grad():
        reference = None if inputs is None else conv(inputs)
        rows = []
        for varied, rank, ranks in grid:
            factors = decompose(conv.weight, ranks)
            row = {"varied": varied, "rank": rank, "R1": ranks[0], "R2": ranks[1]}
            row["weight_error"] = weight_error(conv.weight, factors)
            if inputs is not None:
                row["output_error"] = relative_error(reference, TuckerConv(conv, factors)(inputs))
            rows.append(row)
    return pd.DataFrame(rows)


@_one_thread
def compare_methods(weight: torch.Tensor, ks, of: int = 8) -> pd.DataFrame:
    """Relative weight error of every method at ranks k/`of` of the channels, one row per k."""
    rows = []
    for k in _check_ks(ks, of):
        ranks = ranks_by_fraction(weight, k / of)
        row = {"k": k, "R1": ranks[0], "R2": ranks[1]}
        row.update(
            {name: weight_error(weight, run(weight, ranks)) for name, run in METHODS.items()}
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _spaced(full: int, points: int | None) -> list[int]:
    if points is None:
        return list(range(1, full + 1))
    if not isinstance(points, int) or points < 2:
        raise CourseError(f"points must be a whole number >= 2 or None (every rank); got {points}.")
    return sorted({round(1 + i * (full - 1) / (points - 1)) for i in range(points)})


# --------------------------------------------------------------------------- costs and sweeps


def forward_times(
    models: Mapping[str, nn.Module],
    input_shape,
    *,
    rounds: int = 3,
    batch_size: int = 256,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = 1,
    channels_last: bool = False,
) -> dict[str, float]:
    """Seconds per image of each model (`costs.best_latency`: the best of `rounds`, the models
    taking turns). `channels_last` times every model in the NHWC layout."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    timed = {name: copy.deepcopy(model).to(memory_format=layout) for name, model in models.items()}
    latency = costs.best_latency(
        timed, input_shape, rounds=rounds, batch_size=batch_size, repeats=repeats,
        warmup=warmup, threads=threads,
    )  # fmt: skip
    return {name: result["per_image_s"] for name, result in latency.items()}


@dataclass
class RankSweep:
    """Seed 003 Figs. 7–8: one row per k (and one for the original) in `table`; per layer in
    `layers`; the decomposed models by k in `models`."""

    table: pd.DataFrame
    layers: pd.DataFrame
    models: dict


def _check_ks(ks, of: int) -> list[int]:
    ks = list(ks)
    if not ks or any(not isinstance(k, int) or not 1 <= k <= of for k in ks):
        raise CourseError(f"ks must be whole numbers from 1 to {of} (k of {of}); got {ks}.")
    return ks


def rank_sweep(
    model: nn.Module,
    data,
    ks=range(1, 9),
    *,
    of: int = 8,
    layers=None,
    method: str = "hooi",
    split: str = "test",
    fine_tune: TrainConfig | None = None,
    fine_tune_data=None,
    fine_tune_ks=None,
    timing: Mapping | None = None,
    progress: bool = False,
) -> RankSweep:
    """Decompose the chosen convs at ranks k/`of` of their channels for each k in `ks`; measure
    accuracy on `split`, FLOPs, parameters and forward time (`forward_times` with `timing`),
    against the original. With a `fine_tune` config, the models of `fine_tune_ks` (None: all)
    are then trained by `train.fit` on `fine_tune_data` (None: `data`) and measured again."""
    ks = _check_ks(ks, of)
    tuned = set(ks if fine_tune_ks is None else _check_ks(fine_tune_ks, of)) if fine_tune else set()
    if fine_tune and not tuned <= set(ks):
        raise CourseError(f"fine_tune_ks {sorted(tuned)} must be among ks {ks}.")
    input_shape = data.input_shape
    inputs = next(iter(data.loader(split, 256)))[0]
    model = copy.deepcopy(model).cpu().eval()  # the caller's model keeps its device and mode
    models, layer_rows = {}, []
    for k in tqdm(ks, desc="Tucker-2 per k", disable=not progress):
        decomposed, table = decompose_model(model, layers, fraction=k / of, method=method)
        table.insert(0, "k", k)
        table["output_error"] = [
            output_error(model, decomposed, name, inputs) for name in table.layer
        ]
        models[k] = decomposed
        layer_rows.append(table)
    layer_table = pd.concat(layer_rows, ignore_index=True)
    accuracy = {k: train.accuracy(m, data, split) for k, m in models.items()}
    accuracy["original"] = train.accuracy(model, data, split)
    times = forward_times({"original": model, **models}, input_shape, **(timing or {}))
    tuned_accuracy = {}
    for k in sorted(tuned):
        history = train.fit(models[k], fine_tune_data or data, fine_tune, progress=progress)
        if history.diverged:
            raise CourseError(
                f"Fine-tuning at k={k} diverged ({history.divergence}); lower the fine-tuning lr."
            )
        models[k] = models[k].cpu().eval()
        tuned_accuracy[k] = train.accuracy(models[k], data, split)
    rows = [_cost_row("original", None, model, input_shape, accuracy, times)]
    rows += [_cost_row(f"k={k}", k, models[k], input_shape, accuracy, times) for k in ks]
    table = pd.DataFrame(rows).astype({"k": "Int64"})
    errors = layer_table.groupby("k")[["weight_error", "output_error"]].mean()
    table = table.join(errors, on="k")
    table["accuracy_tuned"] = table.k.map(tuned_accuracy)
    original = table.iloc[0]
    table["flop_ratio"] = original.flops / table.flops
    table["speedup"] = original.seconds_per_image / table.seconds_per_image
    table["accuracy_change"] = table.accuracy - original.accuracy
    table["accuracy_tuned_change"] = table.accuracy_tuned - original.accuracy
    return RankSweep(table, layer_table, models)


def _cost_row(name, k, model, input_shape, accuracy, times) -> dict:
    key = "original" if k is None else k
    return {
        "model": name,
        "k": k,
        "params": costs.count_params(model),
        "flops": costs.count_flops(model, input_shape),
        "seconds_per_image": times[key],
        "accuracy": accuracy[key],
    }
