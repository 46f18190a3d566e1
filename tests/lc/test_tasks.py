"""The task map: which layers get which compression, and the mistakes it refuses."""

import pytest

from course_lib import CourseError, lc
from course_lib.models import build_model


def test_task_map_reads_like_the_assignment():
    model = build_model("lenet5")
    tasks = lc.task_map(
        model,
        {"conv1": lc.Prune(kappa=104), "conv2": lc.Prune(kappa=2505), "linear": lc.Quantize(2)},
    )
    assert lc.describe_tasks(tasks) == (
        "conv1: prune to 104 weights\nconv2: prune to 2505 weights\n"
        "fc1: quantize with k = 2\nfc2: quantize with k = 2"
    )
    assert tasks[2].compression is not tasks[3].compression  # one codebook per layer


def test_task_map_rest_and_joint():
    model = build_model("lenet300")
    tasks = lc.task_map(model, {"rest": lc.Prune(keep_fraction=0.1), "fc1": lc.LowRank(rank=20)})
    assert [(t.layers, type(t.compression).__name__) for t in tasks] == [
        (("fc1",), "LowRank"),
        (("fc2",), "Prune"),
        (("fc3",), "Prune"),
    ]
    (task,) = lc.task_map(model, {lc.joint("all"): lc.Prune(keep_fraction=0.05)})
    assert task.layers == ("fc1", "fc2", "fc3")
    assert task.describe() == "fc1, fc2, fc3 (jointly): prune to 5 % of the weights"


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"fc9": lc.Quantize(2)}, "No layer 'fc9'"),
        ({"linear": lc.Quantize(2), "fc1": lc.Prune(kappa=3)}, "named by two entries"),
        ({lc.joint("all"): lc.LowRank(rank=2)}, "one linear or conv layer at a time"),
        ({"fc3": lc.Prune(kappa=5000)}, "cannot keep 5000 weights"),
        ({"fc3": lc.LowRank(rank=11)}, "exceeds min"),
        ({"conv": lc.Quantize(2)}, "names no layer"),
        ({"fc1": 2}, "not a compression"),
        ({}, "empty"),
    ],
)
def test_task_map_refuses_mistakes_before_any_work(spec, message):
    with pytest.raises(CourseError, match=message):
        lc.task_map(build_model("lenet300"), spec)


def test_exact_quantization_refuses_large_layers():
    with pytest.raises(CourseError, match="exact=False"):
        lc.task_map(build_model("lenet300"), {"fc1": lc.Quantize(2, exact=True)})
