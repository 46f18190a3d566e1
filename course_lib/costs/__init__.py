"""What a model costs: counts (parameters, FLOPs), measured time and memory, storage bits."""

from course_lib.costs.clock import CONV_BACKENDS, steady_heap, torch_threads, using_conv_backend
from course_lib.costs.counts import (
    FLOP_CONVENTIONS,
    count_flops,
    count_params,
    fashion_cnn_flops,
    flop_table,
)
from course_lib.costs.latency_table import LatencyTable
from course_lib.costs.memory import peak_memory
from course_lib.costs.storage import (
    codebook_bits,
    dense_bits,
    index_coding,
    low_rank_bits,
    pruned_bits,
    storage_summary,
)
from course_lib.costs.timing import (
    best_latency,
    compare,
    layer_times,
    measure_latency,
    time_by_layer,
)

__all__ = [
    "CONV_BACKENDS", "FLOP_CONVENTIONS", "LatencyTable", "best_latency", "codebook_bits",
    "compare", "count_flops", "count_params", "dense_bits", "fashion_cnn_flops", "flop_table",
    "index_coding", "layer_times", "low_rank_bits", "measure_latency", "peak_memory", "pruned_bits",
    "steady_heap", "storage_summary", "time_by_layer", "torch_threads", "using_conv_backend",
]  # fmt: skip
