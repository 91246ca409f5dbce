"""DatasetPreview: a seeded draw of images with their classes, raw next to augmented (training
mode, reproducible), from arrays of any image layout and from a lazily read image folder."""

import doctest
import importlib.util
import re

import keras
import numpy as np
import pytest

import nbmodels.dashboards.preview as preview_module
from nbmodels import data
from nbmodels.dashboards import DatasetPreview, _gallery


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")  # flat (N, 64) rows in 0..1, as digits loads by default


def shown_rows(preview):
    return [int(i) for i in re.findall(r"title='row (\d+)'", preview._grid.value)]


def test_a_seeded_draw_of_images_with_their_class_names(digits):
    preview = DatasetPreview(digits, count=12, seed=3)
    x, y = digits.train
    assert preview.images.shape == (12, 8, 8, 1) and len(set(preview.indices)) == 12
    assert shown_rows(preview) == list(preview.indices)
    np.testing.assert_array_equal(preview.images, x[preview.indices].reshape(12, 8, 8, 1))
    for index in preview.indices:  # each image, sharp and on digits' own 0..1 scale, with its class
        image = _gallery.image_tag(x[index].reshape(8, 8, 1), (0.0, 1.0), title=f"row {index}")
        assert image in preview._grid.value
        assert f"<b>{y[index]}</b> #{index}" in preview._grid.value
    again = DatasetPreview(digits, count=12, seed=3)
    assert list(again.indices) == list(preview.indices)  # reproducible
    preview._button.click()
    assert preview.draw == 1 and list(preview.indices) != list(again.indices)
    assert preview.summary() == "DatasetPreview: 12 of 1438 train images (8x8, grey), 10 classes; draw 1, seed 3"


def test_augmented_next_to_raw_in_training_mode_and_reproducible(digits):
    flip = keras.layers.RandomFlip("horizontal")
    preview = DatasetPreview(digits, flip, count=16)
    raw, flipped = preview.images, preview.augmented
    mirrored = [np.array_equal(a, r[:, ::-1]) for a, r in zip(flipped, raw)]
    unchanged = [np.array_equal(a, r) for a, r in zip(flipped, raw)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 0 < sum(m and not u for m, u in zip(mirrored, unchanged)) < 16  # training mode: some flipped, not all
    assert preview._grid.value.count("<img") == 32 and "raw | augmented" in preview._grid.value
    again = DatasetPreview(digits, keras.layers.RandomFlip("horizontal"), count=16)
    np.testing.assert_array_equal(again.augmented, flipped)  # the same draw, the same transforms
    assert not flip.built  # the user's stack is left alone: the preview works on its own copy
    assert preview.summary().endswith("augmented by RandomFlip; draw 0, seed 0")


@pytest.mark.parametrize("shape, scale", [((20, 6, 5), 255.0), ((20, 6, 5, 3), 1.0), ((20, 6, 5, 1), 1.0)])
def test_grey_and_colour_arrays_on_their_own_scale(shape, scale):
    rng = np.random.default_rng(0)
    images = (rng.uniform(size=shape) * scale).astype("float32")
    preview = DatasetPreview(images, count=4)
    assert preview.images.shape[1:3] == (6, 5) and preview._grid.value.count("<img") == 4
    first = preview.indices[0]
    expected = images[first] if images.ndim == 4 else images[first][..., None]
    assert _gallery.image_tag(expected, (0.0, scale), title=f"row {first}") in preview._grid.value
    assert ("RGB" if shape[-1] == 3 else "grey") in preview.summary()


def test_a_lazy_image_folder_reads_only_the_drawn_images(tmp_path):
    import tensorflow as tf

    for name, shade in [("dark", 30), ("light", 220)]:
        (tmp_path / name).mkdir()
        for i in range(10):
            pixels = np.full((5, 7, 3), shade, "uint8")
            pixels[i % 5, :, 0] = 255  # a red stripe
            tf.io.write_file(str(tmp_path / name / f"{i}.png"), tf.io.encode_png(pixels))
    reads = []
    folder = data.load("image_folder", path=tmp_path, reader=lambda file: reads.append(file) or tf.io.read_file(file))
    preview = DatasetPreview(folder, count=4, split="validation")
    assert preview.images.shape == (4, 5, 7, 3) and len(reads) <= 4 + 1  # + the first image, for the shapes
    names = re.findall(r"<b>(dark|light)</b>", preview._grid.value)
    files = folder.extras["validation_files"]
    assert names == [files[i].split("/")[-2] for i in preview.indices]


def test_snapshot_summary_and_bad_input(digits):
    preview = DatasetPreview(digits, count=3)
    bundle = preview._repr_mimebundle_()
    assert bundle["text/html"].count("<img src='data:image/png;base64,") == 3 and "<script" not in bundle["text/html"]
    assert bundle["text/plain"] == preview.summary()
    with pytest.raises(ValueError, match="images shaped"):
        DatasetPreview((np.zeros((10, 12), "int32"), np.zeros(10, "int32")))  # token ids
    with pytest.raises(ValueError, match="no validation split"):
        DatasetPreview(data.Dataset(task="classification", train=digits.train, num_classes=10), split="validation")
    with pytest.raises(ValueError, match="Keras layer stack"):
        DatasetPreview(digits, augment=lambda x: x)
    with pytest.raises(ValueError, match="count"):
        DatasetPreview(digits, count=0)
    if importlib.util.find_spec("nbmodels.data.images.augmentation") is None:
        with pytest.raises(ValueError, match="no augmentation presets"):
            DatasetPreview(digits, augment="shapes")
    with pytest.raises(ValueError, match="mix labels"):  # MixUp without labels to mix
        DatasetPreview(digits.train[0], keras.layers.MixUp())


@pytest.mark.skipif(importlib.util.find_spec("nbmodels.data.images.augmentation") is None,
                    reason="no augmentation presets in this tree")
def test_presets_by_name_and_label_mixing_stacks(digits):
    preview = DatasetPreview(digits, "shapes", count=6)
    assert preview.augmented.shape == preview.images.shape and not np.array_equal(preview.augmented, preview.images)
    assert "augmented by preset 'shapes': RandomRotation, RandomTranslation" in preview.summary()
    mixed = DatasetPreview(digits, "mixup", count=6)
    soft = mixed.mixed_labels  # (6, 10): what the model trains on, shown under each pair
    assert soft.shape == (6, 10) and np.allclose(soft.sum(axis=1), 1.0, atol=1e-5)
    assert "<br>→ " in mixed._grid.value
    assert DatasetPreview(digits, "none", count=2).augmented is None


def test_docstring_examples():
    result = doctest.testmod(preview_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
