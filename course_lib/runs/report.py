"""``course report FOLDER``: one HTML page and one Markdown file for a run or sweep folder.

It opens with a summary a person reads (per part its headline results, ``runs.summary``) and, for
a ``course reproduce`` seed folder, the seed-vs-kit table. Then for every notebook run (each
subfolder with a status.json): its status (and the failing cell), its plots, and links to the
executed notebook (as .ipynb and as HTML); its raw metrics.json values go to the appendix. A
sweep folder also gets its results table, and sections for its best runs only.
Every compressed model the runs saved gets a row: file size, ratio on disk, accuracy and time
per runtime (``runs.deployed``).
"""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.errors import CourseError
from course_lib.runs import deployed
from course_lib.runs.runner import error_text, read_metrics, read_record
from course_lib.runs.seed_table import TABLE_NAME
from course_lib.runs.summary import summary

REPORT_NAME = "report"
SWEEP_SECTIONS = 10  # a sweep report shows the figures of this many best runs
LONG_TEXT = 200
STATUS_KEYS = {"status", "seconds"}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .2rem .6rem; text-align: left; font-size: .9rem; }
.ok { color: #176d2a; } .failed { color: #b00020; font-weight: bold; }
figure { display: inline-block; margin: .3rem; } figcaption { font-size: .8rem; color: #555; }
img { max-width: 32rem; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
"""


@dataclass
class Entry:
    """One notebook run inside the report's folder."""

    folder: Path
    status: dict
    metrics: dict = field(default_factory=dict)

    @property
    def notebook(self) -> Path | None:
        found = sorted(self.folder.glob("*.ipynb"))
        return found[0] if found else None

    @property
    def figures(self) -> list[Path]:
        named = [self.folder / f"{name}.png" for name in self.metrics.get("figures", [])]
        rest = sorted(set(self.folder.glob("*.png")) - set(named))
        return [p for p in named if p.is_file()] + rest

    def headline(self) -> dict[str, str]:
        """metrics.json as name -> shown value: numbers and short text as they are, nested
        mappings with dotted names, lists as their length and last value."""
        shown: dict[str, str] = {}

        def walk(mapping: dict, prefix: str) -> None:
            for name, value in mapping.items():
                key = f"{prefix}{name}"
                if isinstance(value, dict):
                    walk(value, f"{key}.")
                elif isinstance(value, list):
                    if value and not isinstance(value[-1], dict | list):
                        shown[key] = f"{len(value)} values, last {_number(value[-1])}"
                elif len(str(value)) <= LONG_TEXT:
                    shown[key] = _number(value)

        walk({k: v for k, v in self.metrics.items() if k != "figures"}, "")
        return shown


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _read_entry(folder: Path) -> Entry:
    """The run in ``folder``; a damaged status.json or metrics.json (a run cut off) makes an
    entry that names the file, so the report still shows every other run."""
    try:
        status = read_record(folder / "status.json")
        if not STATUS_KEYS <= set(status):
            raise CourseError(f"{folder / 'status.json'} is damaged (not a run's status).")
        return Entry(folder, status, read_metrics(folder) or {})
    except CourseError as damage:
        error = {"cell": None, "ename": "Damaged", "evalue": str(damage)}
        return Entry(folder, {"status": "damaged", "seconds": 0, "error": error})


def collect(folder: Path) -> tuple[list[Entry], list[dict] | None]:
    """The runs of ``folder`` in the order to show them, and a sweep's results rows (or None)."""
    results_path = folder / "results.csv"
    rows = _results(results_path) if results_path.is_file() else None
    if rows is not None:
        names = [row["run"] for row in rows]
    else:
        names = sorted(p.parent.name for p in folder.glob("*/status.json"))
    entries = [
        _read_entry(folder / name)
        for name in names
        if Path(name).name == name and (folder / name / "status.json").is_file()
    ]
    if not entries:
        raise CourseError(f"{folder} holds no runs (no */status.json): pass a run or sweep folder.")
    return entries, rows


def _results(path: Path) -> list[dict] | None:
    """The rows of a sweep's results.csv (cells a cut-off file lacks are empty); None when it
    has no ``run`` column, and the runs are then found by their status.json."""
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        rows = [{k: v or "" for k, v in row.items() if k} for row in csv.DictReader(f)]
    return rows if rows and all(row.get("run") for row in rows) else None


def _notebook_html(notebook: Path) -> Path | None:
    """The executed notebook rendered as HTML beside it (made once), or None when nbconvert
    cannot render it."""
    target = notebook.with_suffix(".html")
    if not target.exists():
        try:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_filename(str(notebook))
        except Exception:  # a report without the rendering is still a report
            return None
        target.write_text(body, encoding="utf-8")
    return target


def _overview(entries: list[Entry]) -> str:
    passed = sum(e.status["status"] == "ok" for e in entries)
    minutes = sum(e.status["seconds"] for e in entries) / 60
    return f"{passed}/{len(entries)} runs passed, {minutes:.1f} minutes of running in all."


def _markdown(folder: Path, entries: list[Entry], rows: list[dict] | None) -> str:
    lines = [f"# Report: {folder.name}", "", _overview(entries), ""]
    lines += ["| run | status | seconds |", "|---|---|---|"]
    for e in entries:
        name = e.folder.name
        lines.append(f"| [{name}](#{name}) | {e.status['status']} | {e.status['seconds']} |")
    if rows:
        columns = list(rows[0])
        lines += ["", "## All runs (best first)", "", "| " + " | ".join(columns) + " |"]
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    lines += _summary_markdown(folder, entries)
    lines += deployed.markdown(deployed.table_rows(entries))
    shown = entries[: SWEEP_SECTIONS if rows else None]
    for e in shown:
        lines += ["", f"## {e.folder.name}", ""]
        if e.status["status"] != "ok":
            lines += [f"**FAILED** {error_text(e.status['error'])}", ""]
        lines += [f"![{p.stem}]({p.relative_to(folder)})" for p in e.figures]
        if e.notebook is not None:
            lines += [
                "",
                f"Executed notebook: [{e.notebook.name}]({e.notebook.relative_to(folder)})",
            ]
    lines += ["", "## Appendix: raw metrics"]
    for e in shown:
        headline = e.headline()
        if headline:
            lines += ["", f"### {e.folder.name}", "", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in headline.items()]
    return "\n".join(lines) + "\n"


def _summary_markdown(folder: Path, entries: list[Entry]) -> list[str]:
    """The summary per part, then a reproduce folder's seed-vs-kit table (headings one down)."""
    lines = []
    parts = summary({e.folder.name: e.metrics for e in entries})
    if parts:
        lines += ["", "## Summary"]
    for title, items in parts:
        lines += ["", f"### {title}", "", *[f"- {item}" for item in items]]
    table = folder / f"{TABLE_NAME}.md"
    if table.is_file():
        text = table.read_text(encoding="utf-8")
        lines += ["", *[f"#{line}" if line.startswith("#") else line for line in text.splitlines()]]
    return lines


def _summary_html(folder: Path, entries: list[Entry]) -> list[str]:
    """The summary per part, then a reproduce folder's seed-vs-kit numbers (from its CSV)."""
    esc = html.escape
    parts = summary({e.folder.name: e.metrics for e in entries})
    html_parts = ["<h2>Summary</h2>"] if parts else []
    for title, items in parts:
        html_parts.append(f"<h3>{esc(title)}</h3><ul>")
        html_parts += [f"<li>{esc(item)}</li>" for item in items]
        html_parts.append("</ul>")
    table = folder / f"{TABLE_NAME}.csv"
    if table.is_file():
        with table.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        columns = ("seed", "where", "what", "report", "kit_value", "difference", "status", "note")
        html_parts.append("<h2>Seed vs kit</h2><table><tr>")
        html_parts += [f"<th>{esc(c)}</th>" for c in columns]
        html_parts.append("</tr>")
        for row in rows:
            cells = "".join(f"<td>{esc(row.get(c) or '')}</td>" for c in columns)
            html_parts.append(f"<tr>{cells}</tr>")
        html_parts.append("</table>")
    return html_parts


def _appendix_html(entries: list[Entry]) -> list[str]:
    esc = html.escape
    parts = ["<h2>Appendix: raw metrics</h2>"]
    for e in entries:
        headline = e.headline()
        if headline:
            parts.append(f"<h3>{esc(e.folder.name)}</h3>")
            parts.append("<table><tr><th>metric</th><th>value</th></tr>")
            parts += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in headline.items()]
            parts.append("</table>")
    return parts


def _html(folder: Path, entries: list[Entry], rows: list[dict] | None) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Report: {esc(folder.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Report: {esc(folder.name)}</h1><p>{esc(_overview(entries))}</p>",
        "<table><tr><th>run</th><th>status</th><th>seconds</th></tr>",
    ]
    for e in entries:
        state = e.status["status"]
        parts.append(
            f"<tr><td><a href='#{esc(e.folder.name)}'>{esc(e.folder.name)}</a></td>"
            f"<td class='{esc(state)}'>{esc(state)}</td><td>{e.status['seconds']}</td></tr>"
        )
    parts.append("</table>")
    if rows:
        parts.append("<h2>All runs (best first)</h2><table><tr>")
        parts += [f"<th>{esc(c)}</th>" for c in rows[0]]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row.values()) + "</tr>")
        parts.append("</table>")
    parts += _summary_html(folder, entries)
    parts += deployed.html_parts(deployed.table_rows(entries))
    shown = entries[: SWEEP_SECTIONS if rows else None]
    for e in shown:
        parts.append(f"<h2 id='{esc(e.folder.name)}'>{esc(e.folder.name)}</h2>")
        if e.status["status"] != "ok":
            parts.append(
                f"<p class='failed'>FAILED</p><pre>{esc(error_text(e.status['error']))}</pre>"
            )
        for p in e.figures:
            source = esc(str(p.relative_to(folder)))
            parts.append(
                f"<figure><img src='{source}' alt='{esc(p.stem)}'>"
                f"<figcaption>{esc(p.stem)}</figcaption></figure>"
            )
        if e.notebook is not None:
            links = [
                f"<a href='{esc(str(e.notebook.relative_to(folder)))}'>{esc(e.notebook.name)}</a>"
            ]
            rendered = _notebook_html(e.notebook)
            if rendered is not None:
                links.append(f"<a href='{esc(str(rendered.relative_to(folder)))}'>as HTML</a>")
            parts.append("<p>Executed notebook: " + " · ".join(links) + "</p>")
    parts += _appendix_html(shown)
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(folder: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``folder`` (rebuilt each time: they are
    views of the runs, not results); returns their paths."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"No run folder at {folder}: pass a folder made by course run or sweep.")
    html_path, md_path = folder / f"{REPORT_NAME}.html", folder / f"{REPORT_NAME}.md"
    seeds = sorted(p.parent for p in folder.glob("seed*/summary.json"))
    if seeds and not any(folder.glob("*/status.json")):  # course reproduce of several seeds
        for seed in seeds:
            build_report(seed)
        html_path.write_text(_seeds_html(folder, seeds), encoding="utf-8")
        md_path.write_text(_seeds_markdown(folder, seeds), encoding="utf-8")
        return html_path, md_path
    entries, rows = collect(folder)
    html_path.write_text(_html(folder, entries, rows), encoding="utf-8")
    md_path.write_text(_markdown(folder, entries, rows), encoding="utf-8")
    return html_path, md_path


def _seeds_markdown(folder: Path, seeds: list[Path]) -> str:
    """A reproduce folder: each seed's report, then the seed-vs-kit table of all seeds."""
    lines = [f"# Report: {folder.name}", ""]
    lines += [f"- [{s.name}]({s.name}/{REPORT_NAME}.md)" for s in seeds]
    lines += _summary_markdown(folder, [])
    return "\n".join(lines) + "\n"


def _seeds_html(folder: Path, seeds: list[Path]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Report: {esc(folder.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Report: {esc(folder.name)}</h1><ul>",
        *[f"<li><a href='{esc(s.name)}/{REPORT_NAME}.html'>{esc(s.name)}</a></li>" for s in seeds],
        "</ul>",
        *_summary_html(folder, []),
        "</body></html>",
    ]
    return "\n".join(parts)
