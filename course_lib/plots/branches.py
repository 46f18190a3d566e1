"""Figures of part 5: α-branch accuracy per stage and per α, costs of the folded model."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

ALPHA_COLORS = plt.cm.viridis
FADED = 0.35  # the alpha of a resumption that was not kept


def _key(label: str, **style) -> Line2D:
    """A legend entry for a line style, in grey."""
    return Line2D([], [], color="0.3", ms=3, label=label, **style)


def alpha_stages(runs: dict, reference: float | None = None, title: str = ""):
    """Train (dashed) and validation (solid) accuracy per epoch across all α stages, one panel
    per run (frozen vs trainable pretrained weights; seed 004 Figs 1-4), coloured by α. Each
    validation curve starts where its segment began: the drop when α steps down. A resumption
    of a stuck stage is drawn with squares from a dotted vertical line that gives its lr, faded
    where it was not kept."""
    fig, axes = plt.subplots(
        1, len(runs), figsize=(6.5 * len(runs), 4.6), squeeze=False, layout="constrained"
    )
    stage_lrs, resumptions = set(), set()  # the stages' lrs; kept or not, of the resumptions
    for ax, (label, run) in zip(axes[0], runs.items(), strict=True):
        trained = run.segments[run.segments["epochs"] > 0]
        for _, segment in trained.iterrows():
            rows = run.epochs[run.epochs["segment"] == segment["segment"]]
            start, color = rows["epoch"].iloc[0] - 1, ALPHA_COLORS(segment["alpha"])
            shown = 1.0 if segment["kept"] else FADED
            ax.plot(
                [start, *rows["epoch"]],
                [segment["entry_val_accuracy"], *rows["val_accuracy"]],
                "-s" if segment["resumed"] else "-o", ms=3, color=color, alpha=shown,
            )  # fmt: skip
            ax.plot(
                rows["epoch"], rows["train_accuracy"], "--x", ms=4, color=color, alpha=0.6 * shown
            )
            if segment["resumed"]:
                ax.axvline(start, color=color, lw=0.8, ls=":")
                ax.annotate(
                    f"lr {segment['lr']:g}", (start, 0.02), xycoords=("data", "axes fraction"),
                    rotation=90, fontsize=6, ha="right", va="bottom", color="0.3",
                )  # fmt: skip
                resumptions.add(segment["kept"])
            else:
                stage_lrs.add(segment["lr"])
        if reference is not None:
            ax.axhline(reference, color="gray", lw=0.8, ls=":")
        ax.set_xlabel("epoch (all stages)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"pretrained weights {label}")
    colorbar = fig.colorbar(ScalarMappable(Normalize(0, 1), ALPHA_COLORS), ax=axes[0].tolist())
    colorbar.set_label("α (1: original path only)")
    lrs = ", ".join(f"{lr:g}" for lr in sorted(stage_lrs))
    handles = [
        _key(f"validation (stage lr {lrs})", marker="o"),
        _key("train", ls="--", marker="x", alpha=0.6),
    ]
    if True in resumptions:
        handles.append(_key("resumed at the dotted line's lr", marker="s"))
    if False in resumptions:
        handles.append(_key("resumed, not kept", marker="s", alpha=FADED))
    if reference is not None:
        handles.append(_key("original (val)", lw=0.8, ls=":"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(title or "α-branch training, stage by stage")
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
