"""Every figure the course reports show; each function returns a matplotlib Figure."""

from course_lib.plots.branches import alpha_accuracy, alpha_costs, alpha_stages
from course_lib.plots.lc import (
    lc_error_vs_budget,
    lc_error_vs_ratio,
    lc_pareto,
    lc_schedule_effect,
    lc_steps,
)
from course_lib.plots.pruning import (
    prune_rate_view,
    prune_sensitivity,
    structured_trajectory,
    weight_histograms,
)
from course_lib.plots.training import (
    compare_runs,
    compare_steps,
    confusion,
    training_epochs,
    training_steps,
)
from course_lib.plots.tucker import tucker_accuracy, tucker_forward_time, tucker_reconstruction

__all__ = [
    "alpha_accuracy",
    "alpha_costs",
    "alpha_stages",
    "compare_runs",
    "compare_steps",
    "confusion",
    "lc_error_vs_budget",
    "lc_error_vs_ratio",
    "lc_pareto",
    "lc_schedule_effect",
    "lc_steps",
    "prune_rate_view",
    "prune_sensitivity",
    "structured_trajectory",
    "training_epochs",
    "training_steps",
    "tucker_accuracy",
    "tucker_forward_time",
    "tucker_reconstruction",
    "weight_histograms",
]
