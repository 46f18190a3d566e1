"""Figures of part 3: sensitivity, weight histograms, the structured trajectory."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter


def prune_sensitivity(scan, title: str = ""):
    """Accuracy vs prune rate, one curve per layer, no retraining (seed 003 Fig 5)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    rates = 100 * np.asarray(scan.rates)
    for curve in scan.curves:
        joint = curve not in scan.layers
        style = {"color": "black", "ls": "--"} if joint else {}
        label = f"{curve} ({scan.scope} threshold)" if joint else curve
        ax.plot(rates, 100 * np.asarray(scan.accuracy[curve]), marker="o", label=label, **style)
    ax.axhline(100 * scan.baseline, color="grey", lw=0.8, ls=":", label="unpruned")
    ax.set_xlabel("prune rate (% of the layer's weights set to zero)")
    ax.set_ylabel(f"{scan.split} accuracy (%)")
    ax.set_title(title or "Accuracy vs prune rate per layer (magnitude pruning, no retraining)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _kept_removed_histogram(ax, kept, removed, bins: int = 60) -> None:
    edges = np.histogram_bin_edges(np.concatenate([kept, removed]), bins)
    ax.hist(kept, bins=edges, color="tab:blue", label=f"kept ({len(kept):,})")
    ax.hist(removed, bins=edges, color="tab:red", label=f"removed ({len(removed):,})")
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)


def weight_histograms(scan, rate: float, title: str = ""):
    """Each layer's weights when it is pruned at ``rate``: the smallest |w| (red) are removed."""
    layers = scan.layers
    cols = min(len(layers), 4)
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax, layer in zip(axes.flat[: len(layers)], layers, strict=True):
        kept, removed = scan.weight_split(layer, rate)
        _kept_removed_histogram(ax, kept, removed)
        ax.set_title(f"{layer}: {scan.accuracy_at(layer, rate):.1%} accuracy", fontsize=9)
    for ax in axes.flat[len(layers) :]:
        ax.axis("off")
    fig.suptitle(title or f"Weight histograms at prune rate {rate:.0%}")
    fig.tight_layout()
    return fig


def prune_rate_view(scan, curve: str, rate: float):
    """The prune-rate panel's figure: the chosen curve with the rate marked, and its histogram."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.3))
    rates = 100 * np.asarray(scan.rates)
    left.plot(rates, 100 * np.asarray(scan.accuracy[curve]), marker="o", color="tab:blue")
    left.plot(100 * rate, 100 * scan.accuracy_at(curve, rate), "o", ms=11, color="tab:red")
    left.axhline(100 * scan.baseline, color="grey", lw=0.8, ls=":", label="unpruned")
    left.set_xlabel("prune rate (%)")
    left.set_ylabel(f"{scan.split} accuracy (%)")
    left.set_title(f"{curve}: accuracy vs prune rate", fontsize=10)
    left.legend(fontsize=8)
    kept, removed = scan.weight_split(curve, rate)
    _kept_removed_histogram(right, kept, removed)
    right.set_title(f"{curve}: weights at {rate:.0%} pruned", fontsize=10)
    fig.tight_layout()
    return fig


def structured_trajectory(trajectory, accuracy_floor: float | None = None, title: str = ""):
    """Accuracy and cost as layers lose units step by step (seed 001's pruning plot).

    Left: validation and test accuracy of the kept models, one band per layer; a removal that
    fell below the floor is a red circle, the retrained model after it a black triangle, a
    rejected removal a red cross. Right: FLOPs, parameters and, when the trajectory has it, the
    time estimated by a latency table, relative to the start (log scale).
    """
    t = trajectory
    kept = t[t["phase"].isin(["start", "prune", "finetune"])]
    columns = [c for c in t if c.endswith("_accuracy")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    layers = t.loc[t["phase"] != "start", "layer"]
    for index, layer in enumerate(dict.fromkeys(layers)):
        steps = t.loc[t["layer"] == layer, "step"]
        left.axvspan(steps.min() - 0.5, steps.max() + 0.5, color=f"C{index}", alpha=0.08)
        left.text(steps.min(), 0.02, layer, transform=left.get_xaxis_transform(), fontsize=9)
    for column in columns:
        left.plot(kept["step"], 100 * kept[column], label=column.replace("_", " "))
    markers = {
        "below_floor": ("o", "tab:red", "below the floor, before retraining"),
        "finetune": ("^", "black", "after retraining"),
        "rejected": ("x", "tab:red", "rejected"),
    }
    for phase, (marker, color, label) in markers.items():
        rows = t[t["phase"] == phase]
        if len(rows):
            face = "none" if marker == "o" else color
            left.scatter(rows["step"], 100 * rows[columns[0]], marker=marker, color=color,
                         facecolors=face, label=label, zorder=3)  # fmt: skip
    if accuracy_floor is not None:
        left.axhline(100 * accuracy_floor, color="grey", ls=":", label="accuracy floor")
    left.set_xlabel("step (a unit removed, or a block with round_to or order latency)")
    left.set_ylabel("accuracy (%)")
    left.legend(fontsize=8)
    costs = {"flops": "FLOPs", "params": "parameters", "latency_ms": "time (estimated)"}
    for column, label in costs.items():
        if column in kept:
            right.plot(kept["step"], kept[column] / kept[column].iloc[0], label=label)
    right.set_yscale("log")
    right.yaxis.set_major_formatter(PercentFormatter(1.0))
    right.yaxis.set_minor_formatter(PercentFormatter(1.0, decimals=0))
    right.set_xlabel("step")
    right.set_ylabel("share of the original")
    right.legend(fontsize=8)
    fig.suptitle(title or "Structured pruning, step by step")
    fig.tight_layout()
    return fig
