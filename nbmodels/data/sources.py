"""Where a dataset's examples come from: arrays in memory, rows loaded by index, or a tf.data pipeline.

Training reads examples by index: batch k of a run is a permutation of indices that depends only
on (seed, batch size, k) (see `nbmodels.training.inputs`), so a resumed run reads exactly the
batches the uninterrupted one would have read. Anything that can hand over the rows for a list of
indices can therefore feed training, and resume stays exact. That is the `Source` protocol:

- `len(source)`: the number of examples;
- `source.rows(indices)` -> `(features, targets)`: features an array or a dict of named arrays,
  targets an array or `None` (retrieval trains on positive pairs and has no targets), each with
  one row per index, in the order of `indices`.

Three kinds are built in:

- `ArraySource`: numpy arrays in memory (what `Dataset(train=(x, y))` holds).
- `LazySource`: rows loaded on demand by a per-row or per-batch loader function (an image
  folder, a memory-mapped file), read by a thread pool and a bounded number of batches ahead
  of training. Only the rows of the batches being served are read, never the whole set.
- `TFDataSource`: a `tf.data.Dataset` of single examples. It is read in its own order and cannot
  be addressed by index, so **exact resume needs an indexable source**: a run on a tf.data
  source resumes by replaying the pipeline up to the resumed step (`skip`), which costs reading
  those examples again and repeats the same batches only when the pipeline is deterministic
  (the same examples in the same order every time it is read: a seeded shuffle with
  `reshuffle_each_iteration=False`, `deterministic=True` maps); `train()` warns when it does this.

Example:

>>> import numpy as np
>>> from nbmodels.data import ArraySource, LazySource
>>> arrays = ArraySource({"user": np.arange(6), "item": np.arange(6) % 3}, None)
>>> len(arrays), arrays.rows([4, 1])
(6, ({'user': array([4, 1]), 'item': array([1, 1])}, None))
>>> def load_row(i):  # e.g. read and decode one image file
...     return np.full((2, 2), i, "float32"), np.int32(i % 2)
>>> lazy = LazySource(100, load_row=load_row)
>>> features, targets = lazy.rows([3, 8])
>>> features.shape, targets.tolist()
((2, 2, 2), [1, 0])
"""

from __future__ import annotations

import concurrent.futures
import sys
import threading
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from nbmodels.checks import ConfigError, check_int, fail


@runtime_checkable
class Source(Protocol):
    """Examples addressed by index: `len(source)` and `source.rows(indices)` -> `(features, targets)`."""

    def __len__(self) -> int: ...

    def rows(self, indices) -> tuple[Any, np.ndarray | None]: ...


class ArraySource:
    """Examples held in numpy arrays.

    Args:
        features: an array with one row per example, or a dict of such arrays (one per model input).
        targets: an array with one row per example, or `None` when the model's loss needs none.
        name: what the arrays are called in error messages, e.g. `"Dataset train"`.
    """

    def __init__(self, features, targets=None, *, name: str = "source"):
        check_arrays(name, features, targets)
        self.features, self.targets = features, targets

    def __len__(self) -> int:
        return num_rows(self.features)

    def rows(self, indices):
        indices = np.asarray(indices, np.int64)
        return _take(self.features, indices), None if self.targets is None else self.targets[indices]

    def __repr__(self) -> str:
        return f"ArraySource({len(self)} examples)"


class LazySource:
    """Examples loaded only when training asks for them, by a per-row or a per-batch loader.

    Give exactly one loader:

    - `load_row(index) -> (features, target)`: one example; called for the rows of a batch in
      parallel by a pool of `threads` threads (file reads and image decoding release the GIL).
      `features` is an array or a dict of arrays; `target` a value, an array, or `None`.
    - `load_batch(indices) -> (features, targets)`: a whole batch at once (one read of a
      memory-mapped file, one database query), rows in the order of `indices`.

    Training keeps at most `prefetch` batches loading in parallel, and `prefetch` more loaded,
    ahead of the step being trained; nothing else is read. The first example (index 0) is read
    once, when the shapes and dtypes are first needed.

    Args:
        length: the number of examples.
        load_row, load_batch: the loader (exactly one).
        threads: threads that load the rows of one batch (per-row loader only).
        prefetch: batches loaded ahead of training, and in parallel.

    Example:

    >>> import numpy as np
    >>> from nbmodels.data import LazySource
    >>> table = np.arange(20, dtype="float32").reshape(10, 2)
    >>> source = LazySource(10, load_batch=lambda indices: (table[indices], None))
    >>> source.rows([9, 0])
    (array([[18., 19.],
           [ 0.,  1.]], dtype=float32), None)
    """

    def __init__(
        self,
        length: int,
        *,
        load_row: Callable[[int], tuple] | None = None,
        load_batch: Callable[[np.ndarray], tuple] | None = None,
        threads: int = 8,
        prefetch: int = 2,
    ):
        length = check_int("LazySource", "length", length, minimum=0, fix="Give the number of examples")
        if (load_row is None) == (load_batch is None):
            allowed = ("pass load_row=f (f(index) -> (features, target)) "
                       "or load_batch=f (f(indices) -> (features, targets))")
            raise ConfigError("LazySource", "load_row", load_row, allowed, message=(
                f"LazySource needs exactly one loader, got {'both' if load_row is not None else 'neither'}: {allowed}."
            ))
        loader_field, loader = ("load_row", load_row) if load_row is not None else ("load_batch", load_batch)
        if not callable(loader):
            fail("LazySource", loader_field, loader, "it must be a function")
        threads = check_int("LazySource", "threads", threads, minimum=1)
        prefetch = check_int("LazySource", "prefetch", prefetch, minimum=1)
        self.length, self.threads, self.prefetch = length, threads, prefetch
        self._load_row, self._load_batch = load_row, load_batch
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._first = None  # rows([0]), kept: shapes and dtypes are asked for more than once

    def __len__(self) -> int:
        return self.length

    def rows(self, indices):
        indices = np.asarray(indices, np.int64)
        if self._load_batch is not None:
            features, targets = _pair(self._load_batch(indices), "load_batch")
            return _as_arrays(features), None if targets is None else np.asarray(targets)
        examples = [_pair(example, "load_row") for example in self._threads().map(self._load_row, indices.tolist())]
        features = _stack([features for features, _ in examples])
        targets = [target for _, target in examples]
        return features, None if targets and targets[0] is None else np.stack([np.asarray(t) for t in targets])

    def first(self):
        """The rows of example 0, read once and kept."""
        if self._first is None:
            self._first = self.rows(np.array([0]))
        return self._first

    def _threads(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="nbmodels-rows")
            return self._pool

    def __repr__(self) -> str:
        return f"LazySource({self.length} examples)"


class TFDataSource:
    """A `tf.data.Dataset` of single (unbatched) examples: `(features, targets)` pairs or features alone.

    It is read in its own order (shuffle it yourself, with a seed, if you want it shuffled) and
    cannot be addressed by index, so a resumed run replays it up to the resumed step; see the
    module docstring. Prefer an `ArraySource` or `LazySource` when exact resume matters.

    Args:
        dataset: the `tf.data.Dataset`.
        length: the number of examples, needed when tf.data cannot tell (after `filter`, or
            from a generator).
    """

    def __init__(self, dataset, *, length: int | None = None):
        import tensorflow as tf

        if not isinstance(dataset, tf.data.Dataset):
            fail("TFDataSource", "dataset", dataset, "it must be a tf.data.Dataset")
        if length is None:
            length = int(dataset.cardinality())
            if length < 0:
                fail("TFDataSource", "length", None, (
                    "tf.data cannot tell how many examples this dataset holds (its cardinality is unknown or "
                    "infinite): pass length=<number of examples>, e.g. TFDataSource(dataset, length=50_000)"
                ))
        length = check_int("TFDataSource", "length", length, minimum=0)
        self.dataset, self.length = dataset, length
        spec = dataset.element_spec
        self.has_targets = isinstance(spec, tuple) and len(spec) == 2
        self._first = None

    def __len__(self) -> int:
        return self.length

    def rows(self, indices):
        raise TypeError(
            "A tf.data.Dataset cannot be read by index. Wrap its rows in an ArraySource or a "
            "LazySource to read them by index (and resume exactly)."
        )

    def first(self):
        """Example 0 as numpy arrays with a leading batch axis of 1, read once and kept."""
        if self._first is None:
            element = next(iter(self.examples().batch(1).take(1).as_numpy_iterator()))
            self._first = element if len(element) == 2 else (element[0], None)
        return self._first

    def examples(self):
        """The pipeline's examples as `(features, targets)` or `(features,)` tuples, as Keras takes them."""
        if self.has_targets:
            return self.dataset
        spec = self.dataset.element_spec
        if isinstance(spec, tuple) and len(spec) == 1:
            return self.dataset
        return self.dataset.map(lambda features: (features,))

    def __repr__(self) -> str:
        return f"TFDataSource({self.length} examples)"


def as_source(data, *, name: str = "source"):
    """`data` as a Source: an `(x, y)` pair of arrays becomes an `ArraySource`, a `tf.data.Dataset`
    a `TFDataSource`; a Source is returned as it is."""
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return ArraySource(*data, name=name)
    if is_tf_dataset(data):
        return TFDataSource(data)
    if isinstance(data, Source) and not isinstance(data, np.ndarray):
        return data
    raise ValueError(
        f"{name} must be an (x, y) pair of numpy arrays (x may be a dict of arrays, y may be None), "
        f"a Source (nbmodels.data.LazySource, ArraySource) or a tf.data.Dataset; got {type(data).__name__}."
    )


def is_tf_dataset(data) -> bool:
    """Whether `data` is a tf.data.Dataset."""
    # tf.data is only looked for when TensorFlow is already imported: whoever made one did.
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def first_rows(source):
    """`(features, targets)` of the first example, with a batch axis of 1: how shapes, dtypes
    and a sample of the data are learned without reading the whole set."""
    if hasattr(source, "first"):
        return source.first()
    return source.rows(np.array([0]))


def check_arrays(name: str, features, targets) -> None:
    """Raise ValueError unless features (an array or a dict of arrays) and targets (an array or
    None) are numpy arrays with the same number of rows."""
    arrays = features.values() if isinstance(features, dict) else [features]
    if isinstance(features, dict) and (not features or not all(isinstance(key, str) for key in features)):
        raise ValueError(f"{name} features must be a non-empty dict with str keys (the model's input names), "
                         f"got keys {list(features)}.")
    if not all(isinstance(array, np.ndarray) for array in [*arrays, *([] if targets is None else [targets])]):
        kinds = ({k: type(v).__name__ for k, v in features.items()} if isinstance(features, dict)
                 else type(features).__name__)
        raise ValueError(f"{name} must hold numpy arrays, got ({kinds}, {type(targets).__name__}).")
    lengths = {len(array) for array in arrays if array.ndim}
    if any(array.ndim == 0 for array in arrays) or len(lengths) > 1:
        raise ValueError(
            f"{name} x arrays must each have one row per example; got shapes "
            f"{ {k: v.shape for k, v in features.items()} if isinstance(features, dict) else features.shape }."
        )
    if targets is not None and lengths and len(targets) not in lengths:
        raise ValueError(f"{name} x has {lengths.pop()} examples but y has {len(targets)}; they must match.")


def num_rows(features) -> int:
    first = next(iter(features.values())) if isinstance(features, dict) else features
    return len(first)


def describe_example(features, targets) -> str:
    """'x (8,) float32 -> y () int32' for one example (rows of a batch of 1 or more)."""
    def one(array):
        return f"{tuple(np.shape(array)[1:])} {np.asarray(array).dtype}"

    if isinstance(features, dict):
        x = "{" + ", ".join(f"{key}: {one(value)}" for key, value in features.items()) + "}"
    else:
        x = one(features)
    return f"x {x} -> " + ("no y" if targets is None else f"y {one(targets)}")


def _take(features, indices):
    if isinstance(features, dict):
        return {key: value[indices] for key, value in features.items()}
    return features[indices]


def _pair(example, loader: str):
    if not isinstance(example, tuple) or len(example) != 2:
        raise ValueError(
            f"LazySource's {loader} must return a (features, targets) pair (targets may be None), "
            f"got {type(example).__name__}."
        )
    return example


def _as_arrays(features):
    if isinstance(features, dict):
        return {key: np.asarray(value) for key, value in features.items()}
    return np.asarray(features)


def _stack(examples: list):
    if isinstance(examples[0], dict):
        return {key: np.stack([np.asarray(example[key]) for example in examples]) for key in examples[0]}
    return np.stack([np.asarray(example) for example in examples])
