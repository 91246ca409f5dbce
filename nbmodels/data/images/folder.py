"""Your own images from a folder, one subfolder per class, read lazily: only the images of the
batches being trained are read and decoded, so a folder far larger than memory trains, and
resumes exactly (rows are addressed by index; see `nbmodels.data.sources`).

TensorFlow reads and decodes the files (PNG, JPEG, BMP, GIF; the first frame of an animation);
it is imported when a folder is loaded, not before.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from nbmodels.checks import ConfigError, check_fraction, check_int, fail
from nbmodels.data.registry import Dataset, register
from nbmodels.data.sources import LazySource
from nbmodels.data.splits import shuffled_split

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_LAYOUT = "one subfolder of images per class, e.g. {root}/cat/1.png and {root}/dog/1.png"


@register(
    "image_folder",
    description="Your own images, one subfolder per class (sorted names are the class ids), read lazily per batch.",
    task="classification",
    source="local",
)
def image_folder(
    path,
    image_size: int | tuple[int, int] | None = None,
    *,
    channels: int | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
    reader: Callable[[str], object] | None = None,
) -> Dataset:
    """Images under `path/<class name>/`, as float32 (H, W, C) in [0, 1], labelled by their folder.

    Class folders are the subfolders of `path` (hidden ones, starting with ".", are skipped);
    their sorted names are the class ids 0, 1, ... (`extras["class_names"]`). A class folder's
    images may sit in nested folders too. Listing the files reads no image: the validation split
    is a seeded shuffle of the file list, and `train` and `validation` are `LazySource`s that read
    and decode an image only when its row is asked for (training asks for a few batches ahead).
    The first training image is read at once, for the shapes; every other image must decode to
    the same shape unless `image_size` resizes them all.

    Args:
        path: the folder (a str or a Path).
        image_size: resize every image to this size (bilinear): an int for square images or
            (height, width); `None` keeps the size, which then must be the same for all images.
        channels: convert every image to 1 (grayscale), 3 (RGB) or 4 (RGBA, opaque where an
            image has no alpha) channels; `None` takes the first image's channel count (gray
            with alpha counts as gray) and converts the others to it.
        validation_split: fraction of the images held out for validation, in (0, 1).
        seed: seed of the split's shuffle; the same seed gives the same split.
        reader: `reader(file) -> the file's bytes` (a `bytes` or a string tensor); the default
            is `tf.io.read_file`, which also reads `gs://` and other TensorFlow file systems.
            Wrap it to count, cache or fetch reads.

    Raises:
        ConfigError (a ValueError): a missing folder, a folder without class subfolders of
            images, a class folder without images, a single class, a bad option.
        ValueError (when a row is read): an image that cannot be decoded, or whose size differs
            from the first one's without `image_size`, named by its file.

    Example:

    >>> import pathlib, tempfile
    >>> import numpy as np, tensorflow as tf
    >>> from nbmodels import data
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, shade in [("dark", 40), ("light", 220)]:
    ...     (root / name).mkdir()
    ...     for i in range(5):
    ...         pixels = np.full((6, 6, 1), shade + i, "uint8")
    ...         tf.io.write_file(str(root / name / f"{i}.png"), tf.io.encode_png(pixels))
    >>> ds = data.load("image_folder", path=root, validation_split=0.2, seed=0)
    >>> ds.summary()
    'image_folder: classification, train x (6, 6, 1) float32 -> y () int32, 8 examples (LazySource), validation 2, 2 classes, source local'
    >>> ds.extras["class_names"]
    ['dark', 'light']
    >>> images, labels = ds.train.rows([0, 1])
    >>> images.shape, labels.dtype.name
    ((2, 6, 6, 1), 'int32')
    """
    owner = "load('image_folder')"
    root = _check_folder(owner, path)
    size = _check_image_size(owner, image_size)
    if channels is not None:
        channels = check_int(owner, "channels", channels, minimum=1, maximum=4)
        if channels == 2:
            fail(owner, "channels", channels, "choose 1 (grayscale), 3 (RGB), 4 (RGBA) or None (the first image's)")
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)
    if reader is not None and not callable(reader):
        fail(owner, "reader", reader, "it must be a function reader(file) -> the file's bytes")

    class_names, files, labels = _list_images(owner, root)
    (train_rows, _), (validation_rows, _) = shuffled_split(
        np.arange(len(files)), labels, validation_split=validation_split, seed=seed, owner=owner
    )
    images = _ImageRows(files, labels, size=size, channels=channels, reader=reader)
    return Dataset(
        task="classification",
        train=images.source(train_rows),
        validation=images.source(validation_rows),
        num_classes=len(class_names),
        extras={
            "class_names": class_names,
            "path": str(root),
            "files": [files[row] for row in train_rows],  # in the order of ds.train's rows
            "validation_files": [files[row] for row in validation_rows],
        },
    )


def read_file(file: str):
    """The file's bytes as a string tensor, through TensorFlow's file systems."""
    import tensorflow as tf

    return tf.io.read_file(file)


class _ImageRows:
    """Decodes the images of a file list by row; shared by the train and validation sources so
    both hold the shape the first image set."""

    def __init__(self, files: list[str], labels: np.ndarray, *, size, channels, reader):
        self.files, self.labels, self.size = files, labels, size
        self.channels = channels
        self.reader = reader or read_file
        self._first: tuple[str, tuple[int, ...]] | None = None  # (file, shape) of the first image decoded
        self._lock = threading.Lock()

    def source(self, rows: np.ndarray) -> LazySource:
        return LazySource(len(rows), load_row=lambda i: self.example(int(rows[i])))

    def example(self, row: int):
        return self.image(self.files[row]), self.labels[row]

    def image(self, file: str) -> np.ndarray:
        import tensorflow as tf

        try:  # decoded as stored: TensorFlow converts channels for some formats only (GIF is always RGB)
            image = tf.io.decode_image(self.reader(file), channels=0, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            raise ValueError(f"image_folder could not read the image {file}: {error.message.strip()}") from None
        image = tf.image.convert_image_dtype(image, tf.float32)  # (H, W, C) in [0, 1], whatever the bit depth
        with self._lock:  # the first image decides the channel count the others convert to
            channels = self.channels or {2: 1}.get(image.shape[-1], image.shape[-1])  # gray + alpha -> gray
        image = _with_channels(tf, image, channels)
        if self.size is not None:
            image = tf.clip_by_value(tf.image.resize(image, self.size), 0.0, 1.0)  # bilinear can overshoot a hair
        image = image.numpy()
        self._check_shape(file, image.shape)
        return image

    def _check_shape(self, file: str, shape: tuple[int, ...]) -> None:
        with self._lock:
            if self._first is None:
                self._first = (file, shape)
                self.channels = self.channels or shape[-1]
                return
            first_file, first_shape = self._first
        if shape != first_shape:
            height, width = first_shape[:2]
            raise ValueError(
                f"image_folder: {file} is {shape[0]}x{shape[1]} but the first image read ({first_file}) is "
                f"{height}x{width}; images of different sizes need resizing to one size: pass "
                f"image_size=({height}, {width}) (or another size)."
            )


def _with_channels(tf, image, channels: int):
    """A (H, W, C) float image with `channels` channels: alpha dropped or made opaque, gray <-> RGB."""
    have = image.shape[-1]
    if have == channels:
        return image
    if have in (2, 4):  # drop the alpha channel
        image, have = image[..., : have - 1], have - 1
    if have == 1 and channels >= 3:
        image = tf.image.grayscale_to_rgb(image)
    elif have == 3 and channels == 1:
        image = tf.image.rgb_to_grayscale(image)
    if channels == 4:
        image = tf.concat([image, tf.ones_like(image[..., :1])], axis=-1)  # opaque
    return image


def _check_folder(owner: str, path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        fail(owner, "path", path, "give the folder as a str or a Path, holding " + _LAYOUT.format(root="path"))
    root = Path(path).expanduser()
    if not root.exists():
        fail(owner, "path", str(path), f"there is no such folder; give a folder holding {_LAYOUT.format(root=root)}")
    if not root.is_dir():
        fail(owner, "path", str(path), f"it is a file, not a folder; give a folder holding {_LAYOUT.format(root=root)}")
    return root


def _check_image_size(owner: str, image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        return tuple(check_int(owner, "image_size", side, minimum=1, fix="Give (height, width)") for side in image_size)
    side = check_int(owner, "image_size", image_size, minimum=1,
                     fix="Give an int for square images, (height, width), or None to keep the size")
    return side, side


def _list_images(owner: str, root: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(class names, image files, labels): sorted class folders, each one's images sorted."""
    class_names, files, labels = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _images_under(folder)
        if not found:
            allowed = (f"the class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}): "
                       "add its images or remove the folder")
            raise ConfigError(owner, "path", str(root), allowed)
        labels += [len(class_names)] * len(found)
        class_names.append(folder.name)
        files += found
    if not class_names:
        loose = _images_under(root, recursive=False)
        why = (f"its {len(loose)} images are not in class subfolders" if loose
               else f"it holds no class subfolders of images ({', '.join(IMAGE_EXTENSIONS)})")
        raise ConfigError(owner, "path", str(root), f"{why}; give a folder holding {_LAYOUT.format(root=root)}")
    if len(class_names) == 1:
        allowed = (f"it holds one class folder ({class_names[0]!r}) and a classifier needs at least two; "
                   f"add a subfolder per class, e.g. {root}/other/1.png")
        raise ConfigError(owner, "path", str(root), allowed)
    return class_names, files, np.asarray(labels, np.int32)


def _images_under(folder: Path, *, recursive: bool = True) -> list[str]:
    """Image files under `folder`, hidden ones skipped, in sorted path order."""
    found = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if recursive and not name.startswith("."))
        found += [os.path.join(directory, name) for name in names
                  if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)
