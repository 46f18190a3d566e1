"""α-branch pruning: a bottleneck branch beside a layer pair, α annealed to 0, then folded away.

Take a layer pair L1 → (batch norm, activation, pooling, flatten, …) → L2 of a pretrained net,
with C channels (or features) flowing from L1 to L2. Beside it runs a branch from L1's output
(after its batch norm) to L2's input:

    A (1×1 conv or linear, C → r)  →  what sat between L1 and L2  →  B (C ← r, no bias)

and L2 receives α·(original path) + (1 − α)·(branch). Training lowers α from 1 to 0. At α = 0
the original path is dead, and because A and B are linear maps with nothing non-linear between
them and L1 or L2, the pair folds exactly into a smaller pair by multiplying weights.

pairs: which layer pairs a branch can bridge (also inside ``models.CHAINS`` blocks such as the
residual block, where the skip stays untouched); widths: the bottleneck r per pair, chosen for a
share of parameters to remove; modules and attach: the branch modules and splicing them in; fold:
folding them away and what that saves; schedule: α schedules and training through one; saved: a
run's branched model as a file, and going on from one.
"""

from course_lib.branches.attach import BRANCH_INITS, attach_branches
from course_lib.branches.fold import check_fold, costs_by_device, fold, fold_first
from course_lib.branches.modules import (
    Branch,
    BranchMix,
    BranchTap,
    branch_parameters,
    branch_widths,
    branched_mixes,
    mix,
    original_parameters,
    set_alpha,
    unwrap,
)
from course_lib.branches.pairs import LayerPair, find_pairs, select_pairs
from course_lib.branches.saved import StartPoint, branched_file, read_start, save_branched
from course_lib.branches.schedule import (
    PRETRAINED_MODES,
    AlphaRun,
    alpha_schedule,
    best_run,
    check_schedule,
    train_alpha_schedule,
)
from course_lib.branches.widths import (
    check_widths,
    choose_widths,
    describe_branches,
    folded_parameter_count,
    widths_for_removed_fraction,
)

__all__ = [
    "BRANCH_INITS", "PRETRAINED_MODES", "AlphaRun", "Branch", "BranchMix", "BranchTap",
    "LayerPair", "StartPoint", "alpha_schedule", "attach_branches", "best_run",
    "branch_parameters", "branch_widths", "branched_file", "branched_mixes", "check_fold",
    "check_schedule", "check_widths", "choose_widths", "costs_by_device", "describe_branches",
    "find_pairs", "fold", "fold_first", "folded_parameter_count", "mix", "original_parameters",
    "read_start", "save_branched", "select_pairs", "set_alpha", "train_alpha_schedule", "unwrap",
    "widths_for_removed_fraction",
]  # fmt: skip
