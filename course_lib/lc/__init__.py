"""Learning-compression (LC): the algorithm, the compression types and the task map.

from course_lib import lc
tasks = lc.task_map(model, {"conv": lc.Prune(fraction=0.1), "linear": lc.Quantize(k=2)})
result = lc.run_lc(model, tasks, data, lc.LCConfig(mu0=9e-5, mu_growth=1.1, steps=20))
result.history, result.ratio, result.compressed_model()
"""

from course_lib.lc.algorithm import (
    LCConfig,
    LCResult,
    config_dict,
    direct_compression,
    low_rank_layers,
    mu_schedule,
    run_lc,
)
from course_lib.lc.compressions import (
    Additive,
    Binarize,
    Compression,
    LowRank,
    Prune,
    Quantize,
    RankSelection,
    Task,
    Ternarize,
    compressible_layers,
    describe_tasks,
    joint,
    task_map,
)

__all__ = [
    "Additive",
    "Binarize",
    "Compression",
    "LCConfig",
    "LCResult",
    "LowRank",
    "Prune",
    "Quantize",
    "RankSelection",
    "Task",
    "Ternarize",
    "compressible_layers",
    "config_dict",
    "describe_tasks",
    "direct_compression",
    "joint",
    "low_rank_layers",
    "mu_schedule",
    "run_lc",
    "task_map",
]
