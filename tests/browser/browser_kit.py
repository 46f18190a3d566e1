"""Servers on 127.0.0.1 that the browser tests start and always stop, and the page actions they
share (JupyterLab's Run All, the ipywidgets slider, reading a panel's figures)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

HOST = "127.0.0.1"
# generous: the machine running the tests may be shared and busy
SERVER_START_SECONDS = 120
NOTEBOOK_RUN_MS = 300_000
UPDATE_MS = 60_000
# a fraction shown as a percentage with two decimals lies within half its last digit
SHOWN = 0.5e-4 + 1e-9


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every process whose parent chain leads to ``pid`` (read from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # the process ended meanwhile
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def _wait_for_port(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(
        f"no server on port {port} after {SERVER_START_SECONDS} s:\n{log.read_text()}"
    )


@contextmanager
def server(command: list[str], port: int, env: dict, cwd: Path, log: Path):
    """Run ``command`` until the ``with`` block ends, then stop it and every process it started
    (its kernels included): SIGTERM, and SIGKILL to whatever is left after 30 s."""
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_port(process, port, log)
        yield process
    finally:
        family = [process.pid, *_children(process.pid)]
        process.send_signal(signal.SIGTERM)
        left = _wait_gone(family, 30)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        _wait_gone(left, 10)
        process.wait(10)


# ---------------------------------------------------------------------------- page actions


def block_outside_requests(page: Page) -> None:
    """Let the page reach 127.0.0.1 only (Voilà's template links a CDN stylesheet)."""
    page.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: route.abort())


def lab_run_all(page: Page) -> None:
    """Run > Run All Cells, then wait until no cell is queued or running; fail on an error."""
    notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
    expect(notebook.locator(".jp-Cell").first).to_be_visible(timeout=UPDATE_MS)
    kernel = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"^Python .*\| Idle$"))
    expect(kernel).to_have_count(1, timeout=UPDATE_MS)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
    prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
    expect(prompts.filter(has_text="*")).not_to_have_count(0, timeout=UPDATE_MS)
    expect(prompts.filter(has_text="*")).to_have_count(0, timeout=NOTEBOOK_RUN_MS)
    errors = notebook.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    unrun = prompts.filter(has_not_text=re.compile(r"\[\d+\]"))
    if unrun.count():
        details = "\n".join(errors.all_inner_texts())[-3000:]
        raise AssertionError(f"{unrun.count()} cells did not run; the notebook said:\n{details}")


def slider(panel: Locator, label: str) -> Locator:
    """The ipywidgets slider whose description is ``label`` (its ``.noUi-handle`` takes keys,
    its ``.widget-readout`` shows the value)."""
    name = panel.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    return panel.locator(".widget-slider").filter(has=name)


def press_on(box: Locator, key: str) -> None:
    """Focus a slider's handle and press ``key`` as a user would (ArrowRight: one step up)."""
    handle = box.locator(".noUi-handle")
    handle.focus()
    handle.press(key)


def percent(text: str, after: str) -> float:
    """The first percentage that follows ``after`` in ``text``, as a fraction."""
    match = re.search(re.escape(after) + r"\D*?(-?\d+(?:\.\d+)?)%", text)
    if match is None:
        raise AssertionError(f"no percentage after {after!r} in {text!r}")
    return float(match[1]) / 100


def widget_output(page: Page, slider_label: str) -> Locator:
    """The output area holding the panel whose slider is labelled ``slider_label``."""
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(slider_label)}$"))
    panel = page.locator(".jp-OutputArea-output").filter(
        has=page.locator(".widget-slider").filter(has=label)
    )
    expect(panel).to_have_count(1, timeout=UPDATE_MS)
    return panel


def watch_texts(element: Locator):
    """Record every text put into ``element`` from now on; returns a function that reads them.

    Mutation records keep each inserted node, so a "working…" replaced within the same frame
    is still seen."""
    index = element.evaluate(
        """(el) => {
            const seen = [];
            new MutationObserver((records) => {
                for (const record of records)
                    for (const node of record.addedNodes) seen.push(node.textContent);
            }).observe(el, {childList: true, subtree: true});
            window.__watched = window.__watched || [];
            return window.__watched.push(seen) - 1;
        }"""
    )
    return lambda: element.page.evaluate("(i) => window.__watched[i]", index)


def notebook_defaults(notebook: Path) -> dict:
    """The values of ``notebook``'s parameters cell."""
    from course_lib.runs.parameters import inspect_parameters

    return {name: p.default for name, p in inspect_parameters(notebook).items()}
