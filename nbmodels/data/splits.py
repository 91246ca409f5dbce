"""Train/validation splits shared by the dataset loaders."""

from __future__ import annotations

import numpy as np

from nbmodels.checks import fail


def shuffled_split(x: np.ndarray, y: np.ndarray, *, validation_split: float, seed: int, owner: str):
    """Shuffle with `seed`, then hold out `validation_split` of the examples.

    Returns `((x_train, y_train), (x_val, y_val))`; both parts are non-empty. `owner` is the
    loader the split belongs to, named in the error ("load('digits')").
    """
    n = len(x)
    n_val = int(round(n * validation_split))
    if not 0 < n_val < n:
        fail(owner, "validation_split", validation_split,
             f"of {n} examples it leaves an empty {'validation' if n_val == 0 else 'training'} set; "
             "use more examples or another split")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])
