"""A student's own C steps and storage count plugged into LC (``lc.Solvers``): the library's own
functions plugged in give the same runs; every task of a task map (and every part of an additive
compression) gets them; a wrong one shows in the results."""

import math

import pytest
import torch
from factories import prototype_bundle

from course_lib import costs, lc
from course_lib.models import build_model

OWN = lc.Solvers(
    keep=lc.largest_mask,
    kmeans=lc.kmeans_codebook,
    svd=lc.truncated_svd,
    codebook_bits=costs.codebook_bits,
)
FAST = dict(mu0=1e-2, mu_growth=2.0, steps=2, epochs=1, lr=0.05, batch_size=64, device="cpu")


@pytest.fixture(scope="module")
def data():
    return prototype_bundle(n_train=512, n_test=128)


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)  # untrained: LC with the same C steps must give the same runs anyway
    return build_model("lenet300", (1, 8, 8))


def test_the_librarys_own_solvers_give_the_same_lc_runs(reference, data):
    budgets = {"pruning": [0.1], "quantization": [2], "fixed rank": [3], "low-rank": [1e-6]}
    config = lc.LCConfig(**FAST)
    own, _ = lc.budget_study(reference, data, budgets, config, progress=False)
    plugged, _ = lc.budget_study(reference, data, budgets, config, progress=False, solvers=OWN)
    columns = ["run", "ratio", "params", "test_error", "train_error", "direct_test_error"]
    assert own[columns].equals(plugged[columns])


def test_every_task_and_every_additive_part_gets_the_solvers(reference):
    spec = {
        "fc1": lc.Additive(lc.Prune(keep_fraction=0.1), lc.Quantize(k=2)),
        "rest": lc.LowRank(2),
    }
    tasks = lc.task_map(reference, spec, OWN)
    assert [t.compression.solvers for t in tasks] == [OWN] * 3
    assert all(part.solvers is OWN for part in tasks[0].compression.parts)
    assert all(t.compression.solvers == lc.Solvers() for t in lc.task_map(reference, spec))


def test_wrong_solvers_show_in_the_c_step_and_the_storage():
    w = torch.tensor([0.5, -3.0, 2.0, 0.1, -0.2, 1.0])
    smallest = lc.Solvers(keep=lambda w, kappa: ~lc.largest_mask(w, len(w) - kappa))
    prune = lc.Prune(kappa=2)
    prune.use_solvers(smallest)
    assert prune.project(w, 0.0).ne(0).tolist() == [False, False, False, True, True, False]
    quantize = lc.Quantize(k=3)
    quantize.use_solvers(lc.Solvers(codebook_bits=lambda n, k: math.log2(k) * n + 32 * k))
    quantize.project(w, 0.0)
    assert quantize.storage_bits() == pytest.approx(6 * math.log2(3) + 96)
    low_rank = lc.LowRank(1)
    low_rank.use_solvers(lc.Solvers(svd=lambda m, r: (m[:, :r], torch.eye(r, m.shape[1]))))
    matrix = torch.arange(6.0).reshape(2, 3)
    assert low_rank.project(matrix, 0.0).tolist() == [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
