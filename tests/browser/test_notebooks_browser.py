"""Every notebook in notebooks/, opened in a real JupyterLab in chromium and run from top to
bottom: each code cell runs, no cell fails, no widget fails to display, and the notebooks with
dashboards show their plotly charts and widgets. Screenshots go to build/test-artifacts/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import REPO, save_screenshot

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
DASHBOARD_WORDS = ("MetricsPanel", "TrainingDashboard", "AttentionExplorer", "GenerationPlayground", "EvaluationView",
                   "GradCAMView", "RecommenderExplorer")
# The notebooks default to sizes for a person (minutes); here they run tiny, as `make test` runs them.
TEST_SIZES = {
    "NBMODELS_QUICKSTART_EPOCHS": "5",
    "NBMODELS_NOTEBOOK_GPT_SIZE": "tiny",
    "NBMODELS_NOTEBOOK_STEPS": "150",
    "NBMODELS_NOTEBOOK_CLASSIFIER_SIZE": "tiny",
    "NBMODELS_NOTEBOOK_EPOCHS": "4",
    "NBMODELS_NOTEBOOK_VISION_EPOCHS": "3",
    "NBMODELS_NOTEBOOK_TRANSFER_SIZE": "tiny",
    "NBMODELS_NOTEBOOK_TRANSFER_EPOCHS": "3",
    "NBMODELS_NOTEBOOK_RECSYS_SIZE": "tiny",
    "NBMODELS_NOTEBOOK_RECSYS_EPOCHS": "2",
}

# True once every code cell has an execution count and the kernel is idle again.
ALL_CELLS_RAN = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel?.sessionContext?.session?.kernel;
    if (!panel?.content || kernel?.status !== 'idle') return false;
    return panel.content.widgets
        .filter(cell => cell.model.type === 'code' && cell.model.sharedModel.getSource().trim())
        .every(cell => cell.model.executionCount !== null);
}"""


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_and_renders_in_jupyterlab(lab_server, lab_page, tmp_path, notebook: Path):
    sizes = {name: os.environ.get(name, default) for name, default in TEST_SIZES.items()}
    lab = lab_server({notebook.name: notebook}, env={"NBMODELS_RUNS_DIR": str(tmp_path / "runs"), **sizes})
    page = lab_page(lab, notebook.name)
    # Saved outputs are cleared first, so everything checked below comes from this run.
    lab.command(page, "notebook:clear-all-cell-outputs")
    lab.run_all(page)
    page.wait_for_function(ALL_CELLS_RAN, timeout=600_000, polling=1000)
    page.wait_for_timeout(3000)  # let the last outputs render
    save_screenshot(page, f"notebook-{notebook.stem}")

    outputs = page.locator(".jp-OutputArea-output")
    assert outputs.filter(has_text="Traceback").count() == 0, _text(page)
    # A run a dashboard trains in the background fails without a traceback: its status line says so
    # (runs/formatting.py: "failed — <why>"), as the recommenders notebook's did once.
    assert outputs.filter(has_text=re.compile(r"\b(failed|diverged) — ")).count() == 0, _text(page)
    assert page.get_by_text("Error displaying widget").count() == 0
    # The first code cell loads TensorFlow; its start-up log must not show there (in red).
    first = page.locator(".jp-CodeCell").first
    stderr = first.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, stderr.all_inner_texts()
    first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # cells scrolled into view render a moment later
    save_screenshot(page, f"notebook-{notebook.stem}-first-cell")
    if any(word in notebook.read_text() for word in DASHBOARD_WORDS):
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        assert page.locator(".jupyter-widgets").count() >= 1
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        page.wait_for_timeout(1500)
        save_screenshot(page, f"notebook-{notebook.stem}-chart")


def _text(page) -> str:
    return page.locator(".jp-OutputArea-output").all_inner_texts().__str__()[-3000:]
