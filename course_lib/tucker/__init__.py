"""Tucker-2 of convolutions: the algebra (HOSVD, HOOI, rank rules), the layers (a conv as three
convs, models decomposed) and the studies of notebook 04 (curves, methods, the k study)."""

from course_lib.tucker.algebra import (
    METHODS,
    RANK_RULES,
    Tucker2,
    choose_ranks,
    decompose_weight,
    hooi,
    hosvd,
    hosvd_factors,
    leading_vectors,
    ranks_by_energy,
    ranks_by_keep_fraction,
    relative_error,
    unfold,
    unfolding_spectra,
    weight_error,
)
from course_lib.tucker.layers import (
    Solvers,
    TuckerConv,
    build_layer,
    conv_layers,
    decompose_conv,
    decompose_model,
    default_layers,
    layer_error,
    layer_input,
    output_error,
    tucker_layer,
)
from course_lib.tucker.studies import (
    TIMING,
    RankStudy,
    compare_methods,
    layer_at_ranks,
    rank_study,
    reconstruction_curves,
)

__all__ = [
    "METHODS", "RANK_RULES", "TIMING", "RankStudy", "Solvers", "Tucker2", "TuckerConv",
    "build_layer", "choose_ranks", "compare_methods", "conv_layers", "decompose_conv",
    "decompose_model", "decompose_weight", "default_layers", "hooi", "hosvd", "hosvd_factors",
    "layer_at_ranks", "layer_error", "layer_input", "leading_vectors", "output_error",
    "rank_study", "ranks_by_energy", "ranks_by_keep_fraction", "reconstruction_curves",
    "relative_error", "tucker_layer", "unfold", "unfolding_spectra", "weight_error",
]  # fmt: skip
