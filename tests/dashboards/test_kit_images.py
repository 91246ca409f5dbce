"""The views' image kit: PNGs a real decoder reads back exactly, heat overlays, enlargement."""

import doctest

import numpy as np
import pytest

from nbmodels.dashboards._kit import images


def test_docstring_examples():
    result = doctest.testmod(images, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 3), (1, 1, 3)])
def test_png_decodes_to_the_same_pixels(shape):
    import tensorflow as tf

    pixels = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    decoded = tf.io.decode_png(images.png(pixels)).numpy()
    assert decoded.shape == (*shape[:2], 3)
    assert (decoded == images.as_rgb(pixels)).all()
    assert (decoded[..., 0] == pixels.reshape(shape[:2] + (-1,))[..., 0]).all()


def test_floats_scale_from_unit_range_or_their_own_range():
    assert images.as_rgb(np.array([[0.0, 1.0]]))[0, :, 0].tolist() == [0, 255]
    assert images.as_rgb(np.array([[0.0, 16.0]]))[0, :, 0].tolist() == [0, 255]  # digits' 0..16
    assert images.as_rgb(np.array([[8.0]]), value_range=(0, 16))[0, 0, 0] == 128


def test_overlay_colours_the_hot_cell_of_a_coarse_map():
    image = np.zeros((8, 8))
    heat = np.zeros((2, 2))
    heat[1, 0] = 1.0  # bottom-left quarter
    blended = images.overlay(image, heat, alpha=1.0)
    assert blended[4:, :4].mean() > blended[:4, 4:].mean()
    assert (blended[4:, :4] == blended[7, 0]).all()  # one colour over the whole cell


def test_wrong_shapes_name_the_shape():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\)"):
        images.as_rgb(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="heat map"):
        images.overlay(np.zeros((4, 4)), np.zeros((4,)))
