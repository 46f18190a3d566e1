"""The report's opening summary: per part, the headline results a person reads first, taken from
each notebook's metrics.json (the raw metrics follow in the report's appendix).

Only what a run measured is shown: a value the run does not hold leaves its line out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from course_lib.checks import is_number


def _pct(value) -> str:
    return f"{100 * value:.2f} %" if is_number(value) else "—"


def _records(value) -> list[dict]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def training(m: Mapping) -> list[str]:
    """Notebook 01: the reference."""
    return [
        f"reference {m.get('model')} on {m.get('dataset')}: test accuracy "
        f"{_pct(m.get('test_accuracy'))}, validation {_pct(m.get('val_accuracy'))} after "
        f"{m.get('epochs')} epoch(s); {m.get('params')} parameters, {m.get('flops')} FLOPs"
    ]


def lc(m: Mapping) -> list[str]:
    """Notebook 02: the reference's error, the best LC run per method and the best mix (with the
    net the mixes compress, where it is another)."""
    reference = m.get("reference") if isinstance(m.get("reference"), dict) else {}
    lines = [f"reference {reference.get('model')}: test error {_pct(reference.get('test_error'))}"]
    mixed, mix = m.get("mix_reference"), "mix"
    if isinstance(mixed, dict):
        lines.append(f"mixes' reference {mixed.get('model')}: test error "
                     f"{_pct(mixed.get('test_error'))}")  # fmt: skip
        mix = f"mix on {mixed.get('model')}"
    runs = _records(m.get("runs")) + [{**r, "method": mix} for r in _records(m.get("mixes"))]
    for method in dict.fromkeys(r.get("method") for r in runs):
        scored = [r for r in runs if r.get("method") == method and is_number(r.get("test_error"))]
        if scored:
            best = min(scored, key=lambda r: r["test_error"])
            lines.append(
                f"best {method}: {best.get('run')}, test error {_pct(best['test_error'])} at "
                f"ratio {best.get('ratio', float('nan')):.1f}x"
            )
    return lines


def pruning(m: Mapping) -> list[str]:
    """Notebook 03: the pruned model's widths, FLOPs, accuracy and measured speed-up."""
    chosen = m.get("chosen") if isinstance(m.get("chosen"), dict) else {}
    original = chosen.get("original") if isinstance(chosen.get("original"), dict) else {}
    timing = chosen.get("timing") if isinstance(chosen.get("timing"), dict) else {}
    widths = ", ".join(f"{k} {chosen[k]}" for k in ("c1", "c2", "f1") if k in chosen)
    lines = [
        f"pruned model{f' ({widths})' if widths else ''}: {chosen.get('flops')} FLOPs (original "
        f"{original.get('flops')}), test accuracy {_pct(chosen.get('test_accuracy'))} (before "
        f"fine-tuning {_pct(chosen.get('test_accuracy_before_finetune'))}, original "
        f"{_pct(original.get('test_accuracy'))})"
    ]
    if is_number(timing.get("speedup")):
        lines.append(
            f"measured speed-up {timing['speedup']:.2f}x (FLOP ratio "
            f"{timing.get('flop_ratio', float('nan')):.2f}x, batches of {timing.get('batch_size')})"
        )
    return lines


def tucker(m: Mapping) -> list[str]:
    """Notebook 04: accuracy and time per image at each k."""
    lines = []
    for row in _records(m.get("sweep")):
        tuned = row.get("accuracy_tuned")
        after = f" ({_pct(tuned)} fine-tuned)" if is_number(tuned) else ""
        seconds = row.get("seconds_per_image")
        time = f"{1000 * seconds:.3f} ms per image" if is_number(seconds) else "not timed"
        speedup = row.get("speedup", float("nan"))
        lines.append(
            f"{row.get('model')}: accuracy {_pct(row.get('accuracy'))}{after}, {time} "
            f"(speed-up {speedup:.2f}x)"
        )
    return lines


def branches(m: Mapping) -> list[str]:
    """Notebook 05: the folded α-branch model beside the original."""
    reference = m.get("reference_accuracy") if isinstance(m.get("reference_accuracy"), dict) else {}
    lines = [f"reference test accuracy {_pct(reference.get('test'))}"]
    if m.get("folded_run") is None:
        return [*lines, "no run reached α = 0: nothing folded"]
    check = m.get("fold_check") if isinstance(m.get("fold_check"), dict) else {}
    lines.append(
        f"folded the {m['folded_run']} run: test accuracy {_pct(check.get('folded_accuracy'))}"
    )
    ratio = next((r for r in _records(m.get("costs")) if r.get("model") == "folded / original"), {})
    if ratio:
        lines.append(
            f"folded / original on {ratio.get('device')}: parameters {ratio.get('params'):.2f}, "
            f"FLOPs {ratio.get('flops'):.2f}, time per image {ratio.get('ms_per_image'):.2f}"
        )
    return lines


PARTS: dict[str, tuple[str, Callable[[Mapping], list[str]]]] = {
    "01_training": ("Training: the reference", training),
    "02_lc_compression": ("LC compression", lc),
    "03_pruning": ("Pruning", pruning),
    "04_tucker": ("Tucker decomposition", tucker),
    "05_alpha_branch": ("α-branches, folded", branches),
}


def summary(runs: Mapping[str, dict]) -> list[tuple[str, list[str]]]:
    """(title, lines) per part, for ``runs`` (run folder name -> its metrics.json) of the five
    notebooks; another notebook's run has no summary."""
    parts = []
    for name, metrics in runs.items():
        if name in PARTS and metrics:
            title, lines = PARTS[name]
            try:
                parts.append((f"{title} ({name})", lines(metrics)))
            except (TypeError, ValueError):  # a metrics.json of another release: raw values only
                parts.append((f"{title} ({name})", ["see the raw metrics in the appendix"]))
    return parts
