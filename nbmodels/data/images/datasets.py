"""Image datasets: scikit-learn's digits (embedded, offline) and keras.datasets images (downloaded).

keras.datasets keeps its own cache (`~/.keras/datasets`, or `$KERAS_HOME`).
"""

from __future__ import annotations

import numpy as np

from nbmodels.checks import check_bool, check_fraction, check_int
from nbmodels.data.images.arrays import as_images
from nbmodels.data.network import network_errors
from nbmodels.data.registry import Dataset, register
from nbmodels.data.splits import shuffled_split


@register(
    "digits",
    description="8x8 grayscale handwritten digits from scikit-learn (1797 images, 10 classes).",
    task="classification",
    source="embedded",
)
def digits(*, validation_split: float = 0.2, seed: int = 0, flatten: bool = True) -> Dataset:
    """scikit-learn's digits, scaled to [0, 1], in a seeded shuffled split.

    Args:
        validation_split: fraction held out for validation, in (0, 1).
        seed: seed of the shuffle; the same seed gives the same split.
        flatten: `True` gives x of shape (N, 64); `False` gives images (N, 8, 8, 1).

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("digits", flatten=False, seed=0)
    >>> ds.input_shape, ds.train[0].dtype.name, float(ds.train[0].max())
    ((8, 8, 1), 'float32', 1.0)
    """
    owner = "load('digits')"
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)
    flatten = check_bool(owner, "flatten", flatten)
    from sklearn.datasets import load_digits  # heavy; only when digits are asked for

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel intensities are 0..16
    if not flatten:
        x = x.reshape(-1, 8, 8, 1)
    y = bunch.target.astype(np.int32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed, owner=owner)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=10,
        extras={"class_names": [str(digit) for digit in range(10)]},
    )


IMAGES_ALTERNATIVE = "nbmodels.data.load('digits') is an embedded 8x8 digits set that works offline."

# keras.datasets name -> (description, class names)
_KERAS_IMAGE_SETS = {
    "mnist": (
        "28x28 grayscale handwritten digits (60k train, 10k test), via keras.datasets.",
        [str(digit) for digit in range(10)],
    ),
    "fashion_mnist": (
        "28x28 grayscale Zalando clothing images in 10 classes (60k train, 10k test), via keras.datasets.",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
    "cifar10": (
        "32x32 colour photos in 10 classes (50k train, 10k test), via keras.datasets.",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    ),
}


def _keras_image_loader(keras_name: str, class_names: list[str]):
    def load_images() -> Dataset:
        import keras  # heavy; only when these images are asked for

        with network_errors(keras_name, IMAGES_ALTERNATIVE):
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, keras_name).load_data()
        return Dataset(
            task="classification",
            train=(_images(x_train), _labels(y_train)),
            validation=(_images(x_test), _labels(y_test)),  # the official test split
            num_classes=len(class_names),
            extras={"class_names": class_names},
        )

    load_images.__doc__ = f"""keras.datasets.{keras_name}, scaled to [0, 1] float32 with a channel axis.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("{keras_name}")  # doctest: +SKIP
    """
    load_images.__qualname__ = load_images.__name__ = keras_name
    return load_images


def _images(x: np.ndarray) -> np.ndarray:
    return (as_images(x) / np.float32(255.0)).astype(np.float32)  # grayscale sets gain a channel axis


def _labels(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1).astype(np.int32)  # cifar10 labels come as (N, 1)


for _name, (_description, _class_names) in _KERAS_IMAGE_SETS.items():
    register(
        _name,
        _keras_image_loader(_name, _class_names),
        description=_description,
        task="classification",
        source="download",
    )
del _name, _description, _class_names
