"""Every figure the course reports show; each function returns a matplotlib Figure."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

# --- training (notebook 01) -------------------------------------------------------------------


def training_steps(history, title: str = "", smooth: int = 20):
    """Train loss and accuracy per SGD step (seed 000 Fig 1), raw and as a moving average."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, column in zip(axes, ("loss", "accuracy"), strict=True):
        values = history.steps[column]
        ax.plot(history.steps["step"], values, alpha=0.3, lw=0.8, label="per step")
        ax.plot(history.steps["step"], values.rolling(smooth, min_periods=1).mean(), label="mean")
        ax.set_xlabel("SGD step")
        ax.set_ylabel(f"train {column}")
        ax.legend()
    fig.suptitle(title or "Training per SGD step")
    fig.tight_layout()
    return fig


def training_epochs(history, title: str = ""):
    """Accuracy and loss per epoch on every split that was evaluated."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    epochs = history.epochs
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for split in ("train", "val", "test"):
            if f"{split}_{metric}" in epochs:
                ax.plot(epochs["epoch"], epochs[f"{split}_{metric}"], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title or "Training per epoch")
    fig.tight_layout()
    return fig


def confusion(matrix, classes, title: str = "Confusion matrix (test set)"):
    """A confusion matrix with counts in the cells (seed 000 Fig 3)."""
    k = len(classes)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2
    for i in range(k):
        for j in range(k):
            color = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def compare_runs(histories: dict, metric: str = "val_accuracy", title: str = ""):
    """One curve per labelled run, per epoch (seed 001's lr, momentum, batch-size comparisons)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, history in histories.items():
        if metric in history.epochs:
            ax.plot(history.epochs["epoch"], history.epochs[metric], marker="o", label=str(label))
        if history.diverged:
            ax.plot([], [], " ", label=f"{label}: diverged")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title or metric.replace("_", " "))
    ax.legend()
    fig.tight_layout()
    return fig


# --- α-branch pruning (notebook 05) -----------------------------------------------------------


def _segment_label(segment) -> str:
    label = f"α={segment['alpha']:g}, lr={segment['lr']:g}"
    if segment["resumed"]:
        label += ", resumed" + ("" if segment["kept"] else " (not kept)")
    return label


def alpha_stages(runs: dict, reference: float | None = None, title: str = ""):
    """Train (dashed) and validation (solid) accuracy per epoch across all α stages, one panel
    per run (frozen vs trainable pretrained weights; seed 004 Figs 1-4), a colour per segment.
    Each validation curve starts where its segment began: the drop when α steps down."""
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
    ``mark`` draws a vertical line at that α."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, run in runs.items():
        stages = run.stages
        line = ax.plot(stages["alpha"], stages["val_accuracy"], "-o", label=f"{label}: val")[0]
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


# --- pruning (notebook 03) --------------------------------------------------------------------


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


# --- LC compression (notebook 02) -------------------------------------------------------------


def _reference_line(ax, reference_error: float | None) -> None:
    if reference_error is not None:
        ax.axhline(100 * reference_error, color="grey", ls=":", label="reference")


def lc_error_vs_ratio(table, reference_error: float | None = None, title: str = ""):
    """Train and test error against the compression ratio, a colour per method: LC solid,
    direct compression (no LC) dashed (seed 000 Figs 4-6, seed 002 Fig 2)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, split in zip(axes, ("train", "test"), strict=True):
        for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
            rows = rows.sort_values("ratio")
            errors = 100 * rows[f"{split}_error"]
            ax.plot(rows["ratio"], errors, "-o", color=f"C{i}", label=f"{method}: LC")
            ax.plot(rows["direct_ratio"], 100 * rows[f"direct_{split}_error"], "--x",
                    color=f"C{i}", alpha=0.6, label=f"{method}: direct")  # fmt: skip
        _reference_line(ax, reference_error)
        ax.set_xlabel("compression ratio (dense bits / compressed bits)")
        ax.set_ylabel(f"{split} error (%)")
        ax.legend(fontsize=7)
    fig.suptitle(title or "Error against compression ratio")
    fig.tight_layout()
    return fig


def lc_error_vs_budget(table, x: str, xlabel: str, log_x: bool = True, title: str = ""):
    """Train and test error against a budget column (kept parameters, codebook size), a line
    per method, LC solid and direct compression dashed (seed 000 Figs 7-9, seed 002 Fig 3)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
        rows = rows.sort_values(x)
        color = f"C{i}"
        ax.plot(rows[x], 100 * rows["test_error"], "-o", color=color, label=f"{method}: LC test")
        ax.plot(rows[x], 100 * rows["train_error"], ":o", color=color, ms=3,
                label=f"{method}: LC train")  # fmt: skip
        ax.plot(rows[x], 100 * rows["direct_test_error"], "--x", color=color, alpha=0.6,
                label=f"{method}: direct test")  # fmt: skip
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("error (%)")
    ax.legend(fontsize=7)
    ax.set_title(title or f"Error against {xlabel}")
    fig.tight_layout()
    return fig


def lc_pareto(table, front, reference_error: float | None = None, title: str = ""):
    """Every run as a point (compression ratio, test error); the Pareto front joined and named."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups = table["method"] if "method" in table else table["run"]
    for i, (group, rows) in enumerate(table.groupby(groups, sort=False)):
        ax.plot(rows["ratio"], 100 * rows["test_error"], "o", color=f"C{i}", alpha=0.7, label=group)
    best = table[front].sort_values("ratio")
    ax.plot(best["ratio"], 100 * best["test_error"], "k-", lw=1, label="Pareto front")
    for _, row in best.iterrows():
        ax.annotate(row["run"], (row["ratio"], 100 * row["test_error"]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
    _reference_line(ax, reference_error)
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio")
    ax.set_ylabel("test error (%)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or "Every run: test error against compression ratio")
    fig.tight_layout()
    return fig


def lc_steps(histories: dict, reference_error: float | None = None, title: str = ""):
    """Test error of the compressed net and ‖w − Δ(θ)‖² per LC step, a curve per run (step 0 is
    direct compression); for comparing μ schedules."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, history in histories.items():
        left.plot(history["step"], 100 * history["test_error"], "-o", ms=3, label=label)
        right.plot(history["step"][1:], history["distance"][1:], label=label)
    _reference_line(left, reference_error)
    left.set_xlabel("LC step (0: direct compression)")
    left.set_ylabel("test error (%)")
    left.legend(fontsize=7)
    right.set_yscale("log")
    right.set_xlabel("LC step")
    right.set_ylabel("‖w − Δ(θ)‖²")
    fig.suptitle(title or "LC per step")
    fig.tight_layout()
    return fig


def lc_schedule_effect(table, reference_error: float | None = None, title: str = ""):
    """Final test error against μ0 (at a fixed a) and against a (at a fixed μ0); ``table`` from
    ``lc.sweeps.schedule_sweep`` (its column ``varied`` names the setting a row varies)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    names = {"mu0": "μ0", "mu_growth": "a"}
    for ax, (column, other) in zip(axes, (("mu0", "mu_growth"), ("mu_growth", "mu0")), strict=True):
        rows = table[table["varied"] == column].sort_values(column)
        if rows.empty:
            ax.text(0.5, 0.5, f"{names[column]} not varied", ha="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        ax.plot(rows[column], 100 * rows["test_error"], "-o", label="LC")
        ax.plot(rows[column], 100 * rows["direct_test_error"], "--x", label="direct")
        _reference_line(ax, reference_error)
        ax.set_xscale("log")
        ax.set_xlabel(f"{names[column]} ({names[other]} = {rows[other].iloc[0]:g})")
        ax.set_ylabel("test error (%)")
        ax.legend(fontsize=8)
    fig.suptitle(title or "Effect of the μ schedule μ0·a^s")
    fig.tight_layout()
    return fig


# --- Tucker-2 (notebook 04) -------------------------------------------------------------------


def tucker_reconstruction(curves, title: str = ""):
    """Seed 003 Fig 6: relative error against R1 (R2 at full) and against R2 (R1 at full);
    ``curves`` from ``tucker.reconstruction_curves`` (output error dashed when measured)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    full = {"R1": curves["R2"].max(), "R2": curves["R1"].max()}
    held = {"R1": "R2", "R2": "R1"}
    for varied, rows in curves.groupby("varied"):
        label = f"{varied} varied, {held[varied]} = {full[varied]}"
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
    ``table`` from ``tucker.rank_sweep`` (fine-tuned accuracies too, where there are some)."""
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
    speed-up against the FLOP ratio; ``table`` from ``tucker.rank_sweep``."""
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
