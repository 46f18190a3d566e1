"""The LC reference library (UCMerced-ML/LC-model-compression) driven with bench_lc's protocol.

Optional and never a dependency: bench_lc runs it beside the kit when ``import lc`` finds it.
Get it with ``git clone https://github.com/UCMerced-ML/LC-model-compression`` and put the clone on
PYTHONPATH (it needs scikit-learn and scipy). The L step, the data pipeline (TensorDataset and
DataLoader, batch 256, shuffled) and the evaluation follow the library's LeNet-300 example; the
inputs are the kit's own tensors, so both start from the same reference on the same data.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

HOW_TO_GET = (
    "the LC reference library is not installed: git clone "
    "https://github.com/UCMerced-ML/LC-model-compression and run with PYTHONPATH=<the clone>"
)


def available() -> bool:
    """Whether ``import lc`` finds the library (and its scikit-learn)."""
    return all(importlib.util.find_spec(m) is not None for m in ("lc", "sklearn"))


def _tensors(data, split: str) -> TensorDataset:
    (x, y), *_ = data.loader(split, len(data.split(split)))
    return TensorDataset(x, y)


def _error(net: nn.Module, loader) -> float:
    net.eval()
    with torch.no_grad():
        wrong = sum((net(x).argmax(1) != y).sum().item() for x, y in loader)
    net.train()
    return wrong / len(loader.dataset)


def run(
    reference, data, method: str, lr: float, mus: list[float], epochs: int, first: int, seed: int
):
    """One LC run of the library: (test error of the compressed net after the last step, seconds).

    ``method`` is "prune" (5 % of the weights kept jointly over the layers) or "quantize"
    (k = 2 per layer), the two compressions of bench_lc.
    """
    import lc
    from lc.compression_types import AdaptiveQuantization, ConstraintL0Pruning
    from lc.torch import AsVector
    from lc.torch import ParameterTorch as Param

    net = copy.deepcopy(reference)
    device = torch.device("cpu")
    torch.manual_seed(seed)
    train = DataLoader(_tensors(data, "train"), batch_size=256, shuffle=True)
    test = DataLoader(_tensors(data, "test"), batch_size=256)
    layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
    getters = [lambda m=m: m.weight for m in layers]
    if method == "prune":
        kappa = round(0.05 * sum(m.weight.numel() for m in layers))
        tasks = {Param(getters, device): (AsVector, ConstraintL0Pruning(kappa=kappa), "prune")}
    else:
        tasks = {
            Param(g, device): (AsVector, AdaptiveQuantization(k=2), f"layer{i}")
            for i, g in enumerate(getters)
        }
    errors = []

    def l_step(model, penalty, step):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=lr * 0.98**step, momentum=0.9, nesterov=True)
        for _ in range(first if step == 0 else epochs):
            for x, y in train:
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y) + penalty()
                loss.backward()
                opt.step()

    def evaluate(model):
        _error(model, train)  # the library's example evaluates train and test after each step
        errors.append(_error(model, test))

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints every C step's state
        lc.Algorithm(net, tasks, mus, l_step, evaluate).run()
    return errors[-1], time.perf_counter() - start
