"""AttentionExplorer's image mode: a ViT's attention (or rollout) from the chosen query, drawn over the
image from nbmodels.inspect's data; a click on a patch makes it the query; every head as a small overlay;
snapshot, display mode and bad input."""

import doctest
import importlib

import numpy as np
import pytest
from IPython.utils.capture import capture_output

from nbmodels import data
from nbmodels.dashboards import AttentionExplorer
from nbmodels.inspect import vit_attention, vit_rollout
from nbmodels.models import GPT, GPTConfig, ViT, ViTConfig

PLOTLY = "application/vnd.plotly.v1+json"
GRID = 4  # the tiny ViT: 8x8 images, patches of 2x2 pixels


@pytest.fixture(scope="module")
def vit_and_image():
    # The explorer draws what inspect computes, trained or not: an untrained ViT's maps are as
    # uneven as a trained one's, and the check stays seconds long.
    ds = data.load("marker", n=20, image_size=8, patch_size=2, num_classes=3, seed=0)
    return ViT(ViTConfig.preset("tiny", num_classes=3)), ds.train[0][0]  # (8, 8, 1)


def shown(figure, name="attention"):
    return np.asarray(next(t for t in figure.data if t.name == name).z)


def click(figure, trace_index, row, col):
    """The message a click in JupyterLab sends the FigureWidget (plotly.js points callback)."""
    figure._handler_js2py_pointsCallback({"new": {
        "event_type": "plotly_click",
        "points": {"xs": [float(col)], "ys": [float(row)], "point_indexes": [[row, col]],
                   "trace_indexes": [trace_index]}}})


def peak(grid_map):
    return tuple(int(i) for i in np.unravel_index(np.argmax(grid_map), grid_map.shape))


def test_the_overlay_is_inspects_attention_and_rollout(vit_and_image):
    vit, image = vit_and_image
    explorer = AttentionExplorer(vit, image)
    main = explorer.charts[0].figure
    expected = vit_attention(vit, image)[0]  # the class token, last layer, heads averaged
    np.testing.assert_allclose(shown(main), expected, atol=1e-6)
    assert main.layout.images[0].source.startswith("data:image/png;base64,") and not main.layout.shapes
    assert explorer.summary() == ("AttentionExplorer: ViT 2 layers x 2 heads, 4x4 patches; showing layer 1, "
                                  f"mean of heads from the class token; peak at patch {peak(expected)}")
    explorer._layer.value = 0
    explorer._head.value = 1
    np.testing.assert_allclose(shown(main), vit_attention(vit, image, layer=0, head=1)[0], atol=1e-6)
    explorer._rollout.value = True
    rollout = vit_rollout(vit, image)[0]
    np.testing.assert_allclose(shown(main), rollout, atol=1e-6)
    assert peak(shown(main)) == peak(rollout) and explorer._layer.disabled and explorer._head.disabled
    assert explorer.summary().endswith(f"showing rollout from the class token; peak at patch {peak(rollout)}")
    explorer._rollout.value = False
    assert not explorer._layer.disabled
    np.testing.assert_allclose(explorer.heatmap, vit_attention(vit, image, layer=0, head=1)[0], atol=1e-6)


def test_clicking_a_patch_makes_it_the_query_and_outlines_it(vit_and_image):
    vit, image = vit_and_image
    explorer = AttentionExplorer(vit, image[None])  # a batch of one
    main, overview = (chart.figure for chart in explorer.charts)
    click(main, 0, row=1, col=2)
    assert explorer.selection["query"] == 1 * GRID + 2
    np.testing.assert_allclose(shown(main), vit_attention(vit, image, query=6)[0], atol=1e-6)
    outline = main.layout.shapes[0]
    assert (outline.x0, outline.x1, outline.y0, outline.y1) == (1.5, 2.5, 0.5, 1.5)
    assert "from patch (1, 2)" in explorer.summary() and "from patch (1, 2)" in main.layout.title.text
    # Every head follows the query, as a small overlay on the image.
    assert len(overview.data) == 2 * 2 and len(overview.layout.images) == 2 * 2
    from_patch_6 = vit_attention(vit, image, layer=0, head=1, query=6)[0]
    np.testing.assert_allclose(shown(overview, "layer 0 head 1"), from_patch_6, atol=1e-6)
    click(overview, 1, row=0, col=0)  # head 1 of layer 0 (not the last head: every trace hears a click)
    assert explorer.selection == {"layer": 0, "head": 1, "query": 6, "rollout": False}
    explorer._query.value = "cls"  # the dropdown (Colab has no clicks) back to the class token
    assert not main.layout.shapes
    explorer._rendering._opacity.value = 0.3  # the image mode's own control
    assert main.data[0].opacity == 0.3 and overview.data[0].opacity == 0.3


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1), (1, 8, 8, 1)])
def test_one_image_in_any_usual_shape(vit_and_image, shape):
    vit, image = vit_and_image
    explorer = AttentionExplorer(vit, image.reshape(shape))
    np.testing.assert_allclose(explorer.heatmap, vit_attention(vit, image)[0], atol=1e-6)


def test_snapshot_and_display_mode(vit_and_image, ipython):
    vit, image = vit_and_image
    explorer = AttentionExplorer(vit, image, mode="display")
    with capture_output() as shown_outputs:
        explorer._ipython_display_()
        explorer.select(query=5, rollout=True)
    outputs = shown_outputs.outputs
    assert sum(PLOTLY in o.data for o in outputs if not o.update) == 2  # the overlay and the overview
    assert any(o.update and PLOTLY in o.data for o in outputs)
    last = [o for o in outputs if o.update and "text/plain" in o.data][-1].data
    assert last["text/plain"] == explorer.summary() and "showing rollout from patch (1, 1)" in explorer.summary()
    assert last["text/html"].count("<img src='data:image/png;base64,") == 1 and "<script" not in last["text/html"]


def test_bad_input_is_a_clear_value_error(vit_and_image):
    vit, image = vit_and_image
    with pytest.raises(ValueError, match=r"shape \(8, 8, 1\) but the model is a GPT.*needs an nbmodels.models.ViT"):
        AttentionExplorer(GPT(GPTConfig.preset("tiny")), image)
    with pytest.raises(ValueError, match=r"image is shape \(6, 6\); the model takes images .* = \(8, 8, 1\)"):
        AttentionExplorer(vit, np.zeros((6, 6)))
    with pytest.raises(ValueError, match="batch of 2; the explorer shows one image"):
        AttentionExplorer(vit, np.stack([image, image]))
    with pytest.raises(ValueError, match="image is a str"):
        AttentionExplorer(vit, "a picture of a cat")


@pytest.mark.parametrize("module", ["attention", "_attention", "_overlay"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"nbmodels.dashboards.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_text_overview_click_selects_the_clicked_head():
    # plotly calls every trace's click handlers, only the clicked one with points: the head
    # clicked is selected, not the last one whose handler ran.
    explorer = AttentionExplorer(GPT(GPTConfig.preset("tiny")), np.array([1, 2, 3]))
    click(explorer.charts[1].figure, 1, row=0, col=0)
    assert (explorer.selection["layer"], explorer.selection["head"]) == (0, 1)
