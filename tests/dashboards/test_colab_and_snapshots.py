"""Colab fallback (display-handle charts), outputs that survive, and the docstring examples."""

import base64
import doctest
import importlib
import re
import sys
import types

import numpy as np
import pytest
from IPython.utils.capture import capture_output

from nbmodels import Run, TrainConfig
from nbmodels.dashboards import AttentionExplorer, MetricsPanel, TrainingDashboard, chart_mode
from nbmodels.models import GPT, GPTConfig
from tests.conftest import make_mlp

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture
def colab(monkeypatch):
    """Only the detection is faked: Colab's runtime has imported google.colab."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_colab_is_detected_and_charts_fall_back_to_display_handles(colab, ipython, runs_root):
    assert chart_mode() == "display"
    run = Run.create(TrainConfig(steps=20), name="colab")
    run.set_status("running")
    panel = MetricsPanel(run, interval=0.0)
    assert panel._chart.mode == "display" and len(panel.children) == 1  # the header; no FigureWidget
    with capture_output() as shown:
        from IPython.display import display

        display(panel)
        # Redraws run on the throttle's timer thread; flush() runs each one here, inside the capture.
        run.record([{"type": "step", "step": s, "epoch": s / 20, "metrics": {"loss": 1.0 / s}} for s in range(1, 11)])
        panel._throttle.flush()
        run.record([{"type": "step", "step": 11, "epoch": 0.55, "metrics": {"loss": 0.05}}])
        panel._throttle.flush()
    outputs = shown.outputs
    assert WIDGET_VIEW in outputs[0].data and "text/html" in outputs[0].data  # the widget + snapshot
    chart = [o for o in outputs if (o.transient or {}).get("display_id") == panel._chart._display_id]
    assert not chart[0].update and PLOTLY in chart[0].data  # the figure, under its display id
    updates = chart[1:]
    assert len(updates) >= 2 and all(o.update for o in updates)
    last = updates[-1].data[PLOTLY]
    loss = next(t for t in last["data"] if t["name"] == "loss")
    steps = np.frombuffer(base64.b64decode(loss["x"]["bdata"]), dtype=loss["x"]["dtype"])  # plotly's binary JSON
    assert steps[-1] == 11  # the update carries the latest data
    panel.close()


def test_colab_custom_widget_manager_is_enabled_when_the_runtime_has_it(colab, monkeypatch):
    calls = []
    sys.modules["google.colab"].output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    from nbmodels.dashboards._kit import env as _env

    assert _env.enable_colab_widgets() and _env.enable_colab_widgets() and calls == [1]  # once


def test_attention_explorer_in_display_mode(colab, ipython):
    explorer = AttentionExplorer(GPT(GPTConfig.preset("tiny")), np.array([1, 2, 3]))
    with capture_output() as shown:
        explorer._ipython_display_()
        explorer.select(head=0)
    assert sum(PLOTLY in o.data for o in shown.outputs if not o.update) == 2  # heatmap + overview
    assert any(o.update for o in shown.outputs)


def test_snapshot_and_summary_are_stable(finished_run, ipython):
    first = MetricsPanel(finished_run)._repr_mimebundle_()
    again = MetricsPanel(Run.load(finished_run.id))._repr_mimebundle_()
    assert first["text/html"] == again["text/html"] and first["text/plain"] == again["text/plain"]
    assert first["text/plain"].startswith("MetricsPanel: run 'xor' finished at step 42/42, accuracy=")
    assert "\n" not in first["text/plain"] and finished_run.id not in first["text/plain"]
    html = first["text/html"]
    assert "<svg" in html and "<script" not in html and "val_loss" in html
    assert not UUID.search(html) and "samples/s" not in html and "memory" not in html
    assert WIDGET_VIEW in first


def test_display_leaves_the_last_state_in_the_notebook(ipython, runs_root, xor_data):
    board = TrainingDashboard(recipes=[], builder=make_mlp, data=xor_data, config=TrainConfig(steps=14))
    with capture_output() as shown:
        board._ipython_display_()
        run = board.start()
        assert run.wait(timeout=120) == "finished"
    displayed = shown.outputs[0]
    assert displayed.data["text/plain"] == "TrainingDashboard: custom make_mlp, no run yet"
    final = [o for o in shown.outputs if o.update and o.transient == displayed.transient][-1]
    assert final.data["text/plain"].startswith("TrainingDashboard: custom make_mlp, run 'make_mlp' finished at step 14/14")
    assert "finished" in final.data["text/html"] and "steps=14" in final.data["text/html"]
    board.close()


@pytest.mark.parametrize("module", ["_kit.env", "_kit.throttle", "_series", "_kit.snapshot", "_info", "_attention", "form", "metrics",
                                    "training", "attention", "_kit.chart", "testing"])
def test_docstring_examples(module, runs_root):
    result = doctest.testmod(importlib.import_module(f"nbmodels.dashboards.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_import_nbmodels_dashboards_is_light():
    import subprocess

    code = ("import sys, nbmodels, nbmodels.dashboards; nbmodels.dashboards.chart_mode(); "
            "print([m for m in ('tensorflow', 'keras', 'plotly', 'ipywidgets') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
