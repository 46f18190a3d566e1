"""Figures of part 1: training curves per step and epoch, confusion, compared runs."""

import matplotlib.pyplot as plt


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
