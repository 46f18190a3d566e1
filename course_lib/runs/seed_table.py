"""The seed-vs-kit table of ``course reproduce``: every number of a seed report beside the value
the kit measured and their difference, and every figure beside the kit's.

A row without a measurement says why ("not run: no data", "not run: not in the kit", "not run:
the notebook failed", "not measured in this run"): the table never shows a number that was not
measured.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from course_lib import paths
from course_lib.runs.seeds import NotMeasured, SeedProfile, figure_files, kit_value

NO_DATA = "not run: no data"
NOT_IN_KIT = "not run: not in the kit"
FAILED = "not run: the notebook failed"
NOT_MEASURED = "not measured in this run"
COLUMNS = ["seed", "where", "what", "report", "report_value", "kit_notebook", "kit_key"]
COLUMNS += ["kit_value", "difference", "status", "note"]
TABLE_NAME = "seed_vs_kit"


def _measured(number: Mapping, runs: Mapping[str, dict | None], no_data: set[str]):
    """(kit value or None, status) of one number of the report."""
    kit = number.get("kit")
    if kit is None or kit["notebook"] not in runs and kit["notebook"] not in no_data:
        return None, NOT_IN_KIT
    if kit["notebook"] in no_data:
        return None, NO_DATA
    metrics = runs[kit["notebook"]]
    if metrics is None:
        return None, FAILED
    try:
        return kit_value(metrics, kit), "measured"
    except NotMeasured as why:
        return None, f"{NOT_MEASURED} ({why})"


def number_rows(
    profile: SeedProfile, runs: Mapping[str, dict | None], no_data: set[str]
) -> list[dict]:
    """One row per number of the report. ``runs``: notebook stem -> its metrics.json (None: the
    run failed); ``no_data``: the notebooks not run for want of their dataset."""
    rows = []
    for number in profile.numbers:
        kit = number.get("kit") or {}
        value, status = _measured(number, runs, no_data)
        report_value = number.get("value")
        both = value is not None and report_value is not None
        rows.append(
            {
                "seed": profile.seed,
                "where": number["where"],
                "what": number["what"],
                "report": number["report"],
                "report_value": report_value,
                "kit_notebook": kit.get("notebook", ""),
                "kit_key": _key_text(kit),
                "kit_value": value,
                "difference": value - report_value if both else None,
                "status": status,
                "note": number.get("note", ""),
            }
        )
    return rows


def _key_text(kit: Mapping) -> str:
    """Where in metrics.json, in one line: key[where].field (rank, per)."""
    if not kit:
        return ""
    text = kit["key"] + "".join(f"[{k}={v}]" for k, v in (kit.get("where") or {}).items())
    if "rank_by" in kit:
        text += f"[{kit.get('order', 'min')} {kit['rank_by']} #{kit.get('rank', 1)}]"
    if "field" in kit:
        text += f".{kit['field']}"
    if "per" in kit:
        text += " / " + "".join(f"[{k}={v}]" for k, v in kit["per"]["where"].items())
    return text + ("" if kit.get("as", "value") == "value" else f" as {kit['as']}")


def figure_rows(profile: SeedProfile, folder: Path, no_data: set[str]) -> list[dict]:
    """One row per figure of the report: the kit files that correspond, where the run wrote them,
    and the profile's note on how they differ."""
    rows = []
    for figure in profile.figures:
        files = figure_files(figure)
        written = [f for f in files if (folder / f).is_file()]
        if not files:
            shown = NOT_IN_KIT
        elif written:
            shown = ", ".join(written)
        elif any(f.split("/")[0] in no_data for f in files):
            shown = NO_DATA
        else:
            shown = f"{NOT_MEASURED} ({', '.join(files)})"
        rows.append({"seed": profile.seed, "figure": figure["figure"], "what": figure["what"]})
        rows[-1].update(kit=shown, note=figure.get("note", ""))
    return rows


def _shown(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(numbers: list[dict], figures: list[dict], titles: Mapping[str, str]) -> str:
    """The table as Markdown: per seed, its numbers (report, kit, difference, note) and its
    figures (kit's files, note)."""
    lines = ["# Seed vs kit", ""]
    for seed, title in titles.items():
        lines += [f"## Seed {seed}: {title}", ""]
        lines.append("| where | what | report | kit | difference | note |")
        lines.append("|---|---|---|---|---|---|")
        for row in (r for r in numbers if r["seed"] == seed):
            kit = _shown(row["kit_value"]) if row["status"] == "measured" else row["status"]
            cells = [row["where"], row["what"], row["report"], kit, _shown(row["difference"])]
            cells.append(row["note"])
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines += ["", "| figure | what | kit figure | note |", "|---|---|---|---|"]
        for row in (r for r in figures if r["seed"] == seed):
            cells = [row["figure"], row["what"], row["kit"], row["note"]]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_tables(folder: Path, numbers: list[dict], figures: list[dict], titles) -> list[Path]:
    """``seed_vs_kit.csv`` (the numbers) and ``seed_vs_kit.md`` (numbers and figures) in
    ``folder``, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in numbers)
    paths.write_text(Path(folder) / f"{TABLE_NAME}.csv", buffer.getvalue())
    paths.write_text(Path(folder) / f"{TABLE_NAME}.md", markdown(numbers, figures, titles))
    return [Path(folder) / f"{TABLE_NAME}.{suffix}" for suffix in ("csv", "md")]
