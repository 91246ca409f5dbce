"""Generated datasets with known ground truth: a model can be checked against the truth."""

from __future__ import annotations

import numpy as np

from nbmodels.data._checks import check_float, check_fraction, check_int, shuffled_split
from nbmodels.data.registry import Dataset, register


@register(
    "linear_regression",
    description="y = x @ weights + bias + Gaussian noise, with the true weights in ground_truth.",
    task="regression",
    source="generated",
)
def linear_regression(
    *,
    n: int = 512,
    features: int = 4,
    noise: float = 0.1,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Standard-normal inputs, standard-normal true weights and bias, Gaussian noise.

    Args:
        n: total number of examples, before the validation split.
        features: input width.
        noise: standard deviation of the noise added to y (0 for an exact fit).
        validation_split: fraction held out for validation, in (0, 1).
        seed: the same seed gives the same weights, data and split.

    Example:

    >>> import numpy as np
    >>> from nbmodels import data
    >>> ds = data.load("linear_regression", n=200, features=3, noise=0.0)
    >>> x, y = ds.train
    >>> bool(np.allclose(x @ ds.ground_truth["weights"] + ds.ground_truth["bias"], y, atol=1e-5))
    True
    """
    n = check_int("n", n, minimum=2)
    features = check_int("features", features, minimum=1)
    noise = check_float("noise", noise)
    validation_split = check_fraction("validation_split", validation_split)
    seed = check_int("seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(features).astype(np.float32)
    bias = float(rng.standard_normal())
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ weights + bias + noise * rng.standard_normal(n)).astype(np.float32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed)
    return Dataset(
        task="regression",
        train=train,
        validation=validation,
        ground_truth={"weights": weights, "bias": bias, "noise": noise},
    )


@register(
    "blobs",
    description="Gaussian clusters, one per class, with the true centers in ground_truth.",
    task="classification",
    source="generated",
)
def blobs(
    *,
    n: int = 600,
    classes: int = 3,
    features: int = 2,
    spread: float = 1.0,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Balanced classes, each an isotropic Gaussian of std `spread` around its center.

    Centers are drawn uniformly in [-5, 5] per feature.

    Args:
        n: total number of examples, before the validation split.
        classes: number of clusters (and labels), >= 2.
        features: input width.
        spread: standard deviation of each cluster; > 0.
        validation_split: fraction held out for validation, in (0, 1).
        seed: the same seed gives the same centers, data and split.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("blobs", classes=4, features=3)
    >>> ds.ground_truth["centers"].shape, ds.num_classes
    ((4, 3), 4)
    """
    n = check_int("n", n, minimum=2)
    classes = check_int("classes", classes, minimum=2)
    features = check_int("features", features, minimum=1)
    spread = check_float("spread", spread, allow_minimum=False)
    validation_split = check_fraction("validation_split", validation_split)
    seed = check_int("seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5.0, 5.0, size=(classes, features)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int32)  # balanced; the split shuffles
    x = (centers[y] + spread * rng.standard_normal((n, features))).astype(np.float32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=classes,
        ground_truth={"centers": centers, "spread": spread},
    )


@register(
    "key_token",
    description="Random token sequences whose label is set by one key token at a random position.",
    task="classification",
    source="generated",
)
def key_token(
    *,
    n: int = 2000,
    sequence_length: int = 16,
    vocabulary_size: int = 32,
    num_classes: int = 4,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A task only attention solves well: find the one key token, wherever it is.

    Ids: 0 is reserved for padding (never generated); ids `1..num_classes` are the key
    tokens, id `c + 1` meaning class `c`; ids `num_classes + 1 .. vocabulary_size - 1` are
    filler, drawn uniformly. Each sequence holds exactly one key token, at a position drawn
    uniformly over the sequence, and its label depends on that token alone. Classes are
    balanced. `ground_truth` records each example's key position, so a test can check that
    a model's attention lands on it.

    Args:
        n: total number of examples, before the validation split.
        sequence_length: tokens per example (T).
        vocabulary_size: number of ids, padding and key tokens included; at least
            `num_classes + 2`, so there is a filler id.
        num_classes: number of labels (and key tokens), >= 2.
        validation_split: fraction held out for validation, in (0, 1).
        seed: the same seed gives the same data and split.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("key_token", n=100, sequence_length=8)
    >>> x, y = ds.train
    >>> x.shape, x.dtype.name, y.dtype.name, ds.num_classes, ds.tokens_per_sample
    ((80, 8), 'int32', 'int32', 4, 8)
    >>> row = 0
    >>> key = x[row, ds.ground_truth["key_positions"][row]]
    >>> int(ds.ground_truth["key_token_ids"][y[row]]) == int(key)
    True
    """
    n = check_int("n", n, minimum=2)
    sequence_length = check_int("sequence_length", sequence_length, minimum=1)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    vocabulary_size = check_int("vocabulary_size", vocabulary_size, minimum=1)
    if vocabulary_size < num_classes + 2:
        raise ValueError(
            f"vocabulary_size={vocabulary_size!r} is not allowed with num_classes={num_classes}; it must be >= "
            f"{num_classes + 2} (id 0 for padding, {num_classes} key ids, at least one filler id)."
        )
    validation_split = check_fraction("validation_split", validation_split)
    seed = check_int("seed", seed, minimum=0)

    padding_id = 0
    key_token_ids = np.arange(1, num_classes + 1, dtype=np.int32)  # key_token_ids[c] means class c
    rng = np.random.default_rng(seed)
    x = rng.integers(num_classes + 1, vocabulary_size, size=(n, sequence_length)).astype(np.int32)
    y = (np.arange(n) % num_classes).astype(np.int32)  # balanced; the split shuffles
    positions = rng.integers(0, sequence_length, size=n)
    x[np.arange(n), positions] = key_token_ids[y]
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=num_classes,
        tokens_per_sample=sequence_length,
        ground_truth={
            # Read back from x after the split shuffled it: the one key token per row.
            "key_positions": _key_positions(train[0], num_classes),
            "validation_key_positions": _key_positions(validation[0], num_classes),
            "key_token_ids": key_token_ids,
        },
        extras={"vocabulary_size": vocabulary_size, "padding_id": padding_id},
    )


def _key_positions(x: np.ndarray, num_classes: int) -> np.ndarray:
    return np.argmax((x >= 1) & (x <= num_classes), axis=1).astype(np.int32)
