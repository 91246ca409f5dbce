"""GradCAMView: draws nbmodels.inspect.grad_cam's maps over the images (image, class, layer and opacity
selectable), on every ConvNet size, Keras convnets and a nested backbone; snapshot, display mode, bad input."""

import doctest
import importlib

import keras
import numpy as np
import pytest
from IPython.utils.capture import capture_output

from nbmodels import TrainConfig, data, train
from nbmodels.dashboards import GradCAMView
from nbmodels.inspect import grad_cam
from nbmodels.models import ConvNet, ConvNetConfig, ViT, ViTConfig

PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def marker():
    # 8x8 noise with a 2x2 marker deciding one of 3 classes: a convnet learns it in a few seconds.
    return data.load("marker", n=600, image_size=8, patch_size=2, num_classes=3, seed=0)


@pytest.fixture(scope="module")
def convnet(marker):
    config = ConvNetConfig.preset("tiny", num_classes=3)
    run = train(lambda: ConvNet(config), marker,
                TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3, seed=0), verbose=False)
    assert run.status == "finished", run.message
    return run.model


def shown_map(view):
    return np.asarray(next(t for t in view.charts[0].figure.data if t.name == "Grad-CAM").z)


def test_the_overlay_is_inspects_grad_cam_for_the_chosen_image_class_and_layer(convnet, marker, runs_root):
    x, y = marker.validation
    view = GradCAMView(convnet, x[:3], labels=y[:3], class_names=["ring", "bar", "dot"])
    predicted = np.argmax(np.asarray(convnet(x[:3])), axis=1)
    expected = grad_cam(convnet, x[0])[0]  # the predicted class, the last conv layer
    np.testing.assert_allclose(shown_map(view), expected, atol=1e-6)
    assert view.selection["class_index"] == predicted[0] and view.selection["layer"] == "stage_1_conv"
    row, col = np.unravel_index(np.argmax(expected), expected.shape)
    assert view.summary().endswith(f"layer stage_1_conv; peak at ({row}, {col})")
    assert view.summary().startswith(f"GradCAMView: image 0 of 3 (label {y[0]} ")
    assert [value for _, value in view._class.options][0] == predicted[0]  # most probable first, with p=
    assert "(p=" in view._class.options[0][0] and "top predictions" in view._top.value

    other = int((predicted[0] + 1) % 3)
    view._class.value = other
    np.testing.assert_allclose(shown_map(view), grad_cam(convnet, x[0], class_index=other)[0], atol=1e-6)
    view._layer.value = "stage_0_conv"
    np.testing.assert_allclose(shown_map(view), grad_cam(convnet, x[0], other, layer="stage_0_conv")[0], atol=1e-6)
    view._image.value = 2  # a new image explains its own predicted class
    assert view.selection["class_index"] == predicted[2]
    np.testing.assert_allclose(shown_map(view), grad_cam(convnet, x[2], layer="stage_0_conv")[0], atol=1e-6)
    view._opacity.value = 0.8
    assert view.charts[0].figure.data[0].opacity == 0.8
    images = view.charts[0].figure.layout.images
    assert len(images) == 2 and images[1].xref == "x2" and images[0].source.startswith("data:image/png;base64,")


def test_snapshot_summary_and_display_mode(convnet, marker, ipython):
    x, _ = marker.validation
    view = GradCAMView(convnet, x[0], mode="display")  # one image (H, W, C)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == view.summary() and view.summary().startswith("GradCAMView: image 0, class ")
    html = bundle["text/html"]
    assert html.count("<img src='data:image/png;base64,") == 2 and "<script" not in html
    assert view._image.layout.display == "none"  # nothing to choose among
    with capture_output() as shown:
        view._ipython_display_()
        view.select(layer="stage_0_conv")
    figures = [o for o in shown.outputs if PLOTLY in o.data]
    assert figures and not figures[0].update and figures[-1].update
    assert any(o.update and o.data.get("text/plain") == view.summary() for o in shown.outputs)  # the last state


@pytest.mark.parametrize("build, shape, layers", [
    (lambda: ConvNet(ConvNetConfig.preset("mnist")), (28, 28, 1), 2),  # keras.io's convnet
    (lambda: ConvNet(ConvNetConfig.preset("resnet_small")), (32, 32, 3), 15),
    (lambda: keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                               keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5, activation="softmax")]),
     (12, 12, 3), 1),
])
def test_every_convnet_grad_cam_supports(build, shape, layers):
    model = build()
    images = np.random.default_rng(1).random((2, *shape)).astype("float32")
    view = GradCAMView(model, images)
    assert len(view.layers) == layers and view.selection["layer"] == view.layers[-1]
    np.testing.assert_allclose(shown_map(view), grad_cam(model, images[0])[0], atol=1e-6)
    np.testing.assert_allclose(view.probabilities.sum(axis=1), 1.0, atol=1e-5)  # softmax outputs kept, logits turned


def test_a_nested_transfer_backbone():
    transfer = pytest.importorskip("nbmodels.models.vision.transfer")
    model = transfer.TransferClassifier(transfer.TransferConfig.preset("tiny", input_shape=(16, 16, 3), num_classes=4))
    images = np.random.default_rng(2).random((2, 16, 16, 3)).astype("float32")
    view = GradCAMView(model, images)
    assert len(view.layers) > 5  # the backbone's layers, opened
    np.testing.assert_allclose(shown_map(view), grad_cam(model, images[0])[0], atol=1e-6)
    assert shown_map(view).shape == (16, 16)


def test_bad_input_is_a_clear_value_error(convnet):
    dense = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    image = np.zeros((8, 8, 1), "float32")
    with pytest.raises(ValueError, match="has none .for a ViT use AttentionExplorer"):
        GradCAMView(dense, image)
    with pytest.raises(ValueError, match="a convnet"):
        GradCAMView(ViT(ViTConfig.preset("tiny")), image)
    with pytest.raises(ValueError, match=r"images is shape \(2, 9, 9, 1\); the model takes images .* \(8, 8, 1\)"):
        GradCAMView(convnet, np.zeros((2, 9, 9, 1)))
    with pytest.raises(ValueError, match="GradCAMView.layer='classifier'.*stage_0_conv"):
        GradCAMView(convnet, image, layer="classifier")
    with pytest.raises(ValueError, match="labels"):
        GradCAMView(convnet, image, labels=[0, 1])
    with pytest.raises(ValueError, match="class_names"):
        GradCAMView(convnet, image, class_names=["a"])


@pytest.mark.parametrize("module", ["gradcam", "_overlay"])
def test_docstring_examples(module, runs_root):
    result = doctest.testmod(importlib.import_module(f"nbmodels.dashboards.{module}"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
