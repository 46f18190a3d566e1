"""Figures of part 4: reconstruction error, accuracy and forward time against rank."""

import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter


def tucker_reconstruction(curves, title: str = ""):
    """Seed 003 Fig 6: relative error against R1 with R2 held and against R2 with R1 held (at
    full rank, or at the rank the curves held); ``curves`` from
    ``tucker.reconstruction_curves`` (output error dashed when measured)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    other = {"R1": "R2", "R2": "R1"}
    for varied, rows in curves.groupby("varied"):
        label = f"{varied} varied, {other[varied]} = {rows[other[varied]].iloc[0]}"
        (line,) = ax.plot(rows["rank"], rows["weight_error"], "-o", ms=3, label=f"weights: {label}")
        if "output_error" in rows:
            color = line.get_color()
            ax.plot(
                rows["rank"], rows["output_error"], "--", color=color, label=f"outputs: {label}"
            )
    ax.set_xlabel("rank R")
    ax.set_ylabel("relative reconstruction error")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Reconstruction error vs rank")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def tucker_accuracy(table, title: str = ""):
    """Seed 003 Fig 7: test accuracy against k (ranks k/8 of the channels), beside the original;
    ``table`` from ``tucker.rank_study`` (fine-tuned accuracies too, where there are some)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    original, rows = table.iloc[0], table.iloc[1:]
    ax.plot(rows["k"], rows["accuracy"], "-o", label="decomposed")
    tuned = rows.dropna(subset=["accuracy_tuned"])
    if len(tuned):
        ax.plot(tuned["k"], tuned["accuracy_tuned"], "s", ms=8, label="decomposed + fine-tuned")
    ax.axhline(original["accuracy"], color="gray", ls="--", label="original")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("k (R1 = k/8 · c, R2 = k/8 · f)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "Accuracy vs rank")
    ax.legend()
    fig.tight_layout()
    return fig


def tucker_forward_time(table, title: str = ""):
    """Seed 003 Fig 8: forward time per image against k beside the original's, and the measured
    speed-up against the FLOP ratio; ``table`` from ``tucker.rank_study``."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    original, rows = table.iloc[0], table.iloc[1:]
    left.plot(rows["k"], 1e3 * rows["seconds_per_image"], "-o", label="decomposed")
    left.axhline(1e3 * original["seconds_per_image"], color="gray", ls="--", label="original")
    left.set_xlabel("k")
    left.set_ylabel("forward time per image (ms)")
    left.set_ylim(bottom=0)
    left.legend()
    right.plot(rows["k"], rows["flop_ratio"], "-o", label="FLOP ratio")
    right.plot(rows["k"], rows["speedup"], "-s", label="measured speed-up")
    right.axhline(1, color="gray", ls="--")
    right.set_xlabel("k")
    right.set_ylabel("original / decomposed")
    right.set_ylim(bottom=0)
    right.legend()
    fig.suptitle(title or "Forward time vs rank")
    fig.tight_layout()
    return fig
