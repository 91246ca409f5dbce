"""Augmentation presets: each keeps the images' shape, dtype and [0, 1] range, runs in training
only, and an unknown name is a clear error."""

import doctest

import keras
import numpy as np
import pytest

from nbmodels.checks import ConfigError
from nbmodels.data.images import augmentation as augmentation_module
from nbmodels.data.images.augmentation import LABEL_MIXING_PRESETS, PRESETS, augmentation
from nbmodels.training.augment import mixes_labels

SHAPES = [(8, 8, 1), (16, 16, 3), (8, 8)]  # grey, colour, grey without a channel axis


def images(shape, batch=6):
    return np.random.default_rng(0).random((batch, *shape)).astype("float32")


def run_stack(stack, x, num_classes=4, training=True):
    if not mixes_labels(stack):
        return stack(x, training=training), None
    from nbmodels.training.augment import _apply  # the train step's way through a label-mixing stack

    labels = keras.ops.one_hot(np.arange(len(x)) % num_classes, num_classes)
    return _apply(stack, x, labels, training=training)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("preset", [name for name in PRESETS if name != "none"])
def test_every_preset_keeps_shape_dtype_and_value_range(preset, shape):
    stack = augmentation(preset, image_shape=shape, num_classes=4, seed=1)
    x = images(shape)
    out, labels = run_stack(stack, x)
    out = np.asarray(out)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6  # value_range (0, 1), what the datasets deliver
    assert not np.allclose(out, x)  # it did something
    assert mixes_labels(stack) == (preset in LABEL_MIXING_PRESETS)
    if labels is not None:  # soft labels: still a distribution over the classes
        np.testing.assert_allclose(np.asarray(labels).sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("preset", ["shapes", "natural", "randaugment"])
def test_outside_training_the_images_pass_unchanged(preset):
    x = images((8, 8, 1))
    out, _ = run_stack(augmentation(preset, image_shape=(8, 8, 1), num_classes=4), x, training=False)
    np.testing.assert_allclose(np.asarray(out), x, atol=1e-6)


def test_shapes_never_flips_and_none_is_no_stack():
    # A flipped digit is another digit (or none): the "shapes" preset only rotates, zooms, shifts.
    stack = augmentation("shapes", image_shape=(28, 28, 1), num_classes=10)
    assert not any(isinstance(layer, keras.layers.RandomFlip) for layer in stack.layers)
    assert augmentation("none", image_shape=(28, 28, 1), num_classes=10) is None


def test_an_unknown_preset_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"augmentation.preset='flips' is not allowed: choose one of 'none', "
                                          r"'shapes', 'natural', 'randaugment', 'mixup', 'cutmix'"):
        augmentation("flips", image_shape=(8, 8, 1), num_classes=10)


def test_docstring_examples():
    result = doctest.testmod(augmentation_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
