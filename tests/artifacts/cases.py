"""Small models of every family the kit makes, for the tests of model files and runtimes."""

import torch
from branches.cases import randomize_norms
from factories import labelled_by, small_fashion_cnn, tiny_cnn

from course_lib import branches, lc, prune, tucker
from course_lib.models import build_model

SHAPE = (1, 12, 12)

LC_SPECS = {
    "pruned": {lc.joint("all"): lc.Prune(keep_fraction=0.05)},
    "pruned per layer": {"all": lc.Prune(keep_fraction=0.1)},
    "quantized": {"all": lc.Quantize(4)},
    "quantized jointly": {lc.joint("all"): lc.Quantize(2)},
    "binary": {"all": lc.Binarize()},
    "binary ±1": {"all": lc.Binarize(scaled=False)},
    "ternary": {"all": lc.Ternarize()},
    "low-rank": {"all": lc.LowRank(2)},
    "rank selection": {"conv1": lc.RankSelection(alpha=1.0), "rest": lc.RankSelection(alpha=1e-9)},
    "additive": {
        "conv": lc.Additive(lc.Prune(keep_fraction=0.1), lc.Quantize(2)),
        "rest": lc.Quantize(8),
    },
    "additive with low rank": {"fc1": lc.Additive(lc.LowRank(1), lc.Prune(kappa=20))},
}


def lc_result(kind: str, net=None, shape=SHAPE) -> lc.LCResult:
    """Direct compression of ``net`` (default: ``tiny_cnn``) by the task map ``LC_SPECS[kind]``."""
    net = net if net is not None else tiny_cnn()
    data = labelled_by(net, shape=shape)
    return lc.direct_compression(net, lc.task_map(net, LC_SPECS[kind]), data)


def structured():
    """A Fashion CNN with conv2 and fc1 physically slimmed."""
    model = prune.slim(small_fashion_cnn(), "conv2", [0, 2, 3])
    return prune.slim(model, "fc1", [1, 2, 4]).eval()


def tucker_net():
    return tucker.decompose_model(tiny_cnn(), ["conv2", "conv3"], ranks=(2, 3))[0].eval()


def folded():
    """A small VGG with batch norms whose conv2 and fc1 pairs were branched and folded at α = 0."""
    vgg = randomize_norms(build_model("vgg_small", SHAPE, 10, widths=(4, 8, 8))).eval()
    branched = branches.attach_branches(vgg, ["conv2", "fc1"], widths={"conv2": 2, "fc1": 4})
    branches.set_alpha(branched, 0.0)
    return branches.fold(branched).eval()


def resnet():
    torch.manual_seed(0)
    return randomize_norms(build_model("resnet_small", SHAPE, 10, widths=(4, 8, 8))).eval()


FAMILIES = {
    "structured": structured,
    "tucker": tucker_net,
    "folded": folded,
    "resnet_small": resnet,
    "lc low-rank": lambda: lc_result("low-rank").compressed_model(),
    "lc additive": lambda: lc_result("additive").compressed_model(),
}
