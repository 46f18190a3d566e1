"""course report: one HTML page and one Markdown file from the run folders' files."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course_lib.errors import CourseError
from course_lib.paths import write_json
from course_lib.runs import report
from course_lib.runs.cli import main
from course_lib.runs.runner import RunResult

PNG = b"\x89PNG\r\n\x1a\n"  # the report links figures; it never decodes them


def make_run(folder, name, metrics=None, error=None, extra_figures=()):
    run = folder / name
    run.mkdir(parents=True)
    nb = new_notebook(cells=[new_code_cell("print(1)", outputs=[new_output("stream", text="1\n")])])
    nbformat.write(nb, run / f"{name}.ipynb")
    status = "failed" if error else "ok"
    result = RunResult(
        name, status, 1.5, str(run), {"profile": "smoke"}, "2025-01-01T00:00:00", error
    )
    write_json(run / "status.json", {k: v for k, v in result.__dict__.items() if k != "metrics"})
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
        for figure in [*metrics.get("figures", []), *extra_figures]:
            (run / f"{figure}.png").write_bytes(PNG)
    return run


def test_the_report_shows_headlines_figures_links_and_failures(tmp_path):
    make_run(
        tmp_path,
        "01_training",
        {
            "test_accuracy": 0.891234,
            "ledger": {"params": 266610},
            "history": {"loss": [2.0, 1.0, 0.5]},
            "grid": [{"lr": 0.1}],
            "note": "<b>bold</b>",
            "log": "x" * 500,
            "figures": ["steps", "confusion"],
        },
        extra_figures=("another",),
    )
    make_run(
        tmp_path,
        "02_lc_compression",
        error={"cell": 5, "ename": "RuntimeError", "evalue": "boom", "source": ["fit()"]},
    )
    html_path, md_path = report.build_report(tmp_path)
    page, text = html_path.read_text(), md_path.read_text()

    assert "<td>test_accuracy</td><td>0.8912</td>" in page
    assert "<td>ledger.params</td><td>266610</td>" in page
    assert "<td>history.loss</td><td>3 values, last 0.5</td>" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page
    assert "xxxxx" not in page and "grid" not in page  # long text and lists of records left out
    assert "1/2 runs passed, 0.1 minutes of running in all." in page
    images = [line for line in page.splitlines() if line.startswith("<figure><img")]
    assert "<figcaption>steps</figcaption>" in images[0]
    assert [i.split("'")[1] for i in images] == [
        "01_training/steps.png",
        "01_training/confusion.png",
        "01_training/another.png",
    ]
    assert "<a href='01_training/01_training.ipynb'>01_training.ipynb</a>" in page
    assert "<a href='01_training/01_training.html'>as HTML</a>" in page
    assert "<html" in (tmp_path / "01_training" / "01_training.html").read_text()
    assert "<td class='failed'>failed</td>" in page
    assert "In [5] RuntimeError: boom" in page

    assert "| test_accuracy | 0.8912 |" in text and "![steps](01_training/steps.png)" in text
    assert "**FAILED** In [5] RuntimeError: boom" in text
    assert "[01_training.ipynb](01_training/01_training.ipynb)" in text
    assert text.index("## 01_training") < text.index("## 02_lc_compression")


def test_a_sweep_report_lists_every_run_best_first_and_shows_the_best(tmp_path, monkeypatch):
    for name, score in (("aaa", 0.2), ("bbb", 0.9)):
        make_run(tmp_path, name, {"score": score, "figures": ["curve"]})
    (tmp_path / "aaa.failed-1").mkdir()  # an earlier attempt: not part of the report
    (tmp_path / "results.csv").write_text("run,status,x,score\nbbb,ok,2,0.9\naaa,ok,1,0.2\n")
    monkeypatch.setattr(report, "SWEEP_SECTIONS", 1)
    html_path, md_path = report.build_report(tmp_path)
    page, text = html_path.read_text(), md_path.read_text()
    assert "<tr><td>bbb</td><td>ok</td><td>2</td><td>0.9</td></tr>" in page
    assert page.index("<td>bbb</td>") < page.index("<td>aaa</td>")
    assert "<h2 id='bbb'>" in page and "<h2 id='aaa'>" not in page
    assert "| bbb | ok | 2 | 0.9 |" in text and "aaa.failed" not in text


def test_the_report_command_prints_where_it_wrote(tmp_path, capsys):
    make_run(tmp_path, "01_training", {"test_accuracy": 0.5})
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"report: {tmp_path / 'report.html'}",
        f"markdown: {tmp_path / 'report.md'}",
    ]


def test_a_folder_without_runs_is_refused(tmp_path):
    with pytest.raises(CourseError, match="holds no runs"):
        report.build_report(tmp_path)


def test_the_report_lists_each_compressed_model_on_disk_and_per_runtime(tmp_path):
    runtime = {"model": "pruned", "file_bytes": 2048, "ratio_on_disk": 3.5, "accuracy": 0.875}
    make_run(
        tmp_path,
        "02_lc_compression",
        {"on_disk": [{"run": "quantization 2", "file_bytes": 36110, "ratio_on_disk": 29.53,
                      "loaded_test_error": 0.25}]},
    )  # fmt: skip
    make_run(
        tmp_path,
        "03_pruning",
        {"runtimes": [{**runtime, "runtime": "eager", "ms_per_image": 0.5},
                      {**runtime, "runtime": "onnxruntime-int8", "ms_per_image": 0.25},
                      "not a row"]},
    )  # fmt: skip
    make_run(tmp_path, "04_tucker", {"runtimes": None})
    html_path, md_path = report.build_report(tmp_path)
    text, page = md_path.read_text(), html_path.read_text()
    assert "## Compressed models: on disk and per runtime" in text
    assert "| 02_lc_compression | quantization 2 | file only | 35.26 | 29.53 | 0.75 | — |" in text
    assert "| 03_pruning | pruned | onnxruntime-int8 | 2 | 3.5 | 0.875 | 0.25 |" in text
    assert text.count("| 03_pruning | pruned |") == 2
    assert "<td>onnxruntime-int8</td><td>2</td><td>3.5</td><td>0.875</td><td>0.25</td>" in page


def test_a_cut_off_status_is_named_and_the_other_runs_still_reported(tmp_path, capsys):
    make_run(tmp_path, "01_training", {"test_accuracy": 0.9, "figures": []})
    for name, status in [("02_lc_compression", '{"notebook": "02_lc'), ("03_pruning", "[]")]:
        make_run(tmp_path, name, {"ratio": 30.5, "figures": []})
        (tmp_path / name / "status.json").write_text(status)
    make_run(tmp_path, "04_tucker", {"figures": []})
    (tmp_path / "04_tucker" / "metrics.json").write_text('{"accuracy": 0.')
    assert main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.md").read_text()
    assert "1/4 runs passed" in page and "| [01_training](#01_training) | ok | 1.5 |" in page
    for damaged in (
        "02_lc_compression/status.json",
        "03_pruning/status.json",
        "04_tucker/metrics.json",
    ):
        assert f"{tmp_path / damaged} is damaged" in page
    assert "test_accuracy | 0.9" in page
    assert "report.html" in capsys.readouterr().out


def test_a_sweep_report_survives_a_cut_off_results_table(tmp_path):
    make_run(tmp_path, "a1", {"figures": []})
    make_run(tmp_path, "b2", {"figures": []})
    (tmp_path / "results.csv").write_text("run,status,x\na1,ok,1\nb2,o")
    entries, rows = report.collect(tmp_path)
    assert [e.folder.name for e in entries] == ["a1", "b2"] and rows[1] == {
        "run": "b2",
        "status": "o",
        "x": "",
    }
    (tmp_path / "results.csv").write_text("ru")
    entries, rows = report.collect(tmp_path)
    assert [e.folder.name for e in entries] == ["a1", "b2"] and rows is None
