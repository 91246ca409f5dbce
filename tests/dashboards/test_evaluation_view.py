"""EvaluationView: the heatmap is inspect's confusion matrix, a click (or the dropdowns) picks a
cell whose examples fill the gallery, most confident first; the selection links to other widgets."""

import doctest
import re

import keras
import numpy as np
import pytest
import traitlets
from IPython.utils.capture import capture_output

from nbmodels import data
import nbmodels.dashboards.evaluation as evaluation_module
from nbmodels.dashboards import EvaluationView, _gallery
from nbmodels.inspect import confusion_matrix, evaluate_classifier, misclassified

PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", flatten=False)


@pytest.fixture(scope="module")
def centroid_model(digits):
    """Nearest class mean, as a Dense layer with known weights (no training): about 90% right on
    digits, so several cells off the diagonal are filled."""
    x, y = digits.train
    means = np.stack([x[y == c].reshape(-1, 64).mean(axis=0) for c in range(10)], axis=1)  # (64, 10)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    # -|x - m|^2 = 2 x.m - |m|^2 - |x|^2, and |x|^2 is the same for every class
    model.layers[-1].set_weights([2 * means, -(means ** 2).sum(axis=0)])
    return model


@pytest.fixture(scope="module")
def view(centroid_model, digits):
    return EvaluationView(centroid_model, digits, mode="widget")


def click(view, true, predicted):
    """What plotly.js sends when a heatmap cell is clicked (the FigureWidget's real message path)."""
    figure = view.charts[0].figure
    figure._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
        "xs": [predicted], "ys": [true], "point_indexes": [[true, predicted]], "trace_indexes": [0]}}


def gallery_order(html):
    return [int(i) for i in re.findall(r"title='example (\d+)'", html)]


def test_heatmap_is_the_confusion_matrix_and_opens_on_the_most_confused_pair(view, centroid_model, digits):
    result = view.evaluation.predictions
    expected = confusion_matrix(result.targets, result.labels, 10)
    heatmap = view.charts[0].figure.data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z), expected)
    assert list(view.charts[0].figure.layout.xaxis.ticktext) == [str(i) for i in range(10)]
    assert view.charts[0].figure.layout.yaxis.autorange == "reversed"  # true classes read top to bottom
    assert 0.8 < view.evaluation.accuracy < 0.99 and len(view.evaluation.most_confused) >= 5
    assert view.selection == view.evaluation.most_confused[0][:2]  # never a blank gallery
    assert len(gallery_order(view._gallery.value)) == view.evaluation.most_confused[0][2]
    colours = heatmap.colorscale  # log-like: a count of 1 is already past a tenth of the ramp
    one = next(c for position, c in colours if position == pytest.approx(1 / expected.max()))
    assert one != colours[0][1] and colours[1][0] < 0.05


def test_click_fills_the_gallery_with_that_cells_images_most_confident_first(view, digits):
    true, predicted, count = view.evaluation.most_confused[1]
    click(view, true, predicted)
    assert view.selection == (true, predicted)
    result = view.evaluation.predictions
    mistakes = misclassified(result.targets, result.probabilities, y_pred=result.labels)
    expected = [i for i in mistakes.indices if result.targets[i] == true and result.labels[i] == predicted]
    shown = gallery_order(view._gallery.value)
    assert shown == expected and len(shown) == count
    confidence = result.probabilities[shown, predicted]
    assert np.all(np.diff(confidence) <= 0)
    x_validation = digits.validation[0]
    for index in shown:  # the very images, enlarged and sharp, with their top 3 classes
        assert _gallery.image_tag(x_validation[index], (0.0, 1.0), title=f"example {index}") in view._gallery.value
    assert view._gallery.value.count("%</span>") == 3 * count
    assert "image-rendering:pixelated" in view._gallery.value
    shapes = view.charts[0].figure.layout.shapes
    assert (shapes[0].x0, shapes[0].y0) == (predicted - 0.5, true - 0.5)
    # a diagonal cell: the right answers, the surest first
    view.select(4, 4)
    shown = gallery_order(view._gallery.value)
    assert len(shown) == min(view.gallery_size, int(view.confusion[4, 4]))
    assert np.all(np.diff(result.probabilities[shown, 4]) <= 0) and np.all(result.targets[shown] == 4)


def test_selection_is_one_traitlet_every_part_follows_and_other_widgets_link_to(view, centroid_model, digits):
    train_view = EvaluationView(centroid_model, digits, split="train", mode="widget")
    link = traitlets.link((view, "selection"), (train_view, "selection"))
    try:
        (t1, p1, _), (t2, p2, _) = view.evaluation.most_confused[:2]
        view._confused.value = (t2, p2)  # the "most confused" list drives both views
        assert view.selection == train_view.selection == (t2, p2)
        assert (train_view._true.value, train_view._predicted.value) == (t2, p2)
        train_view.select(t1, p1)
        assert view.selection == (t1, p1) and view._confused.value == (t1, p1)
        view._true.value, view._predicted.value = 2, 2  # a cell no pair names
        assert train_view.selection == (2, 2) and view._confused.value is None
        assert re.search(r"<tr style='background:#fde68a;font-weight:bold'><td[^>]*>2</td>", view._table.value)
        assert train_view.summary().startswith("EvaluationView: 10 classes, 1438 examples")
    finally:
        link.unlink()
    seen = []
    view.observe(lambda change: seen.append(change["new"]), names="selection")
    click(view, 9, 1)
    assert seen[-1] == (9, 1) and view._true.value == 9


def test_snapshot_holds_heatmap_images_table_and_the_summary_line(view):
    view.select(*view.evaluation.most_confused[0][:2])
    bundle = view._repr_mimebundle_()
    snapshot = bundle["text/html"]
    assert snapshot.count("<img src='data:image/png;base64,") == view.evaluation.most_confused[0][2]
    assert "precision" in snapshot and "macro avg" in snapshot and "<script" not in snapshot
    assert "outline:3px solid" in snapshot  # the selected cell, marked in the static heatmap
    true, predicted, count = view.evaluation.most_confused[0]
    assert bundle["text/plain"] == view.summary() == (
        f"EvaluationView: 10 classes, 359 examples, accuracy {view.evaluation.accuracy:.1%}; "
        f"selected true {true} → predicted {predicted} ({count} images)")


def test_display_mode_picks_cells_with_the_dropdowns(centroid_model, digits, ipython):
    view = EvaluationView(centroid_model, digits, mode="display")
    assert view.charts[0].view is None  # no FigureWidget: the dropdowns are how to pick a cell
    with capture_output() as shown:
        view._ipython_display_()
        view._confused.value = view._confused.options[2][1]
        view._predicted.value = view.selection[0]  # the diagonal, which no confused pair names
    assert view.selection[0] == view.selection[1]
    figures = [o for o in shown.outputs if PLOTLY in o.data]
    assert not figures[0].update and len([o for o in figures if o.update]) >= 2
    assert figures[-1].data[PLOTLY]["layout"]["shapes"][0]["x0"] == view.selection[1] - 0.5
    snapshots = [o for o in shown.outputs if "text/html" in o.data and o.update and PLOTLY not in o.data]
    assert snapshots and snapshots[-1].data["text/plain"] == view.summary()


def test_a_ready_evaluation_is_shown_as_it_is_and_rows_that_are_no_images_do_not_crash():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, size=(60, 12)).astype("int32")  # token ids
    labels = (ids[:, 0] > 25).astype("int32")
    model = keras.Sequential([keras.Input((12,), dtype="int32"), keras.layers.Embedding(50, 4),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    evaluation = evaluate_classifier(model, (ids, labels), class_names=["neg", "pos"])
    view = EvaluationView(evaluation, (ids, labels), mode="widget")
    assert view.evaluation is evaluation
    assert "<img" not in view._gallery.value and "<code" in view._gallery.value
    assert re.search(r"selected true (neg|pos) → predicted (neg|pos) \(\d+ examples\)$", view.summary())
    bare = EvaluationView(evaluation, mode="widget")  # no rows at all: positions and predictions
    assert "#" in bare._gallery.value and "%</span>" in bare._gallery.value


def test_bad_input_is_a_clear_value_error(centroid_model, digits, view):
    x_validation, _ = digits.validation
    with pytest.raises(ValueError, match="no labels"):
        EvaluationView(centroid_model, x_validation)
    three_classes = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="3 outputs but the dataset has num_classes=10"):
        EvaluationView(three_classes, digits)
    with pytest.raises(ValueError, match="no validation split"):
        EvaluationView(centroid_model, data.Dataset(task="classification", train=digits.train, num_classes=10))
    with pytest.raises(ValueError, match="359"):
        EvaluationView(view.evaluation, digits, split="train")  # rows of another split
    with pytest.raises(ValueError, match="from 0 to 9"):
        view.select(10, 0)


def test_docstring_examples():
    for module in (evaluation_module, _gallery):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted and not result.failed, module.__name__
