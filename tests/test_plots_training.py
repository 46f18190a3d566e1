import matplotlib
import pandas as pd

from course_lib import plots
from course_lib.train import History

matplotlib.use("Agg")


def history(losses, diverged=False, val=None, epochs=None):
    steps = pd.DataFrame(
        {"step": range(1, len(losses) + 1), "epoch": 1, "loss": losses, "accuracy": 0.5}
    )
    val_steps = pd.DataFrame(val or [], columns=["step", "val_loss", "val_accuracy"])
    epochs = pd.DataFrame(epochs or [])
    return History(steps, epochs, diverged, "loss became nan" if diverged else None, val_steps)


def lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_a_diverged_run_ends_where_it_diverged_with_a_mark():
    fig = plots.compare_steps(
        {"lr=0.01": history([2.0] * 8), "lr=1": history([2.0, 5.0, 9.0], True)}, smooth=1
    )
    drawn = lines(fig.axes[0])
    assert list(drawn["lr=0.01"].get_xdata()) == list(range(1, 9))
    assert list(drawn["lr=1"].get_xdata()) == [1, 2, 3]
    mark = drawn["lr=1: diverged after step 3"]
    assert list(mark.get_xdata()) == [3] and list(mark.get_ydata()) == [9.0]


def test_the_step_curves_show_validation_where_it_was_recorded():
    probed = history([2.0, 1.5, 1.0, 0.5], val=[(2, 1.6, 0.4), (4, 0.9, 0.7)])
    fig = plots.training_steps(probed)
    loss, accuracy = (lines(ax)["validation, every 2 steps"] for ax in fig.axes)
    assert list(loss.get_xdata()) == [2, 4] and list(loss.get_ydata()) == [1.6, 0.9]
    assert list(accuracy.get_ydata()) == [0.4, 0.7]
    assert "validation, every 2 steps" not in lines(plots.training_steps(history([1.0])).axes[0])


def test_compared_runs_draw_train_and_test_per_epoch_in_both_panels():
    rows = [
        {"epoch": e, "train_loss": 1 / e, "test_loss": 0.5 + e / 10, "train_accuracy": 0.9,
         "test_accuracy": 0.8} for e in (1, 2, 3)
    ]  # fmt: skip
    fig = plots.compare_runs({"f1=400": history([1.0], epochs=rows)})
    accuracy, loss = (lines(ax) for ax in fig.axes)
    assert list(loss["f1=400 train"].get_ydata()) == [1, 0.5, 1 / 3]
    assert list(loss["f1=400 test"].get_ydata()) == [0.6, 0.7, 0.8]
    assert list(accuracy["f1=400 test"].get_ydata()) == [0.8] * 3
