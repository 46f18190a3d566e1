"""Learning-compression (LC): the algorithm, the compression types, the task map and the studies.

from course_lib import lc
tasks = lc.task_map(model, {"conv": lc.Prune(keep_fraction=0.1), "linear": lc.Quantize(k=2)})
result = lc.run_lc(model, tasks, data, lc.LCConfig(mu0=9e-5, mu_growth=1.1, steps=20))
result.history, result.ratio, result.compressed_model(), result.save("net.clm")
"""

from course_lib.lc.algorithm import direct_compression, run_lc
from course_lib.lc.compressions import (
    Additive,
    Binarize,
    Compression,
    Prune,
    Quantize,
    Solvers,
    Ternarize,
    largest_mask,
)
from course_lib.lc.config import LCConfig, config_dict, mu_schedule
from course_lib.lc.kmeans import kmeans_codebook
from course_lib.lc.low_rank import LowRank, RankSelection, truncated_svd
from course_lib.lc.on_disk import save_results
from course_lib.lc.result import LCResult, low_rank_layers
from course_lib.lc.studies import (
    LAYER_COMPRESSIONS,
    METHODS,
    budget_study,
    histories,
    layer_groups,
    method_spec,
    mix_study,
    mixing_specs,
    pareto_front,
    run_specs,
    schedule_study,
)
from course_lib.lc.tasks import (
    LAYER_KINDS,
    Joint,
    Task,
    compressible_layers,
    describe_tasks,
    joint,
    task_map,
)

__all__ = [
    "LAYER_COMPRESSIONS",
    "LAYER_KINDS",
    "METHODS",
    "Additive",
    "Binarize",
    "Compression",
    "Joint",
    "LCConfig",
    "LCResult",
    "LowRank",
    "Prune",
    "Quantize",
    "RankSelection",
    "Solvers",
    "Task",
    "Ternarize",
    "budget_study",
    "compressible_layers",
    "config_dict",
    "describe_tasks",
    "direct_compression",
    "histories",
    "kmeans_codebook",
    "largest_mask",
    "joint",
    "layer_groups",
    "low_rank_layers",
    "method_spec",
    "mix_study",
    "mixing_specs",
    "mu_schedule",
    "pareto_front",
    "run_lc",
    "run_specs",
    "save_results",
    "schedule_study",
    "task_map",
    "truncated_svd",
]
