"""ipywidgets panels over cached computations; headless they render once and never block."""

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from course_lib import costs, plots, train, tucker
from course_lib.errors import CourseError


class Panel:
    """The frame every panel shares: its controls, a status that reads "working…" while an update
    runs (the controls disabled meanwhile), an HTML summary and, optionally, a figure.

    Subclasses build their controls, call ``_frame`` and implement ``render``; controls report
    only on release (``continuous_update=False``). Display a panel with ``display(panel)``.
    """

    def _frame(self, controls: list, figure: bool = True) -> None:
        self.controls = controls
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.image = widgets.Image(format="png") if figure else None
        parts = [widgets.HBox([*controls, self.status]), self.summary]
        self.widget = widgets.VBox(parts + ([self.image] if figure else []))
        for control in controls:
            control.observe(self.update, names="value")
        self.update()

    def _busy(self, busy: bool) -> None:
        self.status.value = "<i>working…</i>" if busy else "ready"
        for control in self.controls:
            control.disabled = busy

    def render(self) -> None:
        raise NotImplementedError

    def update(self, change=None) -> None:
        """Redraw the panel for the controls' current values."""
        self._busy(True)
        try:
            self.render()
        finally:
            self._busy(False)

    def show_figure(self, fig) -> None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        self.image.value = buffer.getvalue()

    def _ipython_display_(self) -> None:
        display(self.widget)


# --- α-branch pruning (notebook 05) -----------------------------------------------------------


class AlphaPanel(Panel):
    """A slider over α showing the accuracy each run's branched model reached at that α, from the
    runs' records (``branches.AlphaRun``; nothing is re-evaluated), and the accuracy-per-α figure
    with the chosen α marked.

    """

    def __init__(self, runs: dict, reference: float | None = None, alpha: float | None = None):
        self.runs, self.reference = runs, reference
        self.tables = {label: run.stages.set_index("alpha") for label, run in runs.items()}
        alphas = sorted({a for table in self.tables.values() for a in table.index}, reverse=True)
        if not alphas:
            raise CourseError("These runs hold no α stages to show.")
        alpha = alphas[-1] if alpha is None else alpha
        if alpha not in alphas:
            raise CourseError(f"The runs reached no stage at α = {alpha}: choose one of {alphas}.")
        self.alpha = widgets.SelectionSlider(
            options=[(f"{a:g}", a) for a in alphas],
            value=alpha,
            description="α",
            continuous_update=False,
        )
        self._frame([self.alpha])

    def _rows(self, alpha: float) -> str:
        rows = []
        for label, table in self.tables.items():
            if alpha not in table.index:
                rows.append(f"<tr><td>{label}</td><td colspan=3>not reached</td></tr>")
                continue
            val, test = table.loc[alpha, "val_accuracy"], table.loc[alpha, "test_accuracy"]
            change = "" if self.reference is None else f"{100 * (test - self.reference):+.2f}"
            cells = [label, f"{val:.2%}", f"{test:.2%}", change]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        header = "<tr><th>pretrained weights</th><th>val</th><th>test</th><th>points</th></tr>"
        return f"<table>{header}{''.join(rows)}</table>"

    def render(self) -> None:
        """Show every run's accuracy at the chosen α and mark it on the figure."""
        alpha = self.alpha.value
        self.summary.value = (
            f"<b>α = {alpha:g}</b> (1: the original path only, 0: the branches only)"
            + self._rows(alpha)
        )
        self.show_figure(plots.alpha_accuracy(self.runs, self.reference, mark=alpha))


# --- pruning (notebook 03) --------------------------------------------------------------------


class PruneRatePanel(Panel):
    """A prune-rate slider and a layer choice over a cached ``prune.SensitivityScan``: moving
    either shows that point's accuracy and weight histogram (nothing is re-evaluated)."""

    def __init__(self, scan, curve: str | None = None, rate: float | None = None):
        curve = scan.curves[0] if curve is None else curve
        rate = scan.rates[len(scan.rates) // 2] if rate is None else rate
        scan.accuracy_at(curve, rate)  # checks the curve and the rate before building anything
        self.scan = scan
        self.rate = widgets.SelectionSlider(
            options=[(f"{100 * r:g}%", r) for r in scan.rates],
            value=next(r for r in scan.rates if abs(r - rate) < 1e-9),
            description="prune rate",
            continuous_update=False,
        )
        self.layer = widgets.Dropdown(options=scan.curves, value=curve, description="layer")
        self._frame([self.layer, self.rate])

    def render(self) -> None:
        """Show the accuracy and the weight histogram at the current layer and rate."""
        curve, rate = self.layer.value, self.rate.value
        accuracy = self.scan.accuracy_at(curve, rate)
        kept, removed = self.scan.weight_split(curve, rate)
        self.summary.value = (
            f"<b>{curve}</b> pruned at <b>{rate:.0%}</b>: {len(removed):,} of "
            f"{len(kept) + len(removed):,} weights removed, {self.scan.split} accuracy "
            f"<b>{accuracy:.2%}</b> (unpruned {self.scan.baseline:.2%})"
        )
        self.show_figure(plots.prune_rate_view(self.scan, curve, rate))


# --- Tucker-2 (notebook 04) -------------------------------------------------------------------


def _rank_slider(value: int, top: int, name: str) -> widgets.IntSlider:
    return widgets.IntSlider(value=value, min=1, max=top, description=name, continuous_update=False)


class TuckerRankPanel(Panel):
    """Sliders for the ranks R1 (input) and R2 (output) of one conv layer: on release the layer
    alone is decomposed at (R1, R2) and the panel shows the weight and output errors, the model's
    accuracy on ``split`` of ``data`` and its FLOPs beside the original's.

    Each (R1, R2) is computed once and cached (``results``).
    """

    def __init__(
        self,
        model,
        data,
        layer: str,
        *,
        method: str = "hooi",
        split: str = "test",
        ranks: tuple[int, int] | None = None,
    ):
        convs = tucker.conv_layers(model)
        if layer not in convs:
            raise CourseError(f"layer must be one of the convs {convs}; got {layer!r}.")
        conv = model.get_submodule(layer)
        ranks = ranks or (max(1, conv.in_channels // 2), max(1, conv.out_channels // 2))
        tucker.decompose_weight(conv.weight, ranks, method)  # checks ranks and method first
        self.model, self.data, self.layer = model, data, layer
        self.method, self.split = method, split
        batch = next(iter(data.loader(split, 256)))[0]
        self.inputs = tucker.layer_input(model, layer, batch)
        self.original = {
            "accuracy": train.accuracy(model, data, split),
            "flops": costs.count_flops(model, data.input_shape),
        }
        self.results: dict[tuple[int, int], dict] = {}
        self.in_rank = _rank_slider(ranks[0], conv.in_channels, "R1 (input)")
        self.out_rank = _rank_slider(ranks[1], conv.out_channels, "R2 (output)")
        self._frame([self.in_rank, self.out_rank], figure=False)

    def evaluate(self, ranks: tuple[int, int]) -> dict:
        """Errors, accuracy and FLOPs with only ``layer`` decomposed at ``ranks`` (cached)."""
        if ranks not in self.results:
            self.results[ranks] = tucker.layer_at_ranks(
                self.model,
                self.data,
                self.layer,
                ranks,
                self.inputs,
                method=self.method,
                split=self.split,
            )
        return self.results[ranks]

    def render(self) -> None:
        """Show the figures at the sliders' ranks."""
        ranks = (self.in_rank.value, self.out_rank.value)
        result, original = self.evaluate(ranks), self.original
        rows = [
            ("weight error ‖W − Ŵ‖/‖W‖", f"{result['weight_error']:.4f}", "0"),
            ("output error of the layer", f"{result['output_error']:.4f}", "0"),
            (f"{self.split} accuracy", *(f"{r['accuracy']:.2%}" for r in (result, original))),
            ("FLOPs per image (model)", f"{result['flops']:,}", f"{original['flops']:,}"),
        ]
        cells = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
        self.summary.value = (
            f"<b>{self.layer}</b> at R1 = {ranks[0]}, R2 = {ranks[1]}: "
            f"{original['flops'] / result['flops']:.2f}× fewer FLOPs than the original"
            f"<table><tr><th></th><th>decomposed</th><th>original</th></tr>{cells}</table>"
        )
