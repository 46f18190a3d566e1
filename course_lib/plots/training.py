"""Figures of part 1: training curves per step and epoch, confusion, compared runs."""

import matplotlib.pyplot as plt


def training_steps(history, title: str = "", smooth: int = 20):
    """Train loss and accuracy per SGD step (seed 000 Fig 1), raw and as a moving average, and
    the validation figures every ``val_every`` steps where they were recorded (Fig 2)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    probed = history.val_steps
    for ax, column in zip(axes, ("loss", "accuracy"), strict=True):
        values = history.steps[column]
        ax.plot(history.steps["step"], values, alpha=0.3, lw=0.8, label="train, per step")
        ax.plot(history.steps["step"], values.rolling(smooth, min_periods=1).mean(), label="mean")
        if len(probed):
            every = int(probed["step"].iloc[0])
            label = f"validation, every {every} steps"
            ax.plot(probed["step"], probed[f"val_{column}"], marker=".", label=label)
        ax.set_xlabel("SGD step")
        ax.set_ylabel(column)
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


STYLES = {"train": "-", "val": ":", "test": "--"}


def compare_runs(histories: dict, title: str = "", splits=("train", "test")):
    """Accuracy and loss per epoch, one colour per labelled run and one line style per split
    (seed 001's lr, momentum, batch-size and overfitting comparisons; seed 003's experiments).
    A run that diverged ends at its last whole epoch, marked with an x."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        for index, (label, history) in enumerate(histories.items()):
            _epoch_lines(ax, history, metric, splits, f"C{index % 10}", label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    fig.suptitle(title or "Compared runs")
    fig.tight_layout()
    return fig


def _epoch_lines(ax, history, metric: str, splits, color: str, label: str) -> None:
    for split in splits:
        column = f"{split}_{metric}"
        if column in history.epochs:
            x, y = history.epochs["epoch"], history.epochs[column]
            ax.plot(x, y, STYLES[split], color=color, marker="o", ms=3, label=f"{label} {split}")
            if history.diverged:
                ax.plot(x.iloc[-1:], y.iloc[-1:], "x", color=color, ms=10, mew=2)
    if history.diverged:
        ax.plot([], [], "x", color=color, label=f"{label}: diverged")


def compare_steps(histories: dict, column: str = "loss", title: str = "", smooth: int = 10):
    """The train ``column`` per SGD step of each labelled run, as a moving average; a run that
    diverged ends at the step where it did, marked with an x (seed 003's lr 0.1 and 1)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for index, (label, history) in enumerate(histories.items()):
        color, steps = f"C{index % 10}", history.steps
        values = steps[column].rolling(smooth, min_periods=1).mean()
        ax.plot(steps["step"], values, color=color, label=str(label))
        if history.diverged:
            last = int(steps["step"].iloc[-1]) if len(steps) else 0
            ax.plot([last], [values.iloc[-1] if len(steps) else 0], "x", color=color, ms=10, mew=2,
                    label=f"{label}: diverged after step {last}")  # fmt: skip
    ax.set_xlabel("SGD step")
    ax.set_ylabel(f"train {column} (mean of {smooth} steps)")
    ax.set_title(title or f"train {column} per SGD step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
