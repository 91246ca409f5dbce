"""Image datasets: the generated "marker" set (ground truth agrees with the pixels), the lazy
image-folder loader (reads only the rows asked for, trains end to end), and `as_images`."""

import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbmodels import TrainConfig, data, train
from nbmodels.checks import ConfigError
from nbmodels.data.images.folder import read_file
from nbmodels.data.images.marker import marker_patterns

# ---- marker ----------------------------------------------------------------------------------


def test_marker_is_deterministic_with_its_seed_and_its_patterns_do_not_depend_on_it():
    first, again = data.load("marker", n=60, seed=3), data.load("marker", n=60, seed=3)
    other = data.load("marker", n=60, seed=4)
    for a, b in zip([*first.train, *first.validation], [*again.train, *again.validation]):
        np.testing.assert_array_equal(a, b)
    for key, value in first.ground_truth.items():
        np.testing.assert_array_equal(value, again.ground_truth[key])
    assert not np.array_equal(first.train[0], other.train[0])
    np.testing.assert_array_equal(first.ground_truth["patterns"], other.ground_truth["patterns"])
    assert (first.name, first.source, first.task, first.input_shape) == ("marker", "generated", "classification",
                                                                         (16, 16, 1))


@pytest.mark.parametrize("options", [{}, {"image_size": 12, "patch_size": 3, "num_classes": 5, "channels": 3,
                                          "noise": 0.9, "n": 50, "validation_split": 0.3}])
def test_marker_ground_truth_is_where_the_pixels_say(options):
    ds = data.load("marker", **options)
    truth = ds.ground_truth
    p, grid = truth["patch_size"], truth["grid_size"]
    assert grid * p == ds.input_shape[0] == ds.input_shape[1]
    assert truth["patterns"].shape == (ds.num_classes, p, p)
    for (x, y), prefix in [(ds.train, ""), (ds.validation, "validation_")]:
        boxes, patches = truth[f"{prefix}marker_boxes"], truth[f"{prefix}marker_patches"]
        assert x.dtype == np.float32 and y.dtype == np.int32 and len(boxes) == len(patches) == len(x)
        assert x.min() >= 0.0 and x.max() == 1.0
        bright = np.all(x == 1.0, axis=-1)  # (N, S, S): marker pixels are 1.0 in every channel
        for image_bright, label, (top, left, bottom, right), patch in zip(bright, y, boxes, patches):
            assert (bottom - top, right - left) == (p, p)
            assert (top // p) * grid + left // p == patch and top % p == left % p == 0  # aligned to the grid
            np.testing.assert_array_equal(image_bright[top:bottom, left:right], truth["patterns"][label])
            image_bright[top:bottom, left:right] = False
            assert not image_bright.any()  # nothing outside the marker reaches 1.0
    labels = np.concatenate([ds.train[1], ds.validation[1]])
    assert np.bincount(labels).tolist() == [len(labels) // ds.num_classes + (c < len(labels) % ds.num_classes)
                                            for c in range(ds.num_classes)]  # balanced


def test_marker_patterns_are_distinct_bright_and_stable_as_classes_are_added():
    patterns = marker_patterns(4, 6)
    flat = patterns.reshape(6, -1)
    assert (flat.sum(axis=1) >= 8).all()  # at least half of each pattern is on
    distances = (flat[:, None] != flat[None]).sum(-1)
    assert distances[~np.eye(6, dtype=bool)].min() >= 4  # any two differ in a quarter of the pixels
    np.testing.assert_array_equal(marker_patterns(4, 3), patterns[:3])


@pytest.mark.parametrize(
    "options, field, fragment",
    [
        ({"image_size": 18, "patch_size": 4}, "image_size", "multiple of patch_size=4, e.g. 16"),
        ({"image_size": 4, "patch_size": 4}, "image_size", "at least two patches"),
        ({"patch_size": 1, "num_classes": 2}, "num_classes", "holds 1 distinct marker patterns"),
        ({"patch_size": 0}, "patch_size", ">= 1"),
        ({"num_classes": 1}, "num_classes", ">= 2"),
        ({"channels": 0}, "channels", ">= 1"),
        ({"noise": 1.0}, "noise", "below it"),
        ({"noise": -0.1}, "noise", ">= 0"),
        ({"n": 1}, "n", ">= 2"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"validation_split": 1.0}, "validation_split", "(0, 1)"),
        ({"n": 3, "validation_split": 0.1}, "validation_split", "empty validation set"),
    ],
)
def test_marker_bad_options_name_the_field_and_the_fix(options, field, fragment):
    with pytest.raises(ConfigError) as error:
        data.load("marker", **options)
    assert (error.value.owner, error.value.field) == ("load('marker')", field)
    assert fragment in str(error.value)


def test_loading_marker_does_not_import_tensorflow():
    script = "import sys, nbmodels.data as d\nd.load('marker')\nprint('tensorflow' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ---- image folder ----------------------------------------------------------------------------

CLASSES = ["cat", "dog", "owl"]  # sorted: class ids 0, 1, 2
PER_CLASS, HEIGHT, WIDTH = 4, 5, 7
# A 1x1 white GIF: TensorFlow decodes GIFs but cannot write them.
ONE_PIXEL_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
                 b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def shade(label, i):
    return 20 + 80 * label + 10 * i  # uint8 value of every pixel of image i of class `label`


def write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(pixels))


@pytest.fixture
def folder(tmp_path):
    """3 classes x 4 uniform RGB PNGs of 5x7, plus things that are not images."""
    root = tmp_path / "pets"
    for label, name in enumerate(CLASSES):
        for i in range(PER_CLASS):
            pixels = np.full((HEIGHT, WIDTH, 3), shade(label, i), "uint8")
            pixels[0, 0] = [255, 0, 0]  # one red pixel: the channels are kept apart
            write_png(root / name / f"{i}.png", pixels)
        (root / name / "notes.txt").write_text("not an image")
    write_png(root / ".ipynb_checkpoints" / "0.png", np.zeros((2, 2, 3), "uint8"))  # hidden: skipped
    return root


class CountingReader:
    """The default reader, recording which files it read."""

    def __init__(self):
        self.files, self.lock = [], threading.Lock()

    def __call__(self, file):
        with self.lock:
            self.files.append(file)
        return read_file(file)


def test_image_folder_labels_classes_by_sorted_subfolder_and_decodes_to_unit_floats(folder):
    ds = data.load("image_folder", path=folder, validation_split=0.25, seed=1)
    assert (ds.name, ds.source, ds.num_classes, ds.input_shape) == ("image_folder", "local", 3, (HEIGHT, WIDTH, 3))
    assert ds.extras["class_names"] == CLASSES and ds.extras["path"] == str(folder)
    assert isinstance(ds.train, data.LazySource) and isinstance(ds.validation, data.LazySource)
    assert (len(ds.train), len(ds.validation)) == (9, 3)
    files = ds.extras["files"] + ds.extras["validation_files"]
    assert sorted(files) == sorted(str(folder / c / f"{i}.png") for c in CLASSES for i in range(PER_CLASS))
    for source, names in [(ds.train, ds.extras["files"]), (ds.validation, ds.extras["validation_files"])]:
        images, labels = source.rows(np.arange(len(source)))
        assert images.dtype == np.float32 and labels.dtype == np.int32
        for image, label, file in zip(images, labels, names):
            class_name, index = file.split("/")[-2], int(file.split("/")[-1][0])
            assert label == CLASSES.index(class_name)
            np.testing.assert_allclose(image[1:, 1:], shade(label, index) / 255.0, atol=1e-6)
            np.testing.assert_allclose(image[0, 0], [1.0, 0.0, 0.0])
    # The same seed gives the same split; another seed another one.
    assert data.load("image_folder", path=folder, validation_split=0.25, seed=1).extras["files"] == ds.extras["files"]
    assert data.load("image_folder", path=folder, validation_split=0.25, seed=2).extras["files"] != ds.extras["files"]


def test_image_folder_reads_only_the_rows_asked_for(folder):
    reader = CountingReader()
    ds = data.image_folder(folder, reader=reader)  # a plain call works as well as data.load
    assert reader.files == [ds.extras["files"][0]]  # listing and splitting read nothing; shapes read row 0
    ds.train.rows([3, 5])
    assert reader.files[1:] == [ds.extras["files"][3], ds.extras["files"][5]]
    ds.validation.rows([1])
    assert reader.files[3:] == [ds.extras["validation_files"][1]]


def test_image_folder_resizes_and_converts_channels_on_request(folder):
    write_png(folder / "owl" / "gray.png", np.full((9, 3, 1), 255, "uint8"))  # another size, one channel
    (folder / "owl" / "dot.GIF").write_bytes(ONE_PIXEL_GIF)  # GIFs decode to RGB only
    write_png(folder / "dog" / "alpha.png", np.full((2, 2, 4), 128, "uint8"))  # RGBA
    ds = data.load("image_folder", path=folder, image_size=(4, 6), channels=1)
    assert ds.input_shape == (4, 6, 1)
    images, _ = ds.train.rows(np.arange(len(ds.train)))
    assert images.shape == (len(ds.train), 4, 6, 1) and 0.0 <= images.min() and images.max() <= 1.0
    square = data.load("image_folder", path=folder, image_size=3)
    assert square.input_shape == (3, 3, 3)  # the first image's channels; the gray one converts to RGB
    images, _ = square.train.rows(np.arange(len(square.train)))
    assert images.shape[1:] == (3, 3, 3)
    files = square.extras["files"]
    assert str(folder / "owl" / "dot.GIF") in files + square.extras["validation_files"]  # extensions in any case
    rgba = data.load("image_folder", path=folder, image_size=2, channels=4, validation_split=0.5)
    images = np.concatenate([split.rows(np.arange(len(split)))[0] for split in (rgba.train, rgba.validation)])
    alpha = images[..., 3].reshape(len(images), -1)  # (N, 4)
    stored = (rgba.extras["files"] + rgba.extras["validation_files"]).index(str(folder / "dog" / "alpha.png"))
    np.testing.assert_allclose(alpha[stored], 128 / 255, atol=1e-6)  # its own alpha kept
    assert (np.delete(alpha, stored, axis=0) == 1.0).all()  # the others made opaque


def test_image_folder_of_mixed_sizes_names_the_odd_file_and_the_fix(folder):
    odd = folder / "dog" / "big.png"
    write_png(odd, np.zeros((HEIGHT + 1, WIDTH, 3), "uint8"))
    ds = data.load("image_folder", path=folder)
    row = (ds.extras["files"] + ds.extras["validation_files"]).index(str(odd))
    source, row = (ds.train, row) if row < len(ds.train) else (ds.validation, row - len(ds.train))
    with pytest.raises(ValueError, match=rf"{odd} is 6x7 but the first image read .* pass image_size=\(5, 7\)"):
        source.rows([row])


def test_an_unreadable_image_is_named_when_its_row_is_read(folder):
    broken = folder / "cat" / "broken.png"
    broken.write_bytes(b"not a png")
    ds = data.load("image_folder", path=folder, validation_split=0.5)
    row = (ds.extras["files"] + ds.extras["validation_files"]).index(str(broken))
    source, row = (ds.train, row) if row < len(ds.train) else (ds.validation, row - len(ds.train))
    with pytest.raises(ValueError, match=f"could not read the image {broken}"):
        source.rows([row])


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda root: None, "there is no such folder"),
        (lambda root: root.write_text("x"), "it is a file, not a folder"),
        (lambda root: root.mkdir(), "holds no class subfolders of images"),
        (lambda root: write_png(root / "0.png", np.zeros((2, 2, 1), "uint8")),
         "its 1 images are not in class subfolders"),
        (lambda root: write_png(root / "cat" / "0.png", np.zeros((2, 2, 1), "uint8")),
         r"one class folder \('cat'\) and a classifier needs at least two; add a subfolder per class"),
        (lambda root: (write_png(root / "cat" / "0.png", np.zeros((2, 2, 1), "uint8")), (root / "dog").mkdir()),
         "the class folder .*dog holds no images"),
    ],
    ids=["missing", "a file", "empty", "no subfolders", "one class", "an empty class"],
)
def test_image_folder_bad_folders_name_the_path_and_the_fix(tmp_path, make, fragment):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(ConfigError, match=fragment) as error:
        data.load("image_folder", path=root)
    assert (error.value.owner, error.value.field) == ("load('image_folder')", "path")
    assert str(root) in str(error.value)


@pytest.mark.parametrize(
    "options, field",
    [({"image_size": 0}, "image_size"), ({"image_size": (4, "4")}, "image_size"), ({"channels": 2}, "channels"),
     ({"channels": 5}, "channels"), ({"validation_split": 0}, "validation_split"), ({"reader": "tf"}, "reader")],
)
def test_image_folder_bad_options_name_the_field(folder, options, field):
    with pytest.raises(ConfigError) as error:
        data.load("image_folder", path=folder, **options)
    assert error.value.field == field


def test_image_folder_without_a_path_says_how_to_pass_one():
    with pytest.raises(ValueError, match=r"load\('image_folder', path=\.\.\.\)"):
        data.load("image_folder")


def test_a_conv_model_trains_end_to_end_on_an_image_folder_read_through_its_reader(folder, runs_root):
    reader = CountingReader()
    ds = data.load("image_folder", path=folder, validation_split=0.25, reader=reader)

    def tiny_conv():
        return keras.Sequential([
            keras.Input(ds.input_shape),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(ds.num_classes),
        ])

    run = train(tiny_conv, ds, TrainConfig(steps=3, batch_size=4, seed=0), verbose=False)
    assert run.status == "finished", run.message
    assert run.step == 3 and np.isfinite(run.history[-1]["metrics"]["loss"])
    # The batches came through the reader: 3 steps of 4 rows at least, and validation's rows.
    assert set(reader.files) <= set(ds.extras["files"] + ds.extras["validation_files"])
    assert len(reader.files) >= 3 * 4 and set(ds.extras["validation_files"]) <= set(reader.files)


# ---- as_images -------------------------------------------------------------------------------


def test_as_images_adds_a_channel_axis_to_grayscale_and_refuses_flat_rows():
    assert data.as_images(np.zeros((2, 8, 8), "float32")).shape == (2, 8, 8, 1)
    rgb = np.zeros((2, 4, 4, 3), "float32")
    assert data.as_images(rgb) is rgb
    flat = r"got shape \(3, 64\) \(flattened rows\? e\.g\. load\('digits', flatten=False\)"
    with pytest.raises(ValueError, match=flat):
        data.as_images(np.zeros((3, 64)), name="digits x")
