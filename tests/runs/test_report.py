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


PARTS = {
    "01_training": {
        "model": "lenet5",
        "dataset": "mnist",
        "test_accuracy": 0.9912,
        "val_accuracy": 0.99,
        "epochs": 3,
        "params": 431080,
        "flops": 2293000,
    },  # fmt: skip
    "02_lc_compression": {
        "reference": {"model": "lenet300", "test_error": 0.02},
        "runs": [
            {"run": "pruning 0.1", "method": "pruning", "test_error": 0.03, "ratio": 9.7},
            {"run": "pruning 0.05", "method": "pruning", "test_error": 0.025, "ratio": 18.2},
            {"run": "quantization 2", "method": "quantization", "test_error": 0.04, "ratio": 30.5},
        ],
        "mix_reference": {"model": "lenet5", "test_error": 0.01},
        "mixes": [
            {"run": "conv: pruning, linear: quantization", "test_error": 0.021, "ratio": 26.4}
        ],
    },
    "03_pruning": {
        "chosen": {
            "c1": 1,
            "c2": 7,
            "f1": 72,
            "flops": 1000,
            "test_accuracy": 0.8762,
            "test_accuracy_before_finetune": 0.8,
            "original": {"flops": 6343216, "test_accuracy": 0.9},
            "timing": {"speedup": 11.0, "flop_ratio": 6343.216, "batch_size": 256},
        }
    },  # fmt: skip
    "04_tucker": {
        "sweep": [
            {"model": "original", "accuracy": 0.9, "seconds_per_image": 0.002, "speedup": 1.0},
            {
                "model": "k=4",
                "accuracy": 0.8802,
                "accuracy_tuned": None,
                "seconds_per_image": 0.00154,
                "speedup": 1.3,
            },
        ]
    },  # fmt: skip
    "05_alpha_branch": {
        "reference_accuracy": {"val": 0.9, "test": 0.91},
        "folded_run": "trainable",
        "fold_check": {"folded_accuracy": 0.88},
        "costs": [
            {
                "device": "cpu",
                "model": "folded / original",
                "params": 0.35,
                "flops": 0.36,
                "ms_per_image": 0.64,
            }
        ],
    },  # fmt: skip
}


def test_the_report_opens_with_a_summary_per_part_and_keeps_raw_metrics_for_the_appendix(tmp_path):
    for name, metrics in PARTS.items():
        make_run(tmp_path, name, {**metrics, "figures": []})
    _, md_path = report.build_report(tmp_path)
    text = md_path.read_text()
    summary = text[text.index("## Summary") : text.index("## 01_training")]
    assert (
        "- reference lenet5 on mnist: test accuracy 99.12 %, validation 99.00 % after 3" in summary
    )
    assert "- best pruning: pruning 0.05, test error 2.50 % at ratio 18.2x" in summary
    assert "- best quantization: quantization 2, test error 4.00 % at ratio 30.5x" in summary
    assert (
        "- best mix on lenet5: conv: pruning, linear: quantization, test error 2.10 % at ratio "
        "26.4x" in summary
    )
    assert "- mixes' reference lenet5: test error 1.00 %" in summary
    assert (
        "pruned model (c1 1, c2 7, f1 72): 1000 FLOPs (original 6343216), test accuracy 87.62 %"
        in summary
    )
    assert "- measured speed-up 11.00x" in summary
    assert "- k=4: accuracy 88.02 %, 1.540 ms per image (speed-up 1.30x)" in summary
    assert "- folded the trainable run: test accuracy 88.00 %" in summary
    assert "parameters 0.35, FLOPs 0.36, time per image 0.64" in summary
    appendix = text[text.index("## Appendix: raw metrics") :]
    assert "| test_accuracy | 0.9912 |" in appendix and "| test_accuracy |" not in summary


def test_a_reproduce_folder_report_shows_the_seed_vs_kit_table(tmp_path):
    make_run(tmp_path, "01_training", {**PARTS["01_training"], "figures": []})
    (tmp_path / "seed_vs_kit.md").write_text("# Seed vs kit\n\n## Seed 001: x\n\n| where |\n")
    (tmp_path / "seed_vs_kit.csv").write_text(
        "seed,where,report,status\n001,§1,Test: 89.32,measured\n"
    )
    html_path, md_path = report.build_report(tmp_path)
    text = md_path.read_text()
    assert "## Seed vs kit" in text and "### Seed 001: x" in text
    assert text.index("## Summary") < text.index("## Seed vs kit") < text.index("## 01_training")
    assert "<td>Test: 89.32</td>" in html_path.read_text()


def test_a_reproduce_folder_of_several_seeds_links_each_seed_report(tmp_path):
    for seed in ("seed000", "seed001"):
        make_run(tmp_path / seed, "01_training", {**PARTS["01_training"], "figures": []})
        (tmp_path / seed / "summary.json").write_text("{}")
    (tmp_path / "seed_vs_kit.md").write_text("# Seed vs kit\n\n## Seed 000: x\n")
    (tmp_path / "seed_vs_kit.csv").write_text("seed,report,status\n000,1.33% accuracy,measured\n")
    html_path, md_path = report.build_report(tmp_path)
    text = md_path.read_text()
    assert "- [seed000](seed000/report.md)\n- [seed001](seed001/report.md)" in text
    assert "## Seed vs kit" in text and "<td>1.33% accuracy</td>" in html_path.read_text()
    assert "## Summary" in (tmp_path / "seed001" / "report.md").read_text()
