"""Every cell the sidebar puts into a notebook runs on its own in a fresh kernel.

The sidebar's "Insert training dashboard" button (the "Insert training dashboard cell" command)
and a run's "Open in a notebook" button each insert a cell into a plain notebook; run there,
in a kernel that has run nothing else, the cell must raise nothing and show its widget. The
"New nbmodels notebook" template is run from top to bottom too. Screenshots go to
build/test-artifacts/.
"""

from __future__ import annotations

import functools


from nbmodels import TrainConfig, data, train
from nbmodels.models import mlp
from tests.browser.conftest import save_screenshot

EMPTY_NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    "cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [], "execution_count": None}],
}

# True once the current notebook's kernel is idle and every non-empty code cell has run.
ALL_CELLS_RAN = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel?.sessionContext?.session?.kernel;
    if (!panel?.content || kernel?.status !== 'idle') return false;
    const cells = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
    return cells.length > 0 && cells.every(c => c.model.executionCount !== null);
}"""

ERROR_OUTPUT = '.jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def wait_for_notebook(page) -> None:
    """Until the opened notebook is the current widget: a click before that inserts into a new one."""
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.context?.isReady === true", timeout=120_000)


def run_everything(lab, page) -> None:
    lab.run_all(page)
    page.wait_for_function(ALL_CELLS_RAN, timeout=600_000, polling=1000)
    page.wait_for_timeout(2000)  # let the last outputs render


def assert_no_error(page) -> None:
    errors = page.locator(ERROR_OUTPUT)
    assert errors.count() == 0, errors.all_inner_texts()
    assert page.get_by_text("Error displaying widget").count() == 0


def make_finished_run(root) -> str:
    digits = data.load("digits", validation_split=0.2, seed=0)
    builder = functools.partial(mlp, digits.input_shape, digits.num_classes, hidden=(8,))
    run = train(builder, digits, TrainConfig(steps=8, batch_size=16, seed=0), name="opened-from-the-sidebar",
                root=root, verbose=False)
    return run.id


def test_insert_dashboard_button_cell_runs_alone_and_shows_the_training_dashboard(lab_server, lab_page, tmp_path):
    lab = lab_server({"plain.ipynb": EMPTY_NOTEBOOK}, env={"NBMODELS_RUNS_DIR": str(tmp_path / "runs")})
    page = lab_page(lab, "plain.ipynb")
    wait_for_notebook(page)
    page.locator('.lm-TabBar-tab[data-id="nbmodels-runs"]').click()
    page.locator(".nbm-RunsPanel-insert").click()
    page.locator(".jp-Cell", has_text="TrainingDashboard()").wait_for()
    run_everything(lab, page)

    assert_no_error(page)
    # The dashboard is on screen: its recipe picker, Start button and metrics panel.
    output = page.locator(".jp-OutputArea-output .jupyter-widgets").first
    output.wait_for(timeout=60_000)
    page.locator(".jp-OutputArea-output .widget-button", has_text="Start").wait_for(timeout=60_000)
    page.locator("select option", has_text="Character GPT on a corpus").first.wait_for(state="attached")
    save_screenshot(page, "sidebar-insert-dashboard-cell")


def test_open_in_a_notebook_and_template_notebook_run_alone(lab_server, lab_page, tmp_path):
    runs = tmp_path / "runs"
    run_id = make_finished_run(runs)
    lab = lab_server({"plain.ipynb": EMPTY_NOTEBOOK}, env={"NBMODELS_RUNS_DIR": str(runs)})
    page = lab_page(lab, "plain.ipynb")
    wait_for_notebook(page)
    page.locator('.lm-TabBar-tab[data-id="nbmodels-runs"]').click()
    row = page.locator(f'.nbm-RunRow[data-run-id="{run_id}"]')
    row.locator(".nbm-RunRow-name").click()
    page.locator(".nbm-Details-open").click()
    page.locator(".jp-Cell", has_text=f'Run.load("{run_id}")').wait_for()
    run_everything(lab, page)
    assert_no_error(page)
    page.locator(".jp-OutputArea-output .js-plotly-plot").first.wait_for(timeout=60_000)
    save_screenshot(page, "sidebar-open-run-cell")

    # "New nbmodels notebook" (launcher) makes a notebook whose cells all run.
    lab.command(page, "launcher:create")
    page.locator(".jp-LauncherCard", has_text="nbmodels notebook").click()
    page.locator(".jp-NotebookPanel:visible .jp-Cell", has_text='data.load("digits")').wait_for()
    run_everything(lab, page)
    assert_no_error(page)
    page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="finished").first.wait_for(timeout=60_000)
    save_screenshot(page, "sidebar-template-notebook")
