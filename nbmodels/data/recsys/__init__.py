"""Recommender data: interaction logs as user and item ids, with side features in per-id tables.

Registered datasets (`nbmodels.data.load`): "synthetic_interactions" (generated, with the true
user and item factors as ground truth), "movielens_100k" and "movielens_1m" (downloaded from
GroupLens, or read from a local folder with `path=`). Every one gives
`x = {"user": int32 (N,), "item": int32 (N,)}` with dense ids, targets None for retrieval
(positive pairs) or float32 ratings for ranking, and in `extras` the catalogue's tables:
`num_users`, `num_items`, `item_titles`, `item_genres` (multi-hot), `genre_names`,
`user_features`, `timestamps` (train) and `item_counts` (train).

Example:

>>> from nbmodels import data
>>> from nbmodels.data.recsys import seen_items
>>> ds = data.load("synthetic_interactions", n_users=20, n_items=30, interactions_per_user=5)
>>> seen = seen_items(ds.train[0], ds.extras["num_users"])
>>> len(seen), sum(len(items) for items in seen) == len(ds.train[0]["user"])
(20, True)
"""

from nbmodels.data.recsys import interactions, movielens  # noqa: F401  (registers the datasets)
from nbmodels.data.recsys.splits import leave_last_out, random_split, seen_items

__all__ = ["leave_last_out", "random_split", "seen_items"]
