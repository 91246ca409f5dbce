"""A real JupyterLab in Debian's chromium, for any browser test.

    def test_something(lab_server, lab_page):
        lab = lab_server({"demo.ipynb": notebook_json}, env={"NBMODELS_RUNS_DIR": str(path)})
        page = lab_page(lab, "demo.ipynb")          # opened, kernel connected
        lab.run_all(page)                           # Run All, retried until a cell runs
        save_screenshot(page, "demo-after-run")     # -> build/test-artifacts/demo-after-run.png

`lab_server` starts `jupyter lab` on a free port, with a token, in a temporary folder holding
the given notebooks (dicts in nbformat 4, or paths to copy), and stops it afterwards. The app is
exposed as `window.jupyterapp`, so tests can run lab commands by id. Browsers come from
`/usr/bin/chromium` (`apt-get install chromium`): `playwright install` cannot download here.
Without chromium these tests are skipped, except in CI (CI is set), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 120  # seconds for lab to answer; imports are slow on 2 busy cores


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"{CHROMIUM} is missing in CI: .ci/run installs it with apt-get install chromium")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not found; `apt-get install chromium` to run the browser tests")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_screenshot(page, name: str) -> Path:
    """A full-window PNG under build/test-artifacts/, kept after the test."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@dataclass
class Lab:
    """A running JupyterLab: its URL (with trailing slash), token, folder and log file."""

    url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def open_url(self, path: str = "") -> str:
        """The URL that opens `path` (a notebook, or the lab itself) in a reset workspace."""
        target = f"lab/tree/{path}" if path else "lab"
        return f"{self.url}{target}?reset&token={self.token}"

    def command(self, page, command_id: str, args: dict | None = None):
        """Run a JupyterLab command by id in `page`."""
        return page.evaluate("([id, args]) => window.jupyterapp.commands.execute(id, args)", [command_id, args or {}])

    def run_all(self, page, timeout: float = 120) -> None:
        """Run All in the open notebook once its kernel is idle; retried, because a Run All
        clicked before the kernel connects silently runs nothing."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                timeout=timeout * 1000,
            )
            self.command(page, "notebook:run-all-cells")
            try:
                # In the visible notebook only: another open tab's prompts are hidden.
                prompts = page.locator(".jp-NotebookPanel:visible .jp-InputPrompt")
                prompts.filter(has_text="[*]").or_(prompts.filter(has_text="[1]")).first.wait_for(timeout=10_000)
                return
            except Exception:
                continue
        raise AssertionError(f"Run All never started a cell; lab log:\n{self.log()[-3000:]}")


@pytest.fixture
def lab_server(tmp_path):
    """Factory: `lab_server(notebooks, env=None) -> Lab`; every lab started is stopped after the test."""
    started: list[Lab] = []

    def start(notebooks: dict | None = None, env: dict | None = None) -> Lab:
        home = tmp_path / f"lab{len(started)}"
        root = home / "notebooks"
        root.mkdir(parents=True)
        for name, notebook in (notebooks or {}).items():
            if isinstance(notebook, (str, os.PathLike)):
                shutil.copy(notebook, root / name)
            else:
                (root / name).write_text(json.dumps(notebook))
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        # Every cell rendered, not only those in view: a screenshot after scrolling shows the cells,
        # not the blank a windowed notebook shows until it catches up.
        notebook_settings = home / "settings" / "@jupyterlab" / "notebook-extension"
        notebook_settings.mkdir(parents=True)
        (notebook_settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        port, token = free_port(), os.urandom(16).hex()
        log_path = home / "lab.log"
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab",
                "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",
                "--allow-root",
            ],
            cwd=root,
            env={
                # The kernels see what a user's would: ipykernel stops forwarding fd 2 (TensorFlow's
                # C++ log) into outputs when PYTEST_CURRENT_TEST is set, and tests/conftest.py sets
                # TF_CPP_MIN_LOG_LEVEL, which would hide what the notebooks must keep out themselves.
                **{k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "TF_CPP_MIN_LOG_LEVEL")},
                "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
                "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                # The kernel imports the repository's packages (tests included) as the suite does.
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                **(env or {}),
            },
            stdout=open(log_path, "wb"),
            stderr=subprocess.STDOUT,
        )
        lab = Lab(f"http://127.0.0.1:{port}/", token, root, log_path, process)
        started.append(lab)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{lab.url}api/status?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        return lab
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not start; its log:\n{lab.log()[-3000:]}")
            time.sleep(0.5)

    yield start
    for lab in started:
        lab.process.send_signal(signal.SIGTERM)
        try:
            lab.process.wait(30)
        except subprocess.TimeoutExpired:
            lab.process.kill()
            lab.process.wait()


@pytest.fixture
def browser(tmp_path):
    """A headless chromium (Playwright persistent context) with its own profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def lab_page(browser):
    """Factory: `lab_page(lab, path="") -> Page` with JupyterLab loaded (and `path` opened)."""

    def open_page(lab: Lab, path: str = ""):
        page = browser.new_page()
        page.goto(lab.open_url(path))
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
        page.evaluate("() => window.jupyterapp.started")
        return page

    return open_page
