"""The vision views in a real JupyterLab in chromium, used as a person would: buttons pressed,
cells of a plotly heatmap clicked with the mouse, dropdowns picked, a checkbox ticked, a slider
dragged; each view is read back from the page (its images, dropdowns, titles) after each action.

One notebook trains the tiny convnet and the tiny ViT on digits for two epochs and shows
DatasetPreview, EvaluationView, AttentionExplorer (image mode), GradCAMView and the
TrainingDashboard (which then trains the transfer recipe for an epoch from its own form).
Screenshots go to build/test-artifacts/vision-views-*.png, the whole window and each view.
"""

from __future__ import annotations

import json
import re

from nbmodels.recipes import get_recipe
from tests.browser.conftest import ARTIFACTS, save_screenshot
from tests.browser.test_dashboard_layout import MEASURE

SETUP = """\
from nbmodels.dashboards import AttentionExplorer, DatasetPreview, EvaluationView, GradCAMView, TrainingDashboard
from nbmodels.recipes import get_recipe

convnet, vit = get_recipe("convnet"), get_recipe("vit")
digits = convnet.data("digits")  # (N, 8, 8, 1) images
convnet_model = convnet.train("tiny", data=digits, config=convnet.config.replace(epochs=2), verbose=False).model
vit_model = vit.train("tiny", data=digits, config=vit.config.replace(epochs=2), verbose=False).model
x_val, y_val = digits.validation"""

VIEWS = {  # one output cell each, in this order
    "preview": 'DatasetPreview(digits, augment="shapes", count=8)',
    "evaluation": "EvaluationView(convnet_model, digits)",
    "attention": "AttentionExplorer(vit_model, x_val[0])",
    "gradcam": "GradCAMView(convnet_model, x_val[:4], labels=y_val[:4])",
    "training": "TrainingDashboard()",
}

# The page position of data point (x, y) of a plotly chart's first axes (x, y: the heatmaps' cell coordinates).
POINT_ON_PAGE = """(plot, [x, y]) => {
    const layout = plot._fullLayout, box = plot.getBoundingClientRect();
    return [box.left + layout.xaxis._offset + layout.xaxis.l2p(x),
            box.top + layout.yaxis._offset + layout.yaxis.l2p(y)];
}"""
# ipywidgets writes an option's spaces as no-break spaces (U+00A0): read back as plain spaces.
SELECTED_TEXT = "(select) => (select.options[select.selectedIndex]?.text ?? '').replace(/\\u00a0/g, ' ')"
OPTION_TEXTS = "(select) => [...select.options].map(option => option.text.replace(/\\u00a0/g, ' '))"


def notebook() -> dict:
    cells = [SETUP, *VIEWS.values(), "print('VISION-READY')"]
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None} for i, source in enumerate(cells)],
    }


def dropdown(output, label: str):
    """The <select> of the dropdown described `label` in `output`."""
    described = output.page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    return output.locator(".widget-dropdown", has=described).locator("select")


def selected(select) -> str:
    return select.evaluate(SELECTED_TEXT)


def option(select, index: int) -> str:
    return select.evaluate(OPTION_TEXTS)[index]


def click_point(page, plot, x: float, y: float) -> None:
    """A real mouse click on data point (x, y) of `plot`: hovered first, as plotly clicks on what it hovers."""
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    px, py = plot.evaluate(POINT_ON_PAGE, [x, y])
    page.mouse.move(px, py)
    page.wait_for_timeout(300)
    page.mouse.click(px, py)


def image_sources(output) -> list[str]:
    return output.locator("img").evaluate_all("(images) => images.map(image => image.src)")


def slider_tracks(output) -> list[float]:
    """The widths of `output`'s slider tracks: a squeezed one is too short to drag."""
    return output.locator(".widget-slider .slider-container").evaluate_all(
        "(tracks) => tracks.map(track => track.getBoundingClientRect().width)")


def plot_title(plot) -> str:
    return plot.locator(".gtitle").first.text_content()


def shoot(page, output, name: str) -> None:
    """The window (with `output` in view) and `output` alone, under build/test-artifacts/."""
    output.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    save_screenshot(page, f"vision-views-{name}")
    output.screenshot(path=str(ARTIFACTS / f"vision-views-{name}-view.png"))


def assert_no_error(page) -> None:
    outputs = page.locator(".jp-OutputArea-output")
    assert page.get_by_text("Traceback").count() == 0, outputs.all_inner_texts()
    assert page.get_by_text("Error displaying widget").count() == 0, outputs.all_inner_texts()


def test_vision_views_answer_clicks_in_jupyterlab(lab_server, lab_page, tmp_path):
    lab = lab_server({"vision.ipynb": notebook()}, env={"NBMODELS_RUNS_DIR": str(tmp_path / "runs")})
    page = lab_page(lab, "vision.ipynb")
    page.set_viewport_size({"width": 1400, "height": 1600})  # tall: whole views in the screenshots
    lab.run_all(page)
    page.locator(".jp-OutputArea-output", has_text="VISION-READY").wait_for(timeout=300_000)
    outputs = {name: page.locator(".jp-Cell").nth(i + 1).locator(".jp-OutputArea-output").first
               for i, name in enumerate(VIEWS)}
    for output in outputs.values():
        output.locator(".jupyter-widgets").first.wait_for(timeout=60_000)
    assert_no_error(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # 1. DatasetPreview: "New draw" shows other images (8 raw | augmented pairs).
    preview = outputs["preview"]
    before = image_sources(preview)
    assert len(before) == 16
    preview.locator("button.widget-button", has_text="New draw").click()
    page.wait_for_function("([output, before]) => [...output.querySelectorAll('img')].map(i => i.src).join() "
                           "!== before", arg=[preview.element_handle(), ",".join(before)])
    after = image_sources(preview)
    assert len(after) == 16 and after != before
    assert "draw 1 (seed 0)" in preview.inner_text()
    assert not preview.evaluate(MEASURE)
    shoot(page, preview, "1-preview")

    # 2. EvaluationView: a heatmap cell clicked, then a pair from "most confused".
    evaluation = outputs["evaluation"]
    heatmap = evaluation.locator(".js-plotly-plot").first
    heatmap.wait_for()
    true, predicted = dropdown(evaluation, "true"), dropdown(evaluation, "predicted")
    assert selected(true) != selected(predicted)  # the default is the most confused pair
    counts = heatmap.evaluate("(plot) => plot.data[0].z")  # rows: true class, columns: predicted
    best = max(range(len(counts)), key=lambda c: counts[c][c])  # the fullest diagonal cell: images to show
    click_point(page, heatmap, best, best)
    gallery = evaluation.locator(".nbmodels-gallery")
    gallery.filter(has_text=f"true {best} → predicted {best}").wait_for(timeout=30_000)
    assert (selected(true), selected(predicted)) == (str(best), str(best))
    assert f"true {best} → predicted {best}" in plot_title(heatmap)
    assert gallery.locator("img").count() == min(24, counts[best][best])  # gallery_size at most
    confused = dropdown(evaluation, "most confused")
    assert selected(confused) == ""  # a right answer is no confused pair
    pair = option(confused, 1)  # e.g. "7 → 4 (21)": the second most confused
    match = re.match(r"(\S+) → (\S+) \(\d+\)$", pair)
    assert match, pair
    pair_true, pair_predicted = match.groups()
    confused.select_option(label=pair)
    gallery.filter(has_text=f"true {pair_true} → predicted {pair_predicted}").wait_for(timeout=30_000)
    assert (selected(true), selected(predicted)) == (pair_true, pair_predicted)
    assert not evaluation.evaluate(MEASURE)
    shoot(page, evaluation, "2-evaluation")

    # 3. AttentionExplorer: a patch clicked becomes the query; then attention rollout.
    attention = outputs["attention"]
    overlay = attention.locator(".js-plotly-plot").first
    overlay.wait_for()
    query = dropdown(attention, "query")
    assert selected(query) == "class token"
    heat_before = overlay.evaluate("(plot) => JSON.stringify(plot.data[0].z)")
    click_point(page, overlay, 2, 1)  # column 2, row 1
    page.wait_for_function(f"(select) => ({SELECTED_TEXT})(select) === 'patch (1, 2)'",
                           arg=query.element_handle(), timeout=30_000)
    page.wait_for_function("([plot, before]) => JSON.stringify(plot.data[0].z) !== before",
                           arg=[overlay.element_handle(), heat_before], timeout=30_000)
    assert "(1, 2)" in plot_title(overlay)
    layer = dropdown(attention, "layer")
    assert layer.is_enabled()
    attention.locator(".widget-checkbox input[type=checkbox]").check()
    page.wait_for_function("(select) => select.disabled", arg=layer.element_handle(), timeout=30_000)
    page.wait_for_function("(plot) => /rollout/.test(plot.querySelector('.gtitle').textContent)",
                           arg=overlay.element_handle(), timeout=30_000)
    assert selected(query) == "patch (1, 2)"  # rollout from the same query
    assert min(slider_tracks(attention)) >= 100, slider_tracks(attention)  # the opacity slider has room
    assert not attention.evaluate(MEASURE)
    shoot(page, attention, "3-attention")

    # 4. GradCAMView: another class explained, another image, a stronger overlay.
    gradcam = outputs["gradcam"]
    cam = gradcam.locator(".js-plotly-plot").first
    cam.wait_for()
    explain, image = dropdown(gradcam, "explain"), dropdown(gradcam, "image")
    title = plot_title(cam)
    second_class = option(explain, 1)  # the second most probable
    explain.select_option(label=second_class)
    explained = second_class.split(" (p=")[0]
    page.wait_for_function("([plot, title]) => plot.querySelector('.gtitle').textContent.startsWith(title)",
                           arg=[cam.element_handle(), f"class {explained} "], timeout=30_000)
    assert plot_title(cam) != title
    top = gradcam.locator(".widget-html", has_text="top predictions").inner_text()
    image.select_option(index=2)
    page.wait_for_function("([output, top]) => !output.innerText.includes(top)",
                           arg=[gradcam.element_handle(), top], timeout=30_000)
    # A new image explains its own predicted class: the first in the class list, shown in the title.
    predicted_class = selected(image).split("predicted ")[1].split(",")[0]
    assert selected(explain).startswith(predicted_class + " (p=")
    page.wait_for_function("([plot, title]) => plot.querySelector('.gtitle').textContent.startsWith(title)",
                           arg=[cam.element_handle(), f"class {predicted_class} "], timeout=30_000)
    opacity = cam.evaluate("(plot) => plot.data[0].opacity")
    handle = gradcam.locator(".widget-slider .noUi-handle")
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function("([plot, before]) => plot.data[0].opacity > before",
                           arg=[cam.element_handle(), opacity], timeout=30_000)
    assert float(gradcam.locator(".widget-readout").inner_text()) > opacity
    assert min(slider_tracks(gradcam)) >= 100, slider_tracks(gradcam)
    assert not gradcam.evaluate(MEASURE)
    shoot(page, gradcam, "4-gradcam")

    # 5. TrainingDashboard: the vision options, then the transfer recipe trained from the form.
    training = outputs["training"]
    model, size = dropdown(training, "model"), dropdown(training, "size")
    model.select_option(label="Convnet on images")
    augmentation = dropdown(training, "augmentation")
    augmentation.wait_for()
    assert selected(augmentation) == "auto"
    problems = training.evaluate(MEASURE)  # no label or choice cut, nothing wider than the notebook
    model.select_option(label="Transfer learning on images")
    size.select_option(label="tiny")
    # The kernel's answer (the recipe's config in the form, the size's estimate) is in before the form is typed in.
    training.get_by_text(re.compile("^Transfer learning on images — tiny: ")).wait_for(timeout=30_000)
    epochs = training.locator(".widget-text", has=page.locator("label.widget-label", has_text=re.compile("^epochs$")))
    page.wait_for_function("([input, value]) => input.value === value",
                           arg=[epochs.locator("input").element_handle(), str(get_recipe("transfer").config.epochs)])
    epochs.locator("input").fill("1")
    epochs.locator("input").press("Enter")
    assert selected(augmentation) == "auto" and selected(dropdown(training, "weights")) == "None"
    problems += training.evaluate(MEASURE)
    assert not problems, "\n".join(problems)
    shoot(page, training, "5-training-before")
    training.locator("button.widget-button", has_text="Start").click()
    training.get_by_text(re.compile(r"^Run \S+-transfer-tiny-\S+: finished")).wait_for(timeout=120_000)
    page.wait_for_timeout(1500)  # the metrics panel's last redraw
    shoot(page, training, "5-training")
    assert_no_error(page)
    # Trained as the form said: one epoch of the tiny transfer model.
    (status,) = [json.loads(path.read_text()) for path in (tmp_path / "runs").glob("*-transfer-tiny-*/status.json")]
    assert (status["status"], status["epoch"]) == ("finished", 1.0)
