"""Pruning: magnitude pruning (``magnitude``) with its cached sensitivity scan (``scan``);
structured pruning, which removes whole channels and neurons and rebuilds a smaller net
(``slimming``), step by step in a search order (``search``) until a floor or target
(``structured``); the measured speed-up (``speed``).

from course_lib import prune
scan = prune.sensitivity_scan(net, data, [0.0, 0.5, 0.9])
result = prune.structured_prune(net, data, order="cheapest", accuracy_floor=0.87)
"""

from course_lib.prune.magnitude import (
    magnitude_mask,
    magnitude_masks,
    magnitude_prune,
    sparsity,
    weight_layers,
)
from course_lib.prune.scan import ALL_LAYERS, SensitivityScan, sensitivity_scan
from course_lib.prune.search import (
    ORDERS,
    Cheapest,
    Latency,
    Order,
    Proposal,
    Sequential,
    make_order,
)
from course_lib.prune.slimming import (
    P_NORMS,
    layer_widths,
    prunable_layers,
    remove_unit,
    slim,
    unit_importance,
)
from course_lib.prune.speed import speedup
from course_lib.prune.structured import (
    PruneSettings,
    StructuredPruning,
    finetune_model,
    finetune_plan,
    structured_prune,
)

__all__ = [
    "ALL_LAYERS", "Cheapest", "Latency", "ORDERS", "Order", "P_NORMS", "Proposal",
    "PruneSettings", "Sequential", "SensitivityScan", "StructuredPruning", "finetune_model",
    "finetune_plan", "layer_widths", "magnitude_mask", "magnitude_masks", "magnitude_prune",
    "make_order", "prunable_layers", "remove_unit", "sensitivity_scan", "slim", "sparsity",
    "speedup", "structured_prune", "unit_importance", "weight_layers",
]  # fmt: skip
