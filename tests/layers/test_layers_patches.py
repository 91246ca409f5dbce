"""PatchEmbedding: the standard layer checks, patches in row order, and a clear patch-size error."""

import numpy as np
import pytest

from nbmodels.checks import ConfigError
from nbmodels.layers import PatchEmbedding
from tests.harness import check_layer


def test_passes_the_layer_checks():
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    check_layer(lambda: PatchEmbedding(image_size=8, patch_size=4, hidden_dim=6), images, (2, 5, 6), atol=1e-5)


def test_each_patch_is_embedded_from_its_own_pixels_in_row_order():
    layer = PatchEmbedding(image_size=4, patch_size=2, hidden_dim=3)
    images = np.zeros((1, 4, 4, 1), "float32")
    base = np.asarray(layer(images))[0]  # (T, C): the class token and positions, patches of zeros
    images[0, 0:2, 2:4] = 1.0  # the top-right patch: index 1 in row order, 2 counting the class token
    changed = np.abs(np.asarray(layer(images))[0] - base).sum(axis=-1)
    assert np.flatnonzero(changed > 1e-6).tolist() == [2]


@pytest.mark.parametrize("patch_size, allowed", [
    (3, "it must divide image_size=8 (8 / 3 leaves a strip of 2 pixels); try 1, 2, 4 or 8"),
    (16, "it must divide image_size=8; a patch cannot be larger than the image"),
])
def test_a_patch_size_that_does_not_divide_the_image_is_a_clear_error(patch_size, allowed):
    with pytest.raises(ConfigError) as error:
        PatchEmbedding(image_size=8, patch_size=patch_size, hidden_dim=4)
    assert (error.value.field, error.value.value) == ("patch_size", patch_size)
    assert f"PatchEmbedding.patch_size={patch_size} is not allowed: {allowed}" in str(error.value)


def test_images_of_another_size_are_a_clear_error():
    with pytest.raises(ValueError, match=r"takes images \(batch, 8, 8, channels\); got shape \(2, 6, 6, 1\)"):
        PatchEmbedding(image_size=8, patch_size=2, hidden_dim=4)(np.zeros((2, 6, 6, 1), "float32"))
