"""The dashboards' layout in a real JupyterLab in chromium, at its default sizes (file browser
open) in a 1280-px and a narrow 1024-px window: nothing overflows sideways (generated text's
coloured tokens included), no label, option or placeholder is cut, and the MetricsPanel's axes
fit their data. Screenshots of each widget at each width go to
build/test-artifacts/dashboard-layout-*.png."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, save_screenshot

WIDTHS = (1280, 1024)
WIDGETS = ("training", "playground", "spaces", "metrics", "waiting")  # one output cell each, in this order

SETUP = """\
import time
from nbmodels import Run, TrainConfig
from nbmodels.dashboards import GenerationPlayground, MetricsPanel, TrainingDashboard
from nbmodels.data import CharTokenizer
from nbmodels.models import GPT, GPTConfig"""

TRAINING = """\
board = TrainingDashboard()
board.form.widgets["batch_size"].value = 0  # two errors, one of them long
board.form.widgets["lr_schedule"].value = "constant"
board.form.widgets["warmup_steps"].value = 5
board"""

PLAYGROUND = """\
text = "to be or not to be, that is the question: whether tis nobler in the mind to suffer "
tokenizer = CharTokenizer.from_text(text)
model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
playground = GenerationPlayground(model, prompt="to be or not", max_new_tokens=96, jit_compile=False)
playground.generate().join()
playground"""

# A finished 220-step run with a constant learning rate of 1e-3, written as training writes it.
METRICS = """\
run = Run.create(TrainConfig(steps=220, batch_size=32), name="layout")
run.set_status("running")
now = time.time()
run.record([{"type": "start", "step": 0, "total_steps": 220, "steps_per_epoch": 22}])
run.record([{"type": "step", "step": s, "epoch": s / 22, "time": now + 0.01 * s,
             "metrics": {"loss": 2.0 / s ** 0.3, "accuracy": 1 - 1 / s ** 0.3}} for s in range(1, 221)])
run.record([{"type": "progress", "step": s, "learning_rate": 1e-3,
             "memory": {"device": "CPU", "current_bytes": 2**28 + s * 2**16, "peak_bytes": 2**29}}
            for s in (1, 60, 120, 180, 220)])
run.set_status("finished")
MetricsPanel(run)"""

# The playground's text box with what an untrained model often writes: runs of spaces, which
# wrap at the box's edge (not hang past it).
SPACES = """\
import ipywidgets as widgets
from nbmodels.dashboards.generation import output_html
from nbmodels.generation import Token
spaced = [Token(0, i, 0, "ab"[i % 2] if i < 8 or i > 70 else " ", 0.5) for i in range(90)]
widgets.HBox([widgets.HTML(output_html("to be or not", spaced), layout=widgets.Layout(width="240px"))])"""

WAITING = """\
MetricsPanel(Run.create(TrainConfig(steps=10), name="empty"))"""

# Every element of one output that is wider than its box: overflow (scrollWidth beyond
# clientWidth), a cut label, and select options, placeholders and values wider than their box
# (a form control's scrollWidth does not count its text, so that is measured).
MEASURE = """(output) => {
    const problems = [];
    const name = (el) => {
        const text = (el.innerText || el.placeholder || el.value || '').trim().slice(0, 40);
        return `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${text}"`;
    };
    const textWidth = (el, text) => {
        const span = document.createElement('span');
        span.style.font = getComputedStyle(el).font;
        span.style.whiteSpace = 'pre';
        span.style.position = 'absolute';
        span.textContent = text;
        document.body.appendChild(span);
        const width = span.getBoundingClientRect().width;
        span.remove();
        return width;
    };
    const contentWidth = (el) => {
        const style = getComputedStyle(el);
        return el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    };
    for (const el of [output, ...output.querySelectorAll('*')]) {
        if (el instanceof SVGElement || el.closest('svg') || !el.clientWidth) continue;
        // plotly's toolbar, and a slider's handle, which reaches past the track's end by design
        if (el.closest('.modebar-container') || el.closest('.slider-container')) continue;
        if (el.scrollWidth > el.clientWidth + 1 && !['INPUT', 'TEXTAREA'].includes(el.tagName)) {
            // A box too wide because a plotly chart in it is: that is the chart's own width.
            const chart = el.closest('.js-plotly-plot') || el.querySelector('.js-plotly-plot');
            problems.push(`${chart ? 'chart ' : ''}overflow ${el.scrollWidth}>${el.clientWidth}: ${name(el)}`);
        }
        if (el.tagName === 'SELECT' && el.selectedIndex >= 0) {
            const text = el.options[el.selectedIndex].text;
            if (textWidth(el, text) > contentWidth(el) + 1) problems.push(`cut option: ${name(el)} "${text}"`);
        }
        if (el.tagName === 'INPUT' && (el.type === 'text' || el.type === 'number')) {
            const text = el.value || el.placeholder;
            if (text && textWidth(el, text) > contentWidth(el) + 1) problems.push(`cut text: ${name(el)} "${text}"`);
        }
    }
    // Generated text: every token's highlight inside its output box (spaces at a line's end
    // hang past it under white-space: pre-wrap, painted there but not counted as overflow).
    const past = [...output.querySelectorAll('.nbmodels-token')].find((token) =>
        [...token.getClientRects()].some((rect) => rect.right > token.parentElement.getBoundingClientRect().right + 1));
    if (past) problems.push(`a token past its output box: ${name(past)}`);
    return problems;
}"""

# Each form error: its text, how many lines it wraps into, its width and its field's width.
ERRORS = """(output) => [...output.querySelectorAll('.widget-html-content > [style*="color"]')]
    .filter(error => error.innerText.trim())
    .map(error => ({text: error.innerText,
                    lines: Math.round(error.getBoundingClientRect().height / parseFloat(getComputedStyle(error).lineHeight)),
                    width: error.getBoundingClientRect().width,
                    field: error.closest('.widget-vbox').firstElementChild.getBoundingClientRect().width}))"""


def notebook() -> dict:
    cells = [SETUP, TRAINING, PLAYGROUND, SPACES, METRICS, WAITING, "print('LAYOUT-READY')"]
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None} for i, source in enumerate(cells)],
    }


def test_dashboards_fit_the_notebook_at_1280_and_1024_px(lab_server, lab_page, tmp_path):
    lab = lab_server({"layout.ipynb": notebook()}, env={"NBMODELS_RUNS_DIR": str(tmp_path / "runs")})
    page = lab_page(lab, "layout.ipynb")
    lab.run_all(page)
    page.locator(".jp-OutputArea-output", has_text="LAYOUT-READY").wait_for(timeout=600_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=120_000)
    outputs = {name: page.locator(".jp-Cell").nth(i + 1).locator(".jp-OutputArea-output").first
               for i, name in enumerate(WIDGETS)}
    assert page.get_by_text("Traceback").count() == 0, page.locator(".jp-OutputArea-output").all_inner_texts()

    problems = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1700})  # tall: whole widgets in the screenshots
        page.wait_for_timeout(2000)  # the notebook lays out its cells for the new width
        save_screenshot(page, f"dashboard-layout-{width}")
        for name, output in outputs.items():
            output.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            output.screenshot(path=str(ARTIFACTS / f"dashboard-layout-{width}-{name}.png"))
            problems += [f"{width}px {name}: {p}" for p in output.evaluate(MEASURE)]
        # Errors run across the whole width of their field (not a narrow column beside it).
        errors = outputs["training"].evaluate(ERRORS)
        assert len(errors) == 2, errors
        problems += [f"{width}px training: an error narrower than its field: {e}" for e in errors
                     if e["width"] < e["field"] - 2]
        problems += [f"{width}px training: a short error wraps: {e}" for e in errors
                     if e["text"].startswith("batch_size") and e["lines"] != 1]
    assert not problems, "\n".join(problems)

    # The constant learning rate is drawn inside a range around 1e-3 (plotly alone: -1..1).
    low, high = outputs["metrics"].evaluate(
        "(output) => output.querySelector('.js-plotly-plot')._fullLayout.yaxis3.range")
    assert 0 < low < 1e-3 < high < 2e-3
    assert outputs["waiting"].get_by_text("waiting for the first step").count() == 6
