"""The Runs sidebar in a real JupyterLab: watch a kernel's training run, stop it from the sidebar."""

import re

from nbmodels import Run
from tests.browser.conftest import save_screenshot

TRAIN_CELL = """\
import numpy as np
from nbmodels import TrainConfig, train  # before keras: it keeps TensorFlow's start-up log out of the output
import keras

rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, size=(512, 8)).astype("float32")
y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int32")

def builder():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model

# Far more steps than the test waits for: it runs until the sidebar stops it.
config = TrainConfig(steps=1_000_000, batch_size=32, checkpoint_every=500, validate_every=100_000)
run = train(builder, {"train": (x[:448], y[:448]), "validation": (x[448:], y[448:])}, config,
            name="watched-from-the-sidebar", background=True, verbose=False)
print(run.id)
"""

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    "cells": [{"cell_type": "code", "source": TRAIN_CELL, "metadata": {}, "outputs": [], "execution_count": None}],
}


def step_of(row) -> int:
    match = re.search(r"step (\d+)", row.locator(".nbm-RunRow-step").inner_text())
    return int(match.group(1)) if match else -1


def test_a_kernel_run_shows_in_the_sidebar_moves_and_stops_from_it(lab_server, lab_page, tmp_path):
    runs = tmp_path / "runs"
    lab = lab_server({"train.ipynb": NOTEBOOK}, env={"NBMODELS_RUNS_DIR": str(runs)})
    page = lab_page(lab, "train.ipynb")
    lab.run_all(page)

    page.locator('.lm-TabBar-tab[data-id="nbmodels-runs"]').click()
    row = page.locator(".nbm-RunRow", has_text="watched-from-the-sidebar")
    row.locator(".nbm-RunRow-status", has_text="running").wait_for(timeout=180_000)
    first = step_of(row)
    # The step count moves while we watch (the panel polls; nothing here reloads it).
    page.wait_for_function(
        """([first]) => {
            const text = document.querySelector('.nbm-RunRow .nbm-RunRow-step')?.textContent || '';
            const m = text.match(/step (\\d+)/);
            return m && Number(m[1]) > first;
        }""",
        arg=[first],
        timeout=60_000,
    )
    assert step_of(row) > first > -1
    page.wait_for_function(
        "() => (document.querySelector('.nbm-RunRow .nbm-Sparkline polyline')?.getAttribute('points') || '').includes(' ')"
    )
    save_screenshot(page, "sidebar-run-running")

    row.locator(".nbm-RunRow-name").click()  # details: config and metric charts
    page.locator(".nbm-Details-config", has_text="batch_size").wait_for()
    page.locator(".nbm-Chart-caption", has_text="loss").first.wait_for()
    save_screenshot(page, "sidebar-run-details")

    row.locator(".nbm-RunRow-stop").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Stop this run?").wait_for()
    save_screenshot(page, "sidebar-stop-confirmation")
    dialog.get_by_role("button", name="Stop run").click()
    row.locator(".nbm-RunRow-status", has_text="stopped").wait_for(timeout=120_000)
    assert row.locator(".nbm-RunRow-stop").is_hidden()
    save_screenshot(page, "sidebar-run-stopped")

    # What the sidebar shows is what is on disk: stopped, with a checkpoint.
    run_id = row.get_attribute("data-run-id")
    run = Run.load(run_id, root=runs)
    assert run.status == "stopped" and run.latest_checkpoint() is not None

    # "Open in a notebook" puts a cell that loads this run into the open notebook.
    page.locator(".nbm-Details-open").click()
    page.locator(".jp-Cell", has_text=f'MetricsPanel(Run.load("{run_id}"))').wait_for()
    # "New nbmodels notebook", from the launcher, opens the template notebook.
    lab.command(page, "launcher:create")
    page.locator(".jp-LauncherCard", has_text="nbmodels notebook").click()
    page.locator(".jp-NotebookPanel:visible .jp-Cell", has_text='data.load("digits")').wait_for()
    save_screenshot(page, "sidebar-new-notebook")

    # The server loaded our extension and had nothing to say about authentication.
    log = lab.log()
    assert "nbmodels: run and device routes at /nbmodels/" in log
    assert "without @allow_unauthenticated" not in log
    assert not re.search(r"(WARNING|ERROR).*nbmodels", log), log[-3000:]
