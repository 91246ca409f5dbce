"""TransferClassifier: keras.applications backbones with a new head, frozen the keras.io way —
resizing, grey to RGB and scaling, unfreezing without BatchNorm, a clear offline error, Grad-CAM."""

import doctest

import keras
import numpy as np
import pytest

from nbmodels.checks import ConfigError
from nbmodels.data import DownloadError
from nbmodels.inspect import grad_cam
from nbmodels.models import TRANSFER_SIZES, TransferClassifier, TransferConfig
from nbmodels.models.vision import transfer as transfer_module

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def tiny(**overrides):
    return TransferConfig.preset("tiny", **{"input_shape": (8, 8, 1), **overrides})


def images(shape=(8, 8, 1), batch=2, seed=0):
    return np.random.default_rng(seed).random((batch, *shape)).astype("float32")


def test_saves_loads_and_keeps_float32_logits_under_mixed_precision(tmp_path):
    # tests/harness.py's check_model would also compile an XLA step: a minute for a MobileNetV3
    # on a CPU. The checks that matter here, without it:
    model = TransferClassifier(tiny())
    model.unfreeze(10)
    path = tmp_path / "transfer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, TransferClassifier) and restored.config == model.config and restored.unfrozen == 10
    np.testing.assert_allclose(restored(images()), model(images()), atol=1e-5)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = TransferClassifier(tiny())
    finally:
        keras.config.set_dtype_policy("float32")
    assert mixed.backbone.layers[2].compute_dtype == "bfloat16" and mixed(images()).dtype == "float32"


@pytest.mark.parametrize("size", [s for s in TRANSFER_SIZES if s != "tiny"])
def test_each_backbone_counts_exactly_and_gets_its_input_range(size):
    config = TransferConfig.preset(size, input_shape=(20, 12, 3), num_classes=5)
    model = TransferClassifier(config)
    assert model.count_params() == config.parameter_count()
    assert model(images((20, 12, 3))).shape == (2, 5)
    low, high = (float(keras.ops.convert_to_numpy(model.rescale(np.full((1, 1, 1, 3), v, "float32"))).max())
                 for v in (0.0, 1.0))
    # Datasets deliver [0, 1]: ResNet50V2 takes [-1, 1]; MobileNetV3 and EfficientNetV2 rescale [0, 255] themselves.
    assert (low, high) == ((-1.0, 1.0) if size == "resnet50_v2" else (0.0, 255.0))


def test_grey_images_are_the_backbone_s_rgb_images_repeated():
    grey, rgb = TransferClassifier(tiny()), TransferClassifier(tiny(input_shape=(8, 8, 3)))
    rgb.set_weights(grey.get_weights())
    x = images()
    np.testing.assert_allclose(grey(x), rgb(np.repeat(x, 3, axis=-1)), atol=1e-5)
    four = TransferClassifier(tiny(input_shape=(8, 8, 4)))  # RGBA: mixed into 3 by a learned 1x1 convolution
    assert four(images((8, 8, 4))).shape == (2, 10) and four.count_params() == four.config.parameter_count()


def test_wrong_image_shape_is_the_vision_models_clear_error():
    model = TransferClassifier(tiny())
    with pytest.raises(ValueError, match=r"takes images of shape .* \(None, 8, 8, 1\); got shape \(2, 8, 8, 3\): "
                                         r"it has 3 channels where 1 were configured"):
        model(images((8, 8, 3)))


def test_frozen_backbone_trains_only_the_head_and_batchnorm_never_moves():
    model = TransferClassifier(tiny(train_batchnorm=False))  # pretrained weights' setting (keras.io)
    assert [v.path for v in model.trainable_variables] == ["transfer_classifier/classifier/kernel",
                                                           "transfer_classifier/classifier/bias"]
    model.unfreeze(None)
    norms = [layer for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    statistics = [np.array(v) for layer in norms for v in layer.non_trainable_variables]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSS, jit_compile=False)
    # fit calls the model with training=True: the backbone's BatchNorm stays in inference mode.
    model.fit(images(batch=8), np.arange(8) % 10, batch_size=4, verbose=0)
    after = [np.array(v) for layer in norms for v in layer.non_trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(statistics, after))


def test_unfreeze_top_makes_only_the_top_layers_trainable():
    model = TransferClassifier(tiny(train_batchnorm=False))
    model.unfreeze(10)
    layers = model.backbone.layers[1:]
    trainable = [layer.name for layer in layers if layer.trainable and layer.weights]
    assert trainable and all(layer in [lay.name for lay in layers[-10:]] for layer in trainable)
    assert "conv_1" in trainable and "conv_1_bn" not in trainable
    with pytest.raises(ConfigError, match=r"TransferClassifier.unfreeze=0 is not allowed: .* from 1 to 104"):
        model.unfreeze(0)
    # A saved model being fine-tuned loads with the same layers trainable.
    again = TransferClassifier.from_config(model.get_config())
    assert again.unfrozen == 10 and len(again.trainable_weights) == len(model.trainable_weights)


def test_configs_that_do_not_fit_name_the_field():
    with pytest.raises(ConfigError, match=r"TransferConfig.image_size=16 is not allowed: .* >= 32"):
        tiny(image_size=16)
    with pytest.raises(ConfigError, match=r"TransferConfig.backbone='vgg16' is not allowed: choose one of"):
        TransferConfig(backbone="vgg16")
    with pytest.raises(ConfigError, match=r"TransferConfig.alpha=0.5 is not allowed: only MobileNetV3"):
        TransferConfig(backbone="resnet50_v2", alpha=0.5)
    with pytest.raises(ConfigError, match=r"TransferConfig.weights='imagnet' is not allowed: choose None"):
        TransferConfig(weights="imagnet")


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined")  # keras.applications: 224 is its size
def test_imagenet_weights_offline_fail_clearly_and_name_the_offline_choice(tmp_path, monkeypatch):
    # A fresh Keras cache, so the download is really tried; this machine (like CI) has no
    # internet, and the socket timeout keeps a silent network from hanging the test.
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(transfer_module, "DOWNLOAD_TIMEOUT", 5.0)
    try:
        TransferClassifier(TransferConfig(input_shape=(8, 8, 1), weights="imagenet"))
    except DownloadError as error:
        message = str(error)
    else:
        pytest.skip("the ImageNet weights downloaded: this machine is online")
    assert "Could not download the ImageNet weights of MobileNetV3Small" in message
    assert "pass weights=None to train the backbone from scratch offline" in message


def test_grad_cam_finds_the_last_conv_in_the_nested_backbone():
    model = TransferClassifier(tiny())
    maps = grad_cam(model, images(batch=3))  # default layer: the backbone's last convolution
    assert maps.shape == (3, 8, 8) and maps.dtype == np.float32
    assert 0.0 <= maps.min() and maps.max() <= 1.0


def test_doctests():
    assert doctest.testmod(transfer_module, optionflags=doctest.ELLIPSIS).failed == 0


def test_an_untrained_backbone_trains_its_batchnorm_from_the_start():
    """With its initial statistics a random MobileNetV3's features vanish (~1e-11: nothing learns),
    so without pretrained weights its BatchNorm layers train, also while the convolutions are frozen."""
    config = TransferConfig(input_shape=(8, 8, 1), num_classes=3)
    assert config.weights is None and config.trains_batchnorm
    assert not TransferConfig(input_shape=(8, 8, 1), num_classes=3, train_batchnorm=False).trains_batchnorm
    model = TransferClassifier(config)
    trainable = {v.path.split("/")[-1] for v in model.trainable_variables}
    assert trainable == {"kernel", "bias", "gamma", "beta"}  # the head and the BatchNorm scales and shifts
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.trainable for layer in model.backbone.layers)
    x = images(batch=8)
    frozen_norms = TransferClassifier(TransferConfig(input_shape=(8, 8, 1), num_classes=3, train_batchnorm=False))
    prepared = model.rescale(model.resize(np.repeat(x, 3, axis=-1)))
    assert np.abs(np.asarray(frozen_norms.backbone(prepared, training=False))).max() < 1e-6  # dead features
    assert np.asarray(model.backbone(prepared, training=True)).std(axis=0).mean() > 0.1  # normalized: alive
    norms = [layer for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [np.array(layer.moving_mean) for layer in norms]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS, jit_compile=False)
    model.fit(x, np.arange(8) % 3, batch_size=4, verbose=0)
    assert any(not np.array_equal(b, np.array(layer.moving_mean)) for b, layer in zip(before, norms))
    model.unfreeze(5)
    assert all(layer.trainable for layer in norms)  # unfreezing keeps them training
    top = [layer for layer in model.backbone.layers[-5:] if layer.weights]
    assert top and all(layer.trainable for layer in top)  # and the top layers train too (once did not)
    below = [layer for layer in model.backbone.layers[1:-5]
             if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)]
    assert not any(layer.trainable for layer in below)


def test_grad_cam_skips_a_last_layer_of_one_pixel():
    """At 32 px MobileNetV3's last convolution is 1x1: a map without a where. The default layer is
    the last one whose map has more than one pixel, in the model and in the GradCAMView."""
    from nbmodels.dashboards import GradCAMView
    from nbmodels.inspect import conv_layers, grad_cam_layer

    model = TransferClassifier(TransferConfig.preset("tiny", input_shape=(32, 32, 3), num_classes=3))
    last = conv_layers(model)[-1]
    assert last.output.shape[1:3] == (1, 1)
    chosen = model.backbone.get_layer(grad_cam_layer(model))
    assert chosen.output.shape[1] * chosen.output.shape[2] > 1
    maps = grad_cam(model, images((32, 32, 3), batch=2))
    np.testing.assert_allclose(maps, grad_cam(model, images((32, 32, 3), batch=2), layer=chosen.name))
    assert GradCAMView(model, images((32, 32, 3), batch=2), mode="display").selection["layer"] == chosen.name
