"""The report's table of compressed models: per model of every run its file's size and ratio on
disk, and per runtime its accuracy and time per image (``on_disk`` in notebook 02's metrics,
``runtimes`` in those of notebooks 03-05)."""

from __future__ import annotations

import html

from course_lib.checks import is_number

TITLE = "Compressed models: on disk and per runtime"
COLUMNS = ("run", "model", "runtime", "file KiB", "ratio on disk", "accuracy", "ms per image")


def table_rows(entries) -> list[dict[str, str]]:
    """The table's rows, as text, from the metrics of ``entries`` (the report's runs)."""
    rows = []
    for entry in entries:
        metrics = entry.metrics if isinstance(entry.metrics, dict) else {}
        for row in _records(metrics.get("on_disk")):
            error = row.get("loaded_test_error")
            accuracy = 1 - error if is_number(error) else None
            values = [row.get("run"), "file only", row.get("file_bytes"), row.get("ratio_on_disk")]
            rows.append(_row(entry.folder.name, *values, accuracy, None))
        for row in _records(metrics.get("runtimes")):
            values = [row.get(key) for key in ("model", "runtime", "file_bytes", "ratio_on_disk")]
            rows.append(
                _row(entry.folder.name, *values, row.get("accuracy"), row.get("ms_per_image"))
            )
    return rows


def _records(value) -> list[dict]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _row(run, model, runtime, file_bytes, ratio, accuracy, ms) -> dict[str, str]:
    kib = file_bytes / 1024 if is_number(file_bytes) else None
    values = (run, model, runtime, kib, ratio, accuracy, ms)
    return {column: _shown(value) for column, value in zip(COLUMNS, values, strict=True)}


def _shown(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(rows: list[dict[str, str]]) -> list[str]:
    """The table as Markdown lines (none without rows)."""
    if not rows:
        return []
    lines = ["", f"## {TITLE}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return lines + ["| " + " | ".join(row[c] for c in COLUMNS) + " |" for row in rows]


def html_parts(rows: list[dict[str, str]]) -> list[str]:
    """The table as HTML (nothing without rows)."""
    if not rows:
        return []
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = ["<tr>" + "".join(f"<td>{esc(row[c])}</td>" for c in COLUMNS) + "</tr>" for row in rows]
    return [f"<h2>{esc(TITLE)}</h2><table><tr>{head}</tr>", *body, "</table>"]
