"""ViT: the model checks, ViT-B/16's exact parameter count, readable attention (rows sum to 1,
the fused path gives the same logits), clear errors for patch sizes and image shapes, and ≥ 95%
on digits."""

import doctest

import keras
import numpy as np
import pytest

from nbmodels.checks import ConfigError
from nbmodels.models import VIT_SIZES, ViT, ViTConfig
from nbmodels.models.vision import vit as vit_module
from tests.harness import check_model
from tests.models.vision.digits import digits_validation_accuracy

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def images(batch=2, size=8, channels=1, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, channels)).astype("float32")


def test_passes_the_model_checks():
    config = ViTConfig.preset("tiny")
    checked = check_model(lambda: ViT(config), images(), np.array([3, 9], "int32"), loss=LOSS,
                          expected_output_shape=(2, 10), atol=1e-5)
    assert isinstance(checked.restored, ViT) and checked.restored.config == config
    assert checked.mixed_precision_model.blocks[0].compute_dtype == "bfloat16"


def test_attention_rows_sum_to_one_and_the_fused_path_gives_the_same_logits():
    keras.utils.set_random_seed(0)
    model = ViT(ViTConfig.preset("tiny", num_layers=3))
    x = images(batch=3)
    logits, scores = model(x, return_attention_scores=True)
    assert tuple(scores.shape) == (3, 3, 2, 17, 17)  # (L, B, heads, T, T), T = 16 patches + the class token
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(scores).sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(logits), atol=1e-5)
    np.testing.assert_allclose(np.asarray(model.attention_scores(x)), np.asarray(scores), atol=1e-6)


@pytest.mark.parametrize("size", list(VIT_SIZES))
def test_parameter_count_is_exact(size):
    config = ViTConfig.preset(size)
    assert ViT(config).count_params() == config.parameter_count()  # vit_b16 builds in about 1 s here


def test_vit_b16_has_the_published_parameter_count():
    # ViT-B/16 with ImageNet-1k's 1000-class head (timm's vit_base_patch16_224: 86,567,656).
    config = ViTConfig.preset("vit_b16")
    assert (config.num_patches, config.intermediate_dim) == (196, 3072)
    assert config.parameter_count() == 86_567_656


@pytest.mark.parametrize("patch_size, allowed", [(3, "it must divide image_size=8 (8 / 3 leaves a strip of 2 pixels)"),
                                                 (0, "it must be a whole number >= 1")])
def test_a_patch_size_that_does_not_divide_the_image_is_a_clear_error(patch_size, allowed):
    with pytest.raises(ConfigError) as error:
        ViTConfig.preset("tiny", patch_size=patch_size)
    assert (error.value.field, error.value.value) == ("patch_size", patch_size)
    assert f"ViTConfig.patch_size={patch_size} is not allowed: {allowed}" in str(error.value)


@pytest.mark.parametrize("shape, hint", [((2, 8, 8, 3), "it has 3 channels where 1 were configured"),
                                         ((2, 16, 16, 1), "resize the images")])
def test_images_of_another_shape_are_a_clear_error(shape, hint):
    model = ViT(ViTConfig.preset("tiny"))
    with pytest.raises(ValueError, match=rf"vit \(ViT\) takes images of shape .* = \(None, 8, 8, 1\); got shape "
                                         rf"{repr(shape).replace('(', '[(]').replace(')', '[)]')}: {hint}"):
        model(np.zeros(shape, "float32"))


def test_learns_digits_to_95_percent(runs_root):
    # The "digits" size (patch 2, 2 layers, 64 wide). Over seeds 0-2 it reached 96.9-97.8% in
    # 20 epochs (about 20 s here).
    accuracy = digits_validation_accuracy(lambda: ViT(ViTConfig.preset("digits")), epochs=20)
    assert accuracy >= 0.95, f"validation accuracy {accuracy:.3f}"


def test_docstring_examples():
    result = doctest.testmod(vit_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_grayscale_vit_takes_images_without_their_channel_axis():
    model = ViT(ViTConfig.preset("tiny"))
    x = images()
    np.testing.assert_allclose(model.predict(x[..., 0], verbose=0), model.predict(x, verbose=0), atol=1e-6)
    _, scores = model(x[..., 0], return_attention_scores=True)
    assert tuple(scores.shape) == (2, 2, 2, 17, 17)
