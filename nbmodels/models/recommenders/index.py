"""TopKIndex: exact top-K retrieval over a candidate catalogue, leaving out ids per query.

Why not keras-rs' `BruteForceRetrieval`: it cannot leave anything out (a user's already seen
items come back as recommendations; TensorFlow Recommenders users asked for exclusion in
tensorflow/recommenders #113, #400 and #523), and it scores every query against every candidate
at once: 1,024 queries x 1M candidates is a 4 GB score matrix before `top_k` reads it.

`TopKIndex` gives the same answer (same ids, same order, scores equal) with bounded memory and
a fraction of the work, in one compiled `tf.function` per k (queries and exclusions of any
number reuse it). Top-100 of 1M x 64 for 1,024 queries on 2 CPU cores: 0.46 of the time and
0.13 of the peak memory, identical ids (bench/retrieval.py).

- Tiles: queries go in batches of `query_batch`, candidates in chunks of `chunk_size`; a tile of
  scores, (query_batch, chunk_size) float32 (64 MB by default, two in flight so the next tile's
  matmul overlaps this one's selection), is all the scores there are. A running top-k per query
  is merged with each tile's candidates, so memory does not grow with the catalogue.
- Groups and a threshold, so `top_k` reads little: `tf.math.top_k` costs several ns per element
  it reads, more than the matmul spends on it. A tile is cut into groups of g neighbouring
  candidates and each group's maximum taken (a vectorised `reduce_max`). Only a score above the
  running k-th best can enter, so only groups whose maximum beats it matter: after the first
  tiles a query has a handful, found without `top_k`, and one `top_k` over the running best plus
  their members merges them. Where a query has more than k such groups (the first tile, or
  candidates ordered by rising score) the k best groups by maximum are taken: they hold the
  tile's k best candidates, since every group ranked above the group of a top-k candidate holds
  a candidate beating it, and fewer than k do. Exact, also with ties.
- Ties go to the lower candidate position, as in `tf.math.top_k` (and so in brute force): a
  tile's candidates are kept in position order, and the running best (earlier tiles) comes first
  in every merge.
- Exclusion happens in the graph: the excluded ids become candidate positions padded to a
  (Q, M) matrix (-1 = none); each tile that holds some scatters -inf into its scores before
  anything reads them.

Example:
>>> import numpy as np
>>> from nbmodels.models.recommenders.index import TopKIndex
>>> items = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]], dtype="float32")
>>> index = TopKIndex(items, candidate_ids=[10, 11, 12, 13])
>>> scores, ids = index.search(np.array([[1.0, 0.2]], dtype="float32"), k=2)
>>> ids, scores.round(2)
(array([[10, 12]]), array([[1.  , 0.84]], dtype=float32))
>>> index.search(np.array([[1.0, 0.2]], dtype="float32"), k=2, exclude=[[10]])[1]  # already seen
array([[12, 11]])
>>> index.search(np.array([[1.0, 0.2]], dtype="float32"), k=4, exclude=[[10]])
Traceback (most recent call last):
...
nbmodels.checks.ConfigError: TopKIndex.search.k=4 is not allowed: it must be a whole number from 1 to 3 (the catalogue has 4 candidates and one query excludes 1 of them).
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from nbmodels.checks import check_int

DEFAULT_CHUNK_SIZE = 65_536  # candidates per tile
DEFAULT_QUERY_BATCH = 256  # queries per tile: a (256, 65536) float32 tile is 64 MB
# Tiles in flight: the next tile's matmul overlaps this one's selection; each more holds one more tile.
_PARALLEL_TILES = 2


class TopKIndex:
    """Exact top-K search of query embeddings against candidate embeddings (dot product).

    Args:
        candidate_embeddings: `(N, d)` float array, one row per candidate (cast to float32).
        candidate_ids: `(N,)` distinct integer ids returned for the candidates; positions
            `0..N-1` when None (as keras-rs `BruteForceRetrieval`).
        chunk_size: candidates per tile (default 65,536). Any size works; with `query_batch` it
            bounds the memory a search needs.
        query_batch: queries per tile (default 256).

    `search(queries, k, exclude=None)` returns `(scores (Q, k) float32, ids (Q, k))`, best first.
    `TopKIndex.from_model(model)` indexes a model's `item_embeddings()`, and
    `index.recommend(model, user_ids, k, exclude=...)` searches with its `user_embeddings`.
    """

    def __init__(self, candidate_embeddings, candidate_ids=None, *, chunk_size: int | None = None,
                 query_batch: int | None = None):
        owner = "TopKIndex"
        embeddings = np.asarray(candidate_embeddings)
        if embeddings.ndim != 2 or embeddings.shape[0] < 1 or embeddings.shape[1] < 1:
            raise ValueError(f"{owner}: candidate_embeddings must be a non-empty (N, d) array, got shape "
                             f"{embeddings.shape}.")
        if embeddings.dtype.kind not in "fiu" or not _finite(embeddings):
            raise ValueError(f"{owner}: candidate_embeddings must be finite numbers (dtype {embeddings.dtype}); "
                             f"a NaN or inf would make every score it touches meaningless.")
        size = len(embeddings)
        if candidate_ids is None:
            ids = np.arange(size, dtype="int32")
        else:
            ids = np.asarray(candidate_ids)
            if ids.shape != (size,) or ids.dtype.kind not in "iu":
                raise ValueError(f"{owner}: candidate_ids must be {size:,} integers, one per candidate embedding; "
                                 f"got shape {ids.shape} of {ids.dtype}.")
        self._sorter = np.argsort(ids, kind="stable")
        self._sorted_ids = ids[self._sorter]
        repeated = np.flatnonzero(self._sorted_ids[1:] == self._sorted_ids[:-1])
        if repeated.size:
            raise ValueError(f"{owner}: candidate_ids must be distinct (an excluded or returned id must name one "
                             f"candidate); {self._sorted_ids[repeated[0]]} occurs more than once.")
        self.ids = ids
        self.chunk_size = check_int(owner, "chunk_size", DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
                                    minimum=1)
        self.query_batch = check_int(owner, "query_batch",
                                     DEFAULT_QUERY_BATCH if query_batch is None else query_batch, minimum=1)
        self._candidates = _private_tensor(embeddings)
        self._functions: dict[int, tf.types.experimental.GenericFunction] = {}

    @classmethod
    def from_model(cls, model, **options) -> TopKIndex:
        """An index of `model.item_embeddings()` (every item; ids 0..num_items-1), e.g. a `TwoTower`.
        `options` go to the constructor (`chunk_size`, `query_batch`)."""
        if not callable(getattr(model, "item_embeddings", None)):
            raise ValueError(f"TopKIndex.from_model needs a model with item_embeddings() (a TwoTower); "
                             f"{type(model).__name__} has none.")
        return cls(model.item_embeddings(), **options)

    @property
    def size(self) -> int:
        """How many candidates the index holds."""
        return int(self._candidates.shape[0])

    @property
    def dim(self) -> int:
        """The embedding width queries must have."""
        return int(self._candidates.shape[1])

    @property
    def tracing_count(self) -> int:
        """How often the search graphs were traced: once per k, whatever the queries' number."""
        return sum(function.experimental_get_tracing_count() for function in self._functions.values())

    def recommend(self, model, user_ids, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The k best candidates for each of `user_ids`, scored with `model.user_embeddings(user_ids)`;
        `exclude[i]` (e.g. `seen[user_ids[i]]`) holds the ids to leave out for `user_ids[i]`."""
        if not callable(getattr(model, "user_embeddings", None)):
            raise ValueError(f"TopKIndex.recommend needs a model with user_embeddings() (a TwoTower); "
                             f"{type(model).__name__} has none.")
        return self.search(model.user_embeddings(user_ids), k, exclude=exclude)

    def search(self, query_embeddings, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The k best candidates of each query by dot product, best first (ties: lower position first).

        Args:
            query_embeddings: `(Q, d)` float array.
            k: how many candidates per query, 1 to the catalogue's size minus the largest exclusion.
            exclude: None, or a sequence of Q entries, each None or an array of candidate ids that
                query must not get back (its seen items, say).

        Returns:
            `(scores, ids)`: `(Q, k)` float32 scores and `(Q, k)` candidate ids.
        """
        queries = np.asarray(query_embeddings)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"TopKIndex.search: query_embeddings must have shape (Q, {self.dim}), the candidates' "
                             f"width; got shape {queries.shape}.")
        if queries.dtype.kind not in "fiu" or not _finite(queries):
            raise ValueError("TopKIndex.search: query_embeddings must be finite numbers.")
        excluded, most_excluded = self._excluded_positions(exclude, len(queries))
        if most_excluded:
            why = (f"the catalogue has {self.size:,} candidates and one query excludes {most_excluded:,} of them")
        else:
            why = f"the catalogue has {self.size:,} candidates"
        k = check_int("TopKIndex.search", "k", k, minimum=1, maximum=self.size - most_excluded, why=why)
        if not len(queries):
            return np.zeros((0, k), "float32"), self.ids[:0].reshape(0, k)
        scores, positions = self._search_function(k)(tf.constant(queries, tf.float32), tf.constant(excluded))
        return scores.numpy(), self.ids[positions.numpy()]

    def _excluded_positions(self, exclude, num_queries: int) -> tuple[np.ndarray, int]:
        """`exclude` as candidate positions, (Q, M) int32 padded with -1, and the most distinct
        positions one query excludes."""
        if exclude is None:
            return np.full((num_queries, 0), -1, "int32"), 0
        if isinstance(exclude, (str, bytes)) or not hasattr(exclude, "__len__") or len(exclude) != num_queries:
            got = f"{len(exclude)} entries" if hasattr(exclude, "__len__") else type(exclude).__name__
            raise ValueError(f"TopKIndex.search: exclude must hold one entry per query ({num_queries:,}: an array of "
                             f"candidate ids, or None), got {got}.")
        rows = [np.zeros(0, "int64") if entry is None else np.asarray(entry).ravel() for entry in exclude]
        lengths = np.array([len(row) for row in rows], dtype="int64")
        flat = np.concatenate([row for row in rows if len(row)] or [np.zeros(0, "int64")])
        if flat.dtype.kind not in "iu":
            raise ValueError(f"TopKIndex.search: exclude must hold integer candidate ids, got {flat.dtype} values.")
        found = np.minimum(np.searchsorted(self._sorted_ids, flat), self.size - 1)
        unknown = np.flatnonzero(self._sorted_ids[found] != flat)
        row_of = np.repeat(np.arange(num_queries), lengths)
        if unknown.size:
            first = unknown[0]
            raise ValueError(f"TopKIndex.search: exclude[{row_of[first]}] holds id {flat[first]}, which is not a "
                             f"candidate id ({unknown.size:,} such ids in all); exclude only ids of the catalogue.")
        positions = self._sorter[found].astype("int32")
        # Distinct positions per query: a repeated id excludes one candidate, not two.
        distinct = np.unique(row_of * self.size + positions)
        most = int(np.bincount(distinct // self.size, minlength=num_queries).max()) if distinct.size else 0
        padded = np.full((num_queries, int(lengths.max(initial=0))), -1, "int32")
        padded[row_of, np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = positions
        return padded, most

    def _search_function(self, k: int):
        """The compiled search for this k: one trace serves any number of queries and exclusions."""
        if k not in self._functions:
            graph = functools.partial(_search_graph, self._candidates, k=k, chunk_size=self.chunk_size,
                                      query_batch=self.query_batch)
            # The loops and branches are written as tf.while_loop / tf.cond already: no AutoGraph.
            self._functions[k] = tf.function(graph, autograph=False, input_signature=(
                tf.TensorSpec([None, self.dim], tf.float32), tf.TensorSpec([None, None], tf.int32)))
        return self._functions[k]


def _finite(array: np.ndarray) -> bool:
    """No NaN or inf in `array`; min and max propagate both, without an array of booleans."""
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def _private_tensor(array: np.ndarray):
    """A float32 tensor holding a private copy of `array` (N, d), on the first GPU if there is one.

    `tf.convert_to_tensor` of a numpy array peaks at twice its size (measured here: +500 MB for
    a 256 MB catalogue); a copy into 64-byte aligned memory (TensorFlow's alignment: an unaligned
    buffer aborts the process) handed over through DLPack costs the copy alone.
    """
    buffer = np.empty(array.size + 16, "float32")
    start = (-buffer.ctypes.data % 64) // 4
    copy = buffer[start : start + array.size].reshape(array.shape)
    copy[...] = array
    tensor = tf.experimental.dlpack.from_dlpack(copy.__dlpack__())  # keeps `buffer` alive; on the host
    if tf.config.list_logical_devices("GPU"):  # where the search runs: no host-to-GPU copy per search
        with tf.device("/GPU:0"):
            tensor = tf.identity(tensor)
    return tensor


def _search_graph(candidates, queries, excluded, *, k: int, chunk_size: int, query_batch: int):
    """(Q, k) best scores and candidate positions of `queries` (Q, d), leaving out `excluded`
    (Q, M) positions (-1 = none). Query batches, each run over every candidate tile."""
    num_candidates = candidates.shape[0]
    chunk_size = min(chunk_size, num_candidates)
    full_chunks, rest = divmod(num_candidates, chunk_size)
    num_queries = tf.shape(queries)[0]

    def one_batch(start):
        batch = queries[start : start + query_batch]  # (b, d)
        batch_excluded = excluded[start : start + query_batch]  # (b, M)
        rows = tf.shape(batch)[0]
        best = (tf.fill([rows, k], -np.inf), tf.fill([rows, k], -1))  # displaced by any real score

        def tile(offset, width, best):
            scores = tf.matmul(batch, tf.slice(candidates, [offset, 0], [width, -1]), transpose_b=True)  # (b, W)
            scores = _mask_excluded(scores, batch_excluded - offset)
            values, positions = _tile_candidates(scores, best[0][:, k - 1], k)
            return _merge(best, (values, positions + offset), k)

        if full_chunks:
            _, *best = tf.while_loop(lambda j, *_: j < full_chunks,
                                     lambda j, *best: (j + 1, *tile(j * chunk_size, chunk_size, best)), (0, *best),
                                     parallel_iterations=_PARALLEL_TILES)
        if rest:
            best = tile(full_chunks * chunk_size, rest, best)
        return best

    def body(start, all_values, all_positions):
        values, positions = one_batch(start)
        index = start // query_batch
        return start + query_batch, all_values.write(index, values), all_positions.write(index, positions)

    batches = (num_queries + query_batch - 1) // query_batch
    arrays = (tf.TensorArray(tf.float32, size=batches, infer_shape=False),
              tf.TensorArray(tf.int32, size=batches, infer_shape=False))
    _, values, positions = tf.while_loop(lambda start, *_: start < num_queries, body, (0, *arrays),
                                         parallel_iterations=1)  # one query batch at a time: bounded memory
    return values.concat(), positions.concat()


def _mask_excluded(scores, local):
    """`scores` (b, W) with -inf where `local` (b, M), excluded positions relative to this tile, falls inside."""
    inside = (local >= 0) & (local < tf.shape(scores)[1])

    def masked():
        found = tf.where(inside)  # (m, 2): row, slot
        indices = tf.stack([tf.cast(found[:, 0], tf.int32), tf.gather_nd(local, found)], axis=1)
        return tf.tensor_scatter_nd_update(scores, indices, tf.fill(tf.shape(indices)[:1], -np.inf))

    # The scatter writes a copy of the tile: skip it where nothing is excluded.
    return tf.cond(tf.reduce_any(inside), masked, lambda: scores)


def _group_size(width: int, k: int) -> int:
    """Members per group, a power of two near sqrt(width / k), which balances the group maxima a
    tile's groups have against the members of k groups; 1 (no groups) when they would save little."""
    size = 2 ** round(np.log2(max(width / k, 1.0)) / 2)
    return size if size >= 4 and -(-width // size) >= 2 * k else 1


def _tile_candidates(scores, threshold, k: int):
    """The scores of `scores` (b, W) that may enter a running top-k whose k-th value is
    `threshold` (b,), with their positions in the tile: (b, n) each, in position order.

    They are the members of some groups of neighbouring candidates. The groups whose maximum
    beats the threshold hold every candidate that can enter; after the first tiles a query has a
    handful of them, taken without any `top_k`. Where a query has more than k such groups (the
    first tile; candidates ordered by rising score), the k best groups by maximum hold the
    tile's k best candidates (every group ranked above the group of a top-k candidate holds a
    candidate beating it, and fewer than k do).
    """
    width = scores.shape[1]
    group = _group_size(width, k)
    if group == 1:
        return scores, tf.broadcast_to(tf.range(width), tf.shape(scores))
    groups = -(-width // group)
    if groups * group > width:  # a last partial group, filled with -inf that never wins
        scores = tf.pad(scores, [[0, 0], [0, groups * group - width]], constant_values=-np.inf)
    grouped = tf.reshape(scores, [-1, groups, group])  # (b, G, g)
    maxima = tf.reduce_max(grouped, axis=-1)  # (b, G)
    live = maxima > threshold[:, None]  # only a score above the k-th best can enter
    counts = tf.reduce_sum(tf.cast(live, tf.int32), axis=1)  # (b,)
    most = tf.reduce_max(counts)

    def live_groups():  # (b, most) group numbers in order, -1 after a row's last
        found = tf.where(live)  # (m, 2) rows, groups; row-major, so groups ascend within a row
        rows, numbers = tf.cast(found[:, 0], tf.int32), tf.cast(found[:, 1], tf.int32)
        slots = tf.range(tf.shape(rows)[0]) - tf.gather(tf.cumsum(counts, exclusive=True), rows)
        dense = tf.scatter_nd(tf.stack([rows, slots], axis=1), numbers + 1, [tf.shape(scores)[0], most])
        return dense - 1

    def best_groups():  # (b, k) the k best groups by maximum, put back in position order
        return tf.sort(tf.math.top_k(maxima, k).indices, axis=-1)

    chosen = tf.cond(most <= k, live_groups, best_groups)  # (b, n)
    members = tf.gather(grouped, tf.maximum(chosen, 0), batch_dims=1)  # (b, n, g)
    members = tf.where(chosen[:, :, None] >= 0, members, -np.inf)
    positions = tf.maximum(chosen, 0)[:, :, None] * group + tf.range(group)
    rows = tf.shape(scores)[0]
    return tf.reshape(members, [rows, -1]), tf.reshape(positions, [rows, -1])


def _merge(best, new, k: int):
    """The k best of the running best (sorted, from earlier tiles) and a tile's candidates (in
    position order); the running best goes first, so it wins ties against the tile."""
    values, picked = tf.math.top_k(tf.concat([best[0], new[0]], axis=1), k)
    return values, tf.gather(tf.concat([best[1], new[1]], axis=1), picked, batch_dims=1)
