"""Generated datasets with known ground truth: a model can be checked against the truth."""

from __future__ import annotations

import numpy as np

from nbmodels.checks import check_float, check_fraction, check_int
from nbmodels.data.splits import shuffled_split
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
    owner = "load('linear_regression')"
    n = check_int(owner, "n", n, minimum=2)
    features = check_int(owner, "features", features, minimum=1)
    noise = check_float(owner, "noise", noise, low=0.0)
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(features).astype(np.float32)
    bias = float(rng.standard_normal())
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ weights + bias + noise * rng.standard_normal(n)).astype(np.float32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed, owner=owner)
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
    owner = "load('blobs')"
    n = check_int(owner, "n", n, minimum=2)
    classes = check_int(owner, "classes", classes, minimum=2)
    features = check_int(owner, "features", features, minimum=1)
    spread = check_float(owner, "spread", spread, low=0.0, low_open=True)
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)

    rng = np.random.default_rng(seed)
    centers = rng.uniform(-5.0, 5.0, size=(classes, features)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int32)  # balanced; the split shuffles
    x = (centers[y] + spread * rng.standard_normal((n, features))).astype(np.float32)
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed, owner=owner)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=classes,
        ground_truth={"centers": centers, "spread": spread},
    )
