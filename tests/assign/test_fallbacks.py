"""Each plug-in point of the library with a student's stub handed in through ``assign.use``: the
experiment says once that the exercise is missing, runs on the library's function, and gives
what the library alone gives."""

import torch
from branches.cases import inputs, prepared
from factories import labelled_by, prototype_bundle, small_fashion_cnn

from course_lib import assign, branches, costs, lc, prune, tucker
from course_lib.models import build_model
from course_lib.train import TrainConfig, confusion_matrix, fit


def stub(name):
    def missing(*args, **kwargs):
        raise NotImplementedError(f"not implemented yet: {name}")

    return assign.use(missing, name)


def said(capsys, *names):
    lines = capsys.readouterr().out.strip().splitlines()
    return sorted(line for line in lines if "this experiment uses" in line) == sorted(
        f"{name}: not implemented yet; this experiment uses the library's {name} instead"
        for name in names
    )


def test_training_and_the_confusion_matrix(capsys):
    data = prototype_bundle(n_train=200, n_test=50)
    config = TrainConfig(dataset="mnist", epochs=2, batch_size=50, step_size=1, device="cpu")
    models = [build_model("lenet300", (1, 8, 8)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    own = fit(models[0], data, config, progress=False)
    plugged = fit(models[1], data, config, progress=False, epoch=stub("sgd_epoch"))
    assert own.steps.equals(plugged.steps)
    matrix = confusion_matrix(models[1], data, "test", count=stub("confusion"))
    assert (matrix == confusion_matrix(models[0], data, "test")).all()
    assert said(capsys, "sgd_epoch", "confusion")


def test_the_c_steps_of_lc(capsys):
    data = prototype_bundle(n_train=256, n_test=64)
    torch.manual_seed(0)
    reference = build_model("lenet300", (1, 8, 8))
    names = {"keep": "keep_largest", "kmeans": "kmeans_1d", "svd": "truncated_svd"}
    solvers = lc.Solvers(**{field: stub(name) for field, name in names.items()},
                         codebook_bits=stub("codebook_bits"))  # fmt: skip
    budgets = {"pruning": [0.1], "quantization": [2], "fixed rank": [3]}
    config = lc.LCConfig(mu0=1e-2, mu_growth=2.0, steps=1, epochs=1, batch_size=64, device="cpu")
    own, _ = lc.budget_study(reference, data, budgets, config, progress=False)
    plugged, _ = lc.budget_study(reference, data, budgets, config, progress=False, solvers=solvers)
    assert own[["run", "ratio", "test_error"]].equals(plugged[["run", "ratio", "test_error"]])
    assert said(capsys, *names.values(), "codebook_bits")


def test_pruning(capsys, tmp_path):
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=64)
    own = prune.sensitivity_scan(model, data, [0.0, 0.8], cache=tmp_path)
    plugged = prune.sensitivity_scan(model, data, [0.0, 0.8], cache=tmp_path,
                                     mask=stub("magnitude_mask"))  # fmt: skip
    assert own.accuracy == plugged.accuracy
    settings = dict(accuracy_floor=0.0, max_removals=1, progress=False)
    result = prune.structured_prune(
        model, data, importance=stub("unit_importance"), surgery=stub("remove_unit"), **settings
    )
    assert result.trajectory.equals(prune.structured_prune(model, data, **settings).trajectory)
    table = costs.flop_table({"net": build_model("fashion_cnn")}, (1, 28, 28),
                             seed001=stub("seed001_flops"))  # fmt: skip
    assert table.loc["net", "formula_seed001"] == costs.fashion_cnn_flops(
        12, 16, 100, convention="seed001"
    )
    assert said(capsys, "magnitude_mask", "unit_importance", "remove_unit", "seed001_flops")


def test_tucker(capsys):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(6, 8, 3, padding=1)).eval()  # fmt: skip
    solvers = tucker.Solvers(factors=stub("hosvd_factors"), layer=stub("tucker_layer"))
    own, _ = tucker.decompose_model(net, ["2"], ranks=(3, 4))
    plugged, _ = tucker.decompose_model(net, ["2"], ranks=(3, 4), solvers=solvers)
    x = torch.randn(2, 3, 7, 7)
    with torch.no_grad():
        assert torch.equal(own(x), plugged(x))
    assert said(capsys, "hosvd_factors", "tucker_layer")


def test_branches(capsys):
    model, branched, widths = prepared("conv pair")
    plugged = branches.attach_branches(
        model, list(widths), widths=widths, seed=3, mix=stub("branch_mix")
    ).eval()
    for net in (branched, plugged):
        branches.set_alpha(net, 0.0)
    x = inputs("conv pair")
    with torch.no_grad():
        assert torch.equal(branched(x), plugged(x))
        folded = branches.fold(plugged, first=stub("fold_first"))
        assert torch.equal(folded(x), branches.fold(branched)(x))
    assert said(capsys, "branch_mix", "fold_first")
