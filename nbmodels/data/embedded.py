"""Embedded datasets: shipped with our dependencies, so they work offline."""

from __future__ import annotations

import numpy as np

from nbmodels.data._checks import check_bool, check_fraction, check_int, shuffled_split
from nbmodels.data.registry import Dataset, register
from nbmodels.data.text import char_windows, text_corpus


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
    validation_split = check_fraction("validation_split", validation_split)
    seed = check_int("seed", seed, minimum=0)
    flatten = check_bool("flatten", flatten)
    from sklearn.datasets import load_digits  # heavy; only when digits are asked for

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)  # pixel intensities are 0..16
    if not flatten:
        x = x.reshape(-1, 8, 8, 1)
    y = bunch.target.astype(np.int32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=10,
        extras={"class_names": [str(digit) for digit in range(10)]},
    )


@register(
    "python_docs",
    description="Python's own help topics (pydoc_data), as character-level next-char windows.",
    task="text",
    source="embedded",
)
def python_docs(*, context: int = 64, stride: int | None = None, validation_split: float = 0.1) -> Dataset:
    """Next-character windows over `text_corpus()`; see `char_windows` for the options.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("python_docs", context=32)
    >>> ds.tokens_per_sample, ds.train[0].shape[1], ds.num_classes == len(ds.extras["vocab"])
    (32, 32, True)
    """
    return char_windows(text_corpus(), context=context, stride=stride, validation_split=validation_split)
