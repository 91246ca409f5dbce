"""Splitting interaction logs, and each user's history for excluding what they have seen.

Interactions are `x = {"user": int32 (N,), "item": int32 (N,)}` with optional targets `y`
(ratings, or None for retrieval's positive pairs). A split returns `((x_train, y_train),
(x_val, y_val))`, as `nbmodels.data.splits.shuffled_split` does for plain arrays.

Example:

>>> import numpy as np
>>> from nbmodels.data.recsys import leave_last_out, seen_items
>>> x = {"user": np.array([0, 0, 0, 1, 1, 2], "int32"), "item": np.array([5, 3, 4, 1, 2, 7], "int32")}
>>> timestamps = np.array([10, 30, 20, 5, 6, 1])
>>> (x_train, _), (x_val, _) = leave_last_out(x, None, timestamps)
>>> x_val["user"].tolist(), x_val["item"].tolist()  # each user's latest; user 2 has one, so it stays
([0, 1], [3, 2])
>>> [items.tolist() for items in seen_items(x_train, num_users=4)]
[[4, 5], [1], [7], []]
"""

from __future__ import annotations

import numpy as np

from nbmodels.checks import fail

SPLITS = ("random", "leave_last_out")


def random_split(x: dict, y: np.ndarray | None, fraction: float, seed: int, *, owner: str = "random_split"):
    """Hold out `fraction` of the interactions, drawn uniformly with `seed`.

    A user may land wholly in validation (a cold user); use `leave_last_out` to keep every
    user's history in training. Returns `((x_train, y_train), (x_val, y_val))`, train in a
    shuffled order.
    """
    train, validation = random_split_indices(_count(x, y, owner), fraction, seed, owner=owner)
    return _take(x, y, train), _take(x, y, validation)


def leave_last_out(x: dict, y: np.ndarray | None, timestamps: np.ndarray, *, owner: str = "leave_last_out"):
    """Each user's latest interaction (by `timestamps`; ties go to the later row) goes to
    validation; a user with a single interaction keeps it in training.

    Returns `((x_train, y_train), (x_val, y_val))`, both in the original row order.
    """
    _count(x, y, owner)
    train, validation = leave_last_out_indices(x["user"], timestamps, owner=owner)
    return _take(x, y, train), _take(x, y, validation)


def random_split_indices(n: int, fraction: float, seed: int, *, owner: str = "random_split"):
    """(train rows, validation rows) for `random_split`: `round(n * fraction)` rows held out."""
    n_val = int(round(n * fraction))
    if not 0 < n_val < n:
        fail(owner, "validation_split", fraction,
             f"of {n} interactions it leaves an empty {'validation' if n_val == 0 else 'training'} set; "
             "use more interactions or another fraction")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], np.sort(order[:n_val])


def leave_last_out_indices(users: np.ndarray, timestamps: np.ndarray, *, owner: str = "leave_last_out"):
    """(train rows, validation rows) for `leave_last_out` of the interactions' `users`, both sorted."""
    users, timestamps = np.asarray(users), np.asarray(timestamps)
    n = users.size
    if timestamps.shape != (n,):
        raise ValueError(
            f"{owner}: timestamps has shape {timestamps.shape} but there are {n} interactions; "
            "pass one timestamp per interaction."
        )
    rows = np.arange(n)
    # Sorted by user, then time, then row: each user's last row in this order is their latest.
    order = np.lexsort((rows, timestamps, users))
    last = np.ones(n, bool)
    last[:-1] = users[order[1:]] != users[order[:-1]]
    first = np.ones(n, bool)
    first[1:] = users[order[1:]] != users[order[:-1]]
    held_out = order[last & ~first]  # the latest of users with two or more interactions
    if held_out.size == 0:
        fail(owner, "split", "leave_last_out",
             "no user has two or more interactions, so nothing can be held out; use split='random'")
    is_validation = np.zeros(n, bool)
    is_validation[held_out] = True
    return rows[~is_validation], rows[is_validation]


def seen_items(x: dict, num_users: int) -> list[np.ndarray]:
    """The items each user interacted with in `x`: a list (length `num_users`) of sorted,
    distinct int32 item ids; empty for a user without interactions.

    Pass it as `exclude` to a top-K search so users are not recommended what they already have.
    """
    users, items = _ids(x, "seen_items")
    if users.size and (users.min() < 0 or users.max() >= num_users):
        raise ValueError(
            f"seen_items: user ids run from {users.min()} to {users.max()}, outside 0..{num_users - 1}; "
            "pass num_users = the dataset's extras['num_users']."
        )
    pairs = np.unique(np.stack([users.astype(np.int64), items.astype(np.int64)], axis=1), axis=0)
    bounds = np.searchsorted(pairs[:, 0], np.arange(num_users + 1))
    return [pairs[bounds[u]:bounds[u + 1], 1].astype(np.int32) for u in range(num_users)]


def _ids(x, owner):
    if not isinstance(x, dict) or "user" not in x or "item" not in x:
        raise ValueError(
            f"{owner}: x must be a dict with 'user' and 'item' id arrays, e.g. ds.train[0]; "
            f"got {type(x).__name__}{' with keys ' + repr(sorted(x)) if isinstance(x, dict) else ''}."
        )
    users, items = np.asarray(x["user"]), np.asarray(x["item"])
    if users.ndim != 1 or users.shape != items.shape:
        raise ValueError(
            f"{owner}: x['user'] and x['item'] must be 1-D and of equal length; "
            f"got shapes {users.shape} and {items.shape}."
        )
    return users, items


def _count(x, y, owner) -> int:
    users, _ = _ids(x, owner)
    if users.size == 0:
        raise ValueError(f"{owner}: there are no interactions to split; pass at least two.")
    if y is not None and len(y) != users.size:
        raise ValueError(
            f"{owner}: x has {users.size} interactions but y has {len(y)}; pass one target per interaction."
        )
    return users.size


def _take(x, y, rows):
    return {name: np.asarray(values)[rows] for name, values in x.items()}, (None if y is None else np.asarray(y)[rows])
