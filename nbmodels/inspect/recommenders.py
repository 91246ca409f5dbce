"""What a retrieval model recommends and why: top-K lists, accuracy over the catalogue, neighbours.

Plain functions with numpy out, for the RecommenderExplorer and for tests. A model here is a
two-tower retrieval model (`nbmodels.models.recommenders.TwoTower`, or anything with
`user_embeddings(ids)`, `item_embeddings(ids=None)` and a `config` with `num_users` and
`num_items`). A user's score for an item is the dot product of their embeddings: what the
model trains on and what `TopKIndex` searches.

Two ways to count a hit, on purpose:

- `top_k_accuracy` is the "factorized top-K" accuracy the TensorFlow Recommenders retrieval
  tutorial reports: is the held-out item among the user's K best over the *whole* catalogue?
  As in TFRS, items the user already has in train are *not* left out, so a model that ranks
  them first is charged for it, and the numbers compare with the tutorial's.
- `retrieval_report`'s recall / NDCG / MRR / MAP follow the usual full-ranking protocol
  instead: each user's train items are left out of their list (they would not be recommended),
  computed with keras-rs' ranking metrics.

Example:
>>> import numpy as np
>>> from nbmodels.inspect.recommenders import pca, top_k_hits
>>> ranks = np.array([0, 3, 12])  # how many items outscore each held-out item
>>> top_k_hits(ranks, (1, 5, 20))
{1: 0.3333333333333333, 5: 0.6666666666666666, 20: 1.0}
>>> points, share = pca(np.eye(4, 3, dtype="float32"), n_components=2)
>>> points.shape, round(float(share.sum()), 2)
((4, 2), 0.89)

On a model (an untrained tiny one here, so only the shapes mean something):

>>> from nbmodels import data
>>> from nbmodels.inspect import recommend, similar_items, explain, item_projection
>>> from nbmodels.models.recommenders import TwoTower, TwoTowerConfig
>>> ratings = data.load("synthetic_interactions")
>>> model = TwoTower(TwoTowerConfig.preset("tiny", num_users=ratings.extras["num_users"],
...                                        num_items=ratings.extras["num_items"]))
>>> ids, scores = recommend(model, [0, 1], k=5, data=ratings)  # train items of each user left out
>>> ids.shape, scores.shape
((2, 5), (2, 5))
>>> ids, similarity = similar_items(model, 7, k=3)
>>> 7 in ids, bool(np.all(np.diff(similarity) <= 0))
(False, True)
>>> because, similarity = explain(model, 0, item=ids[0], history=ratings, n=2)
>>> because.shape, item_projection(model).shape
((2,), (400, 2))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbmodels.checks import ConfigError, check_bool, check_choice, check_int, fail

DEFAULT_KS = (1, 5, 10, 50, 100)
SIMILARITIES = ("cosine", "dot")
SCORE_BLOCK = 4_000_000  # scores held at once (users x items) when ranking the whole catalogue
RANKING_METRICS = ("recall", "ndcg", "mrr", "map")  # retrieval_report's keras-rs metrics, per K


# ---- recommendations -------------------------------------------------------------------------------

def recommend(model, users, k: int = 10, exclude="seen", data=None, *, index=None):
    """The top-`k` items for each user, best first, with their scores.

    Args:
        model: a two-tower model (see the module docstring).
        users: one user id, or a sequence of them.
        k: how many items per user; at most the catalogue's size.
        exclude: `"seen"` (default): leave out each user's items in `data`'s train split;
            `None`: rank the whole catalogue; or a list with one sequence of item ids per user.
        data: the `nbmodels.data.Dataset` the model trained on (needed for `exclude="seen"`).
        index: a ready `TopKIndex` over the model's items (a view asking again and again
            reuses one instead of building it per call); default `TopKIndex.from_model(model)`.

    Returns:
        `(ids, scores)`: int64 item ids and float32 scores, `(k,)` for one user, `(n, k)` for n.
    """
    from nbmodels.models.recommenders.index import TopKIndex

    num_users, num_items = catalogue_size(model)
    single = np.ndim(users) == 0
    user_ids = check_ids("recommend", "users", users, num_users, "user")
    k = check_int("recommend", "k", k, minimum=1, maximum=num_items, why=f"the catalogue has {num_items} items")
    excluded = _excluded("recommend", exclude, data, user_ids, num_users, num_items)
    if excluded is not None:
        for user, items in zip(user_ids, excluded):
            left = num_items - len(np.unique(items))
            if left < k:
                raise ConfigError("recommend", "k", k, f"at most {left}", message=(
                    f"recommend: user {user} has {num_items - left} of the {num_items} items excluded, so at most "
                    f"{left} are left to recommend, not k={k}; lower k or exclude fewer items."))
    if index is None:
        index = TopKIndex.from_model(model)
    queries = np.asarray(model.user_embeddings(user_ids), dtype=np.float32)  # (n, d)
    scores, ids = index.search(queries, k, exclude=excluded)
    ids, scores = np.asarray(ids).astype(np.int64), np.asarray(scores, dtype=np.float32)
    return (ids[0], scores[0]) if single else (ids, scores)


def seen_by_user(data, num_users: int) -> list[np.ndarray]:
    """Each user's items in `data`'s train split (what `exclude="seen"` leaves out)."""
    from nbmodels.data.recsys import seen_items

    return seen_items(split_pairs("seen_by_user", data, "train")[0], num_users)


def _excluded(owner, exclude, data, user_ids, num_users, num_items):
    """One int64 array of item ids per user, or None."""
    if exclude is None:
        return None
    if isinstance(exclude, str):
        check_choice(owner, "exclude", exclude, ("seen",), fix="or pass None, or one list of item ids per user")
        if data is None:
            raise ConfigError(owner, "data", None, "the Dataset the model trained on", message=(
                f"{owner}(..., exclude='seen') needs data=, the Dataset whose train split holds what each user has "
                "seen; or pass exclude=None to rank the whole catalogue."))
        seen = seen_by_user(data, num_users)
        return [np.asarray(seen[user], dtype=np.int64) for user in user_ids]
    if not isinstance(exclude, (list, tuple)) or len(exclude) != len(user_ids):
        fail(owner, "exclude", exclude, f"'seen', None, or a list of {len(user_ids)} item id lists (one per user)")
    return [check_ids(owner, "exclude", items, num_items, "item", allow_empty=True) for items in exclude]


# ---- accuracy over the whole catalogue ------------------------------------------------------------

def top_k_accuracy(model, data, k=DEFAULT_KS, split: str = "validation"):
    """The factorized top-K accuracy TFRS's retrieval tutorial reports, over the whole catalogue.

    For each `(user, item)` pair of the split: is `item` among the user's `k` best items? Like
    TFRS's `FactorizedTopK`, items the user has in train are not left out; an item counts as
    in the top k when fewer than k items score strictly higher (ties in its favour, as
    `tf.math.in_top_k`). So it grows with k and is 1.0 at k = the number of items.

    Args:
        model: a two-tower model.
        data: a retrieval `Dataset` (its pairs are positives).
        k: an int, or a tuple of them.
        split: `"validation"` or `"train"`.

    Returns:
        A float for an int k; for a tuple, `{k: accuracy}`.
    """
    num_users, num_items = catalogue_size(model)
    ks = _check_ks("top_k_accuracy", k, num_items)
    (users, items) = _split_ids("top_k_accuracy", data, split, num_users, num_items)
    hits = top_k_hits(positive_ranks(model, users, items), ks)
    return hits[ks[0]] if isinstance(k, (int, np.integer)) else hits


def positive_ranks(model, users, items) -> np.ndarray:
    """For each `(users[i], items[i])` pair: how many items of the catalogue score strictly
    higher for that user than the item does (0 = it is the top recommendation)."""
    distinct, lookup = np.unique(users, return_inverse=True)
    user_rows = np.asarray(model.user_embeddings(distinct), dtype=np.float32)  # (U', d)
    candidates = np.asarray(model.item_embeddings(), dtype=np.float32)  # (I, d)
    ranks = np.empty(len(users), dtype=np.int64)
    block = max(1, SCORE_BLOCK // len(candidates))
    for start in range(0, len(users), block):
        rows = slice(start, start + block)
        scores = user_rows[lookup[rows]] @ candidates.T  # (b, I)
        positive = scores[np.arange(scores.shape[0]), items[rows]]
        ranks[rows] = (scores > positive[:, None]).sum(axis=1)
    return ranks


def top_k_hits(ranks, ks) -> dict[int, float]:
    """`{k: share of ranks below k}`: top-K accuracy from `positive_ranks`."""
    ranks = np.asarray(ranks)
    return {int(k): float(np.mean(ranks < k)) if len(ranks) else 0.0 for k in ks}


# ---- the report -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RetrievalReport:
    """A retrieval model's scores on a split, beside a popularity baseline's.

    Args:
        ks: the cut-offs.
        model: metric name -> value for the model: `factorized_top_k/top_{k}_categorical_accuracy`
            (TFRS's name; train items not left out) and `recall_at_{k}`, `ndcg_at_{k}`, `mrr_at_{k}`,
            `map_at_{k}` (keras-rs metrics of these names, train items left out when
            `exclude_seen`).
        popularity: the same metrics for recommending the items most frequent in train to everyone.
        num_pairs: held-out (user, item) pairs (factorized top-K averages over them).
        num_users: users with a held-out item (the ranking metrics average over them).
        num_items: the catalogue's size.
        exclude_seen: whether the ranking metrics left each user's train items out.
    """

    ks: tuple[int, ...]
    model: dict[str, float]
    popularity: dict[str, float]
    num_pairs: int
    num_users: int
    num_items: int
    exclude_seen: bool

    def to_dict(self) -> dict[str, float]:
        """The model's metrics, then the baseline's with a `popularity/` prefix."""
        return {**self.model, **{f"popularity/{name}": value for name, value in self.popularity.items()}}

    def rows(self) -> list[tuple[str, float, float]]:
        """(metric, model, popularity) rows, for tables."""
        return [(name, value, self.popularity[name]) for name, value in self.model.items()]

    def summary(self, k: int | None = None) -> str:
        """One line at cut-off `k` (default: 10 when reported, else the largest)."""
        k = k if k is not None else (10 if 10 in self.ks else self.ks[-1])
        if k not in self.ks:
            fail("RetrievalReport.summary", "k", k, f"one of the reported cut-offs {self.ks}")
        parts = [f"{label} {self.model[name]:.3f} (popularity {self.popularity[name]:.3f})"
                 for label, name in ((f"top-{k} accuracy", factorized_name(k)), (f"recall@{k}", f"recall_at_{k}"),
                                     (f"NDCG@{k}", f"ndcg_at_{k}"))]
        return "; ".join(parts) + f" on {self.num_pairs} pairs, {self.num_items} items"


def factorized_name(k: int) -> str:
    """TFRS's name for the factorized top-K accuracy at k."""
    return f"factorized_top_k/top_{k}_categorical_accuracy"


def retrieval_report(model, data, ks=None, *, split: str = "validation", exclude_seen: bool = True,
                     users_per_batch: int = 1024) -> RetrievalReport:
    """Factorized top-K accuracy and keras-rs ranking metrics of `model` and of popularity.

    The ranking metrics (keras-rs `RecallAtK`, `NDCG`, `MeanReciprocalRank`,
    `MeanAveragePrecision`, one instance per K with an explicit name) rank the whole catalogue
    for each user who has held-out items: those items are the relevant ones, and with
    `exclude_seen` the user's train items are masked out of the list (keras-rs' `mask`). They
    take such per-query lists as they are, so no numpy stand-in is needed; each list is first cut
    to its head (`head_lists`), which leaves every metric exact.

    Args:
        model: a two-tower model.
        data: a retrieval `Dataset` with a validation split (or `split="train"`).
        ks: cut-offs; default (1, 5, 10, 50, 100) up to the catalogue's size.
        split: the held-out pairs: `"validation"` or `"train"`.
        exclude_seen: leave each user's train items out of their list for the ranking metrics.
        users_per_batch: users scored at once (a `(users, items)` matrix).
    """
    num_users, num_items = catalogue_size(model)
    if ks is None:
        ks = tuple(k for k in DEFAULT_KS if k <= num_items) or (num_items,)
    ks = _check_ks("retrieval_report", ks, num_items)
    exclude_seen = check_bool("retrieval_report", "exclude_seen", exclude_seen)
    users_per_batch = check_int("retrieval_report", "users_per_batch", users_per_batch, minimum=1)
    users, items = _split_ids("retrieval_report", data, split, num_users, num_items)
    seen = seen_by_user(data, num_users) if exclude_seen else None
    counts = item_popularity(data, num_items)
    popularity_scores = popularity_order_scores(counts)  # (I,): num_items for the top item down to 1

    candidates = np.asarray(model.item_embeddings(), dtype=np.float32)  # (I, d)
    model_metrics = {factorized_name(k): v for k, v in top_k_hits(positive_ranks(model, users, items), ks).items()}
    popular_ranks = num_items - popularity_scores[items].astype(np.int64)  # items more popular than each
    popular_metrics = {factorized_name(k): v for k, v in top_k_hits(popular_ranks, ks).items()}

    from nbmodels.data.recsys import seen_items

    query_users = np.unique(users)
    held_out = seen_items({"user": users, "item": items}, num_users)  # each user's relevant items
    relevant = [held_out[user] for user in query_users]
    model_lists = _ranking_metrics(ks)
    popular_lists = _ranking_metrics(ks)
    for start in range(0, len(query_users), users_per_batch):
        batch = query_users[start:start + users_per_batch]
        labels = np.zeros((len(batch), num_items), dtype=np.float32)
        for row, wanted in enumerate(relevant[start:start + users_per_batch]):
            labels[row, wanted] = 1.0
        mask = np.ones_like(labels, dtype=bool)
        if seen is not None:
            for row, user in enumerate(batch):
                mask[row, seen[user]] = False
            mask |= labels > 0  # an item both seen and held out is still a relevant one
        scores = np.asarray(model.user_embeddings(batch), dtype=np.float32) @ candidates.T  # (b, I)
        popular = np.broadcast_to(popularity_scores, labels.shape)
        for metrics, ranked in ((model_lists, scores), (popular_lists, popular)):
            target, short_scores = head_lists(ranked, labels, mask, max(ks))
            for metric in metrics:
                metric.update_state(target, short_scores)
    model_metrics.update({metric.name: float(metric.result()) for metric in model_lists})
    popular_metrics.update({metric.name: float(metric.result()) for metric in popular_lists})
    return RetrievalReport(ks=ks, model=model_metrics, popularity=popular_metrics, num_pairs=len(users),
                           num_users=len(query_users), num_items=num_items, exclude_seen=exclude_seen)


def head_lists(scores, labels, mask, depth: int):
    """Each row's list cut to its `depth` best unmasked items plus its relevant ones, as
    `({"labels", "mask"}, scores)` for keras-rs, which sorts every list it is given.

    Metrics at k <= depth come out exactly as on the whole catalogue: the top k is the same, and
    every relevant item is still there for the denominators (recall, MAP) and the ideal DCG. The
    lists are `depth + (most relevant items)` wide instead of the catalogue: on MovieLens 1M
    (3,706 items) that made the keras-rs part about ten times faster here.
    """
    if depth >= scores.shape[1]:
        return {"labels": labels, "mask": mask}, scores
    rows = np.arange(len(scores))[:, None]
    keep = labels > 0
    keep[rows, np.argpartition(np.where(mask, -scores, np.inf), depth - 1, axis=1)[:, :depth]] = True
    width = int(keep.sum(axis=1).max())
    picked = np.argsort(~keep, axis=1, kind="stable")[:, :width]  # (b, width): kept positions first
    return ({"labels": labels[rows, picked], "mask": (keep & mask)[rows, picked]}, scores[rows, picked])


def _ranking_metrics(ks) -> list:
    """keras-rs ranking metrics, one per (kind, K), each named (their default name is "mean")."""
    import keras_rs

    kinds = {"recall": keras_rs.metrics.RecallAtK, "ndcg": keras_rs.metrics.NDCG,
             "mrr": keras_rs.metrics.MeanReciprocalRank, "map": keras_rs.metrics.MeanAveragePrecision}
    # Ties do not occur in float scores, and without shuffling the result is the same on every call.
    return [kinds[kind](k=k, shuffle_ties=False, name=f"{kind}_at_{k}") for k in ks for kind in RANKING_METRICS]


def item_popularity(data, num_items: int) -> np.ndarray:
    """How often each item occurs in train: `extras["item_counts"]`, else counted from the pairs."""
    counts = (data.extras or {}).get("item_counts") if hasattr(data, "extras") else None
    if counts is None:
        counts = np.bincount(split_pairs("item_popularity", data, "train")[0]["item"], minlength=num_items)
    return np.asarray(counts, dtype=np.int64)[:num_items]


def popularity_order_scores(counts) -> np.ndarray:
    """Distinct float32 scores that rank items by count, the lower id first among equal counts."""
    order = np.argsort(-np.asarray(counts), kind="stable")
    scores = np.empty(len(order), dtype=np.float32)
    scores[order] = np.arange(len(order), 0, -1, dtype=np.float32)
    return scores


# ---- items: neighbours, explanations, a map -------------------------------------------------------

def similar_items(model, item, k: int = 10, similarity: str = "cosine"):
    """The `k` items nearest to `item` in the item tower's embedding space, the item itself left out.

    Args:
        model: a two-tower model.
        item: one item id, or a sequence of them.
        k: how many neighbours; at most the catalogue's size minus one.
        similarity: `"cosine"` (default: direction only, so popular items with long
            embeddings do not crowd every list) or `"dot"` (the retrieval score).

    Returns:
        `(ids, scores)`, best first: `(k,)` for one item, `(n, k)` for n.
    """
    _, num_items = catalogue_size(model)
    single = np.ndim(item) == 0
    item_ids = check_ids("similar_items", "item", item, num_items, "item")
    k = check_int("similar_items", "k", k, minimum=1, maximum=num_items - 1,
                  why=f"the catalogue has {num_items} items, the item itself left out")
    vectors = _item_vectors(model, similarity, "similar_items")
    scores = vectors[item_ids] @ vectors.T  # (n, I)
    scores[np.arange(len(item_ids)), item_ids] = -np.inf
    ids = _top(scores, k)
    return (ids[0], np.take_along_axis(scores, ids, 1)[0]) if single else (ids, np.take_along_axis(scores, ids, 1))


def explain(model, user, item, history, n: int = 3, similarity: str = "cosine"):
    """Why `item` is recommended to `user`: the `n` items of their history most similar to it.

    Args:
        model: a two-tower model.
        user: the user's id (checked against the model's users).
        item: the recommended item, or a sequence of them.
        history: the user's item ids, or the `Dataset` the model trained on (then the user's
            train items).
        n: how many history items; fewer when the history is shorter.
        similarity: `"cosine"` or `"dot"`, as `similar_items`.

    Returns:
        `(ids, similarities)`, most similar first: `(m,)` for one item, `(len(item), m)` for
        several, m = min(n, history length).
    """
    num_users, num_items = catalogue_size(model)
    user = check_ids("explain", "user", user, num_users, "user")[0]
    single = np.ndim(item) == 0
    item_ids = check_ids("explain", "item", item, num_items, "item")
    n = check_int("explain", "n", n, minimum=1)
    if hasattr(history, "train"):  # a Dataset
        history = seen_by_user(history, num_users)[user]
    history = np.unique(check_ids("explain", "history", history, num_items, "item", allow_empty=True))
    if len(history) == 0:
        raise ConfigError("explain", "history", [], "at least one item", message=(
            f"explain: user {user} has an empty history, so there is nothing to explain a recommendation with; "
            "pass the items the user interacted with (or the Dataset holding them)."))
    vectors = _item_vectors(model, similarity, "explain")
    scores = vectors[item_ids] @ vectors[history].T  # (m, H)
    top = _top(scores, min(n, len(history)))
    ids, values = history[top], np.take_along_axis(scores, top, 1)
    return (ids[0], values[0]) if single else (ids, values)


def pca(matrix, n_components: int = 2):
    """Principal components by numpy's SVD (no scikit-learn): `(points (N, n), explained
    variance share (n,))`, each axis's sign fixed so its largest loading is positive."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n_components = check_int("pca", "n_components", n_components, minimum=1, maximum=min(matrix.shape),
                             why=f"a {matrix.shape[0]} x {matrix.shape[1]} matrix")
    centred = matrix - matrix.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    points = (u * s * signs)[:, :n_components]
    variance = s ** 2
    share = variance[:n_components] / variance.sum() if variance.sum() > 0 else np.zeros(n_components)
    return points.astype(np.float32), share


def item_projection(model, n_components: int = 2) -> np.ndarray:
    """The item embeddings projected on their first principal components: `(num_items, n)`."""
    return pca(np.asarray(model.item_embeddings(), dtype=np.float32), n_components)[0]


# ---- shared checks and helpers --------------------------------------------------------------------

def catalogue_size(model) -> tuple[int, int]:
    """`(num_users, num_items)` of a two-tower model, from its config."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "num_users") or not hasattr(config, "num_items"):
        fail("nbmodels.inspect.recommenders", "model", type(model).__name__,
             "a two-tower model (nbmodels.models.recommenders.TwoTower) with config.num_users and num_items")
    return int(config.num_users), int(config.num_items)


def check_ids(owner, field: str, values, count: int, kind: str, *, allow_empty: bool = False) -> np.ndarray:
    """`values` (an id or a sequence of ids) as an int64 array of ids in 0..count-1."""
    array = np.asarray(values).reshape(-1)
    allowed = f"{kind} ids must be whole numbers from 0 to {count - 1:,} (the model knows {count:,} {kind}s)"
    if array.size == 0:
        if allow_empty:
            return array.astype(np.int64)
        fail(owner, field, values, allowed)
    if array.dtype.kind not in "iu":
        fail(owner, field, values, allowed)
    outside = array[(array < 0) | (array >= count)]
    if outside.size:
        fail(owner, field, outside[0].item(), allowed)  # the first bad id, not a long list
    return array.astype(np.int64)


def _check_ks(owner, k, num_items: int) -> tuple[int, ...]:
    ks = (k,) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else k
    if not isinstance(ks, (tuple, list)) or not ks:
        fail(owner, "k", k, "a whole number or a tuple of them")
    return tuple(check_int(owner, "k", value, minimum=1, maximum=num_items, why=f"the catalogue has {num_items} items")
                 for value in ks)


def split_pairs(owner, data, split: str):
    """`(x, None)` of a retrieval Dataset's split, x a dict with "user" and "item" ids."""
    check_choice(owner, "split", split, ("train", "validation"))
    if not hasattr(data, "train"):
        fail(owner, "data", type(data).__name__, "an nbmodels.data.Dataset of (user, item) pairs")
    pairs = getattr(data, split)
    if pairs is None:
        fail(owner, "data", getattr(data, "name", "") or "dataset",
             f"a Dataset with a {split} split (this one has none; load it with a split option)")
    x = pairs[0] if isinstance(pairs, tuple) else None
    if not isinstance(x, dict) or "user" not in x or "item" not in x:
        fail(owner, "data", getattr(data, "name", "") or "dataset",
             "a retrieval Dataset whose features are {'user': ids, 'item': ids} arrays")
    return pairs


def _split_ids(owner, data, split, num_users, num_items):
    x = split_pairs(owner, data, split)[0]
    users = check_ids(owner, f"data.{split}['user']", x["user"], num_users, "user")
    items = check_ids(owner, f"data.{split}['item']", x["item"], num_items, "item")
    return users, items


def _item_vectors(model, similarity: str, owner: str) -> np.ndarray:
    check_choice(owner, "similarity", similarity, SIMILARITIES)
    vectors = np.asarray(model.item_embeddings(), dtype=np.float32)  # (I, d)
    if similarity == "cosine":
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Column ids of each row's k largest scores, best first (the lower id first on a tie)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]
