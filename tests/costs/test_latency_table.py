"""NetAdapt's lookup table."""

import pytest
import torch
from torch import nn

from course_lib import costs
from course_lib.costs import latency_table
from course_lib.errors import CourseError
from course_lib.models import build_model


def test_latency_table_times_each_shape_once_and_sums_on_the_faster_backend(monkeypatch):
    timed = []

    def scripted(layer, x, repeats, warmup, backend):  # seconds by layer and backend
        timed.append((str(layer), tuple(x.shape), backend))
        if not isinstance(layer, nn.Conv2d):
            return 0.0005 if isinstance(layer, nn.Linear) else 0.0001
        return {(1, "onednn"): 0.001, (1, "native"): 0.003, (3, "onednn"): 0.005}.get(
            (layer.in_channels, backend), 0.002
        )

    monkeypatch.setattr(latency_table, "median_pass_s", scripted)
    net = build_model("fashion_cnn", (1, 12, 12), 10, c1=3, k1=3, c2=4, k2=3, f1=6)
    table = costs.LatencyTable(batch_size=5)
    # oneDNN: conv1 1 + conv2 5 + 2 linears 0.5 + 3 ReLUs and a flatten 0.1 = 7.4 ms; native:
    # 3 + 2 + 1 + 0.4 = 6.4 ms. Each model runs on one backend, so the estimate is not the sum
    # of each layer's best (4.4 ms).
    assert table.model_ms(net, (1, 12, 12)) == pytest.approx(6.4)
    shapes = {(layer, backend): x for layer, x, backend in timed}
    assert shapes[(str(net.conv2), "native")] == (5, 3, 10, 10)
    assert shapes[(str(net.fc1), None)] == (5, 4 * 8 * 8)  # a linear layer is timed once
    assert ("ReLU()", (5, 4, 8, 8), None) in timed and ("ReLU()", (5, 6), None) in timed
    assert len(timed) == len(table.ms) == 10  # 2 convs x 2 backends, 6 other layers once
    assert table.model_ms(net, (1, 12, 12)) == pytest.approx(6.4) and len(timed) == 10
    onednn = costs.LatencyTable(batch_size=5, conv_backend="onednn")
    assert onednn.model_ms(net, (1, 12, 12)) == pytest.approx(7.4)
    assert net.training and not net.conv1._forward_pre_hooks


def test_latency_table_measures_real_layers_and_refuses_bad_settings():
    net = build_model("fashion_cnn", (1, 12, 12), 10, c1=3, k1=3, c2=4, k2=3, f1=6)
    table = costs.LatencyTable(batch_size=4, repeats=2, warmup=0)
    assert table.model_ms(net, (1, 12, 12)) > 0 and all(ms > 0 for ms in table.ms.values())
    for bad in ({"conv_backend": "mkl"}, {"batch_size": 0}, {"repeats": 0}):
        with pytest.raises(CourseError):
            costs.LatencyTable(**bad)
    with pytest.raises(CourseError, match="conv and linear"):
        table.model_ms(nn.Sequential(nn.ReLU()), (3,))
    normed = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    table.model_ms(normed, (1, 4, 4))  # in training mode: timing must not touch its statistics
    assert normed.training and normed[1].num_batches_tracked == 0
    assert torch.equal(normed[1].running_mean, torch.zeros(2))
