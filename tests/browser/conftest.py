"""Fixtures of the browser tests: JupyterLab and the Voilà dashboard on 127.0.0.1 in a temporary
folder (smoke profile, their own model cache and runs folder), driven by Debian's chromium.

Screenshots of every test's page go to test-artifacts/ (kept, gitignored)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
from browser_kit import HOST, block_outside_requests, free_port, server
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# what this machine's closed network needs (see ../shared/GUIDE.md §4)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # every cell in the page, so that a test sees all of them without scrolling
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """A temporary folder with a copy of the notebooks, a model cache and a runs folder; ``env``
    runs the servers there under the smoke profile."""
    root = tmp_path_factory.mktemp("browser")
    notebooks = root / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks, ignore=shutil.ignore_patterns(".*"))
    (root / "assignments").mkdir()  # the instructor's hidden cases, beside the notebooks
    shutil.copy(REPO / "assignments" / "hidden_cases.py", root / "assignments")
    settings = root / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "COURSE_PROFILE": "smoke",
        "COURSE_CACHE": str(root / "cache"),
        "COURSE_RUNS": str(root / "runs"),
        "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(root / "jupyter-runtime"),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    return SimpleNamespace(
        root=root, notebooks=notebooks, cache=root / "cache", settings=settings, env=env
    )


@pytest.fixture(scope="session")
def jupyter_lab(workspace):
    """A JupyterLab server with a token on 127.0.0.1, serving the workspace's notebooks."""
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        f"--ServerApp.ip={HOST}", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace.notebooks}",
        f"--LabApp.user_settings_dir={workspace.settings}",
        f"--LabApp.workspaces_dir={workspace.root / 'lab-workspaces'}",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = ARTIFACTS / "jupyterlab.log"
    with server(command, port, workspace.env, workspace.notebooks, log):
        yield SimpleNamespace(url=f"http://{HOST}:{port}", token=token, log=log)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh page that reaches 127.0.0.1 only; its screenshot is saved when the test ends."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    block_outside_requests(page)
    yield page
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
    context.close()


@pytest.fixture
def open_notebook(jupyter_lab, page):
    """Open ``NAME.ipynb`` of the workspace alone in a fresh JupyterLab workspace (no tab of an
    earlier test restored beside it); returns the page."""

    def opener(name: str):
        layout = secrets.token_hex(4)
        page.goto(
            f"{jupyter_lab.url}/lab/workspaces/{layout}/tree/{name}.ipynb"
            f"?reset&token={jupyter_lab.token}"
        )
        return page

    return opener


@pytest.fixture
def dashboard(workspace):
    """Start ``course dashboard NAME [ARGS]`` on a free port; returns its URL. Stopped (with its
    kernels) when the test ends."""
    course = Path(sys.executable).with_name("course")
    with ExitStack() as running:

        def start(name: str, *arguments: str) -> str:
            port = free_port()
            command = [
                str(course), "dashboard", name, "--port", str(port), "--no-browser",
                "--notebooks-dir", str(workspace.notebooks), *arguments,
            ]  # fmt: skip
            log = ARTIFACTS / f"dashboard-{name}.log"
            running.enter_context(server(command, port, workspace.env, workspace.root, log))
            return f"http://{HOST}:{port}/"

        yield start
