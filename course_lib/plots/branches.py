"""Figures of part 5: α-branch accuracy per stage and per α, costs of the folded model."""

import matplotlib.pyplot as plt
import numpy as np


def _segment_label(segment) -> str:
    label = f"α={segment['alpha']:g}, lr={segment['lr']:g}"
    if segment["resumed"]:
        label += ", resumed" + ("" if segment["kept"] else " (not kept)")
    return label


def alpha_stages(runs: dict, reference: float | None = None, title: str = ""):
    """Train (dashed) and validation (solid) accuracy per epoch across all α stages, one panel
    per run (frozen vs trainable pretrained weights; seed 004 Figs 1-4), a colour per segment.
    Each validation curve starts where its segment began: the drop when α steps down; a dotted
    vertical line marks where a stuck stage resumed with another lr."""
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.2), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs.items(), strict=True):
        trained = run.segments[run.segments["epochs"] > 0]
        colors = plt.cm.viridis(np.linspace(0, 0.95, max(len(trained), 1)))
        for color, (_, segment) in zip(colors, trained.iterrows(), strict=False):
            rows = run.epochs[run.epochs["segment"] == segment["segment"]]
            start = rows["epoch"].iloc[0] - 1
            ax.plot(
                [start, *rows["epoch"]],
                [segment["entry_val_accuracy"], *rows["val_accuracy"]],
                "-o",
                ms=3,
                color=color,
                label=_segment_label(segment),
            )
            ax.plot(rows["epoch"], rows["train_accuracy"], "--x", ms=4, color=color, alpha=0.7)
            if segment["resumed"]:
                ax.axvline(start, color=color, lw=0.8, ls=":")
        if reference is not None:
            ax.axhline(reference, color="gray", lw=0.8, ls=":", label="original (val)")
        ax.set_xlabel("epoch (all stages)")
        ax.set_ylabel("accuracy (solid: val, dashed: train)")
        ax.set_title(f"pretrained weights {label}")
        ax.legend(fontsize=7, ncol=2 if len(trained) > 8 else 1)
    fig.suptitle(title or "α-branch training, stage by stage")
    fig.tight_layout()
    return fig


def alpha_accuracy(
    runs: dict, reference: float | None = None, title: str = "", mark: float | None = None
):
    """Validation and test accuracy reached at each α, one line per run; α falls to the right;
    a star marks an α whose best weights came from a resumption; ``mark`` draws a vertical line
    at that α."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, run in runs.items():
        stages = run.stages
        line = ax.plot(stages["alpha"], stages["val_accuracy"], "-o", label=f"{label}: val")[0]
        resumed = stages[stages["resumed"]]
        if len(resumed):
            ax.plot(
                resumed["alpha"], resumed["val_accuracy"], "*", ms=12, color=line.get_color(),
                label=f"{label}: reached by a resumption",
            )  # fmt: skip
        ax.plot(
            stages["alpha"],
            stages["test_accuracy"],
            "--s",
            ms=4,
            color=line.get_color(),
            label=f"{label}: test",
        )
    if reference is not None:
        ax.axhline(reference, color="gray", lw=0.8, ls=":", label="original (test)")
    if mark is not None:
        ax.axvline(mark, color="crimson", lw=1)
    ax.invert_xaxis()
    ax.set_xlabel("α (1: original path only, 0: branches only)")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "Accuracy at each α")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def alpha_costs(table, title: str = ""):
    """Original vs folded: parameters, FLOPs, time per image and memory (bars per device)."""
    metrics = [
        ("params", "parameters"),
        ("flops", "FLOPs / image"),
        ("ms_per_image", "ms / image"),
        ("memory_mb", "peak inference memory (MB)"),
    ]
    rows = table[table["model"].isin(["original", "folded"])]
    devices = list(dict.fromkeys(rows["device"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4))
    width = 0.8 / len(devices)
    for ax, (column, name) in zip(axes, metrics, strict=True):
        for i, device in enumerate(devices):
            values = rows[rows["device"] == device].set_index("model")[column]
            bars = ax.bar(
                np.arange(2) + i * width, values[["original", "folded"]], width, label=device
            )
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(np.arange(2) + width * (len(devices) - 1) / 2, ["original", "folded"])
        ax.set_title(name, fontsize=9)
    axes[-1].legend(fontsize=7)
    fig.suptitle(title or "Original vs folded model")
    fig.tight_layout()
    return fig
