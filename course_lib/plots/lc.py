"""Figures of part 2: LC error against ratio and budget, the Pareto front, steps, μ schedules."""

import matplotlib.pyplot as plt


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
    ``lc.schedule_study`` (its column ``varied`` names the setting a row varies)."""
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
