"""Training data as a stream of batches addressed by step, so a resumed run sees exactly
the batches the uninterrupted run would have seen.

Batch k of a run is a pure function of (data, seed, batch size, k): pass p over the data is
a permutation drawn by `tf.random.experimental.index_shuffle` from (seed, p), so starting at
any step needs no replay and no saved iterator state.

The stream is a permutation of indices whatever holds the examples (`nbmodels.data.sources`):
arrays in memory are gathered inside the graph; a lazy source reads the rows of each batch
when the stream reaches it (its own threads, a bounded number of batches ahead), never the
whole set. A tf.data pipeline has no indices: it is read in its own order, and a resumed run
replays it up to the step (exact only for a deterministic pipeline; `train()` warns).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from nbmodels.data.sources import ArraySource, Source, TFDataSource, as_source, first_rows, is_tf_dataset
from nbmodels.training import input_checks


@dataclasses.dataclass
class TrainingData:
    """Examples split for training, with the defaults their dataset suggests.

    `train` and `validation` are Sources (`nbmodels.data.sources`): arrays in memory, rows
    loaded lazily by index, or a tf.data pipeline. Targets may be None (the model's loss needs
    none, as in retrieval on positive pairs).
    """

    train: object  # a Source
    validation: object | None  # a Source, or None
    loss: str | None = None
    metrics: tuple = ()
    tokens_per_sample: int | None = None
    logits: bool = False  # the loss is a dataset default: models return logits, so from_logits=True
    description: dict = dataclasses.field(default_factory=dict)

    @property
    def num_examples(self) -> int:
        return len(self.train)

    @property
    def has_targets(self) -> bool:
        return _sample(self.train)[1] is not None

    @property
    def splits(self) -> dict:
        """{"train": (x, y), "validation": (x, y)} of what the checks look at: the whole arrays
        in memory, the first example of a lazy or tf.data source (reading all would defeat it)."""
        sources = {"train": self.train, "validation": self.validation}
        return {split: _sample(source) for split, source in sources.items() if source is not None}

    def example_features(self):
        """The features of one training example, with a batch axis of 1 (to build a model)."""
        features = _sample(self.train)[0]
        return {k: v[:1] for k, v in features.items()} if isinstance(features, dict) else features[:1]

    def check_fits(self, model, loss) -> None:
        """Raise ValueError, before the first step, when the examples do not fit `model` (input
        shape, text where it takes numbers) or the labels are outside its classes under a sparse
        categorical `loss`. See `input_checks`."""
        input_checks.check_fits_model(self.splits, model, loss)

    def steps_per_epoch(self, batch_size: int) -> int:
        steps = self.num_examples // batch_size
        if steps == 0:
            raise ValueError(
                f"TrainConfig.batch_size={batch_size} is larger than the {self.num_examples} training "
                f"examples: use batch_size <= {self.num_examples}."
            )
        return steps

    def batch_indices(self, batch_size: int, seed: int, start_step: int, end_step: int):
        """A tf.data.Dataset of the example indices of the batches for steps start_step+1 .. end_step:
        pass p over the data is the permutation `index_shuffle` draws from (seed, p)."""
        import tensorflow as tf

        per_epoch = self.steps_per_epoch(batch_size) * batch_size
        last = tf.constant(self.num_examples - 1, tf.int64)

        def example_index(position):
            epoch, within = position // per_epoch, position % per_epoch
            key = tf.stack([tf.constant(seed, tf.int64), epoch])  # a new permutation every pass
            return tf.random.experimental.index_shuffle(within, key, last)

        positions = tf.data.Dataset.range(start_step * batch_size, end_step * batch_size)
        return positions.map(example_index, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(
            batch_size, drop_remainder=True
        )

    def stream(self, batch_size: int, seed: int, start_step: int, end_step: int):
        """A tf.data.Dataset of the batches for steps start_step+1 .. end_step."""
        import tensorflow as tf

        if isinstance(self.train, TFDataSource):
            return _replayed(self.train, self.steps_per_epoch(batch_size), batch_size, start_step, end_step)
        indices = self.batch_indices(batch_size, seed, start_step, end_step)
        if isinstance(self.train, ArraySource):
            # In memory: gathered inside the graph, no Python per batch.
            x, y = self.train.features, self.train.targets
            tensors = tf.nest.map_structure(tf.constant, (x,) if y is None else (x, y))
            gather = lambda batch: tf.nest.map_structure(lambda t: tf.gather(t, batch), tensors)  # noqa: E731
            return indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(
                tf.data.AUTOTUNE
            )
        # Read by index: only the rows of the batches being served, a bounded number of batches ahead.
        ahead = getattr(self.train, "prefetch", 2)
        return indices.map(_reader(self.train, batch_size), num_parallel_calls=ahead, deterministic=True).prefetch(
            ahead
        )

    def validation_stream(self, batch_size: int):
        """The validation examples in order, as a tf.data.Dataset (None without any).

        A dataset rather than arrays: Keras cannot hand numpy arrays to a multi-worker strategy.
        """
        if self.validation is None:
            return None
        import tensorflow as tf

        source = self.validation
        if isinstance(source, TFDataSource):
            return source.examples().batch(batch_size).prefetch(2)
        if isinstance(source, ArraySource):
            x, y = source.features, source.targets
            return tf.data.Dataset.from_tensor_slices((x,) if y is None else (x, y)).batch(batch_size).prefetch(2)
        starts = tf.data.Dataset.range(0, len(source), batch_size)
        in_order = starts.map(lambda start: tf.range(start, tf.minimum(start + batch_size, len(source))))
        return in_order.map(_reader(source, None), num_parallel_calls=getattr(source, "prefetch", 2),
                            deterministic=True).prefetch(getattr(source, "prefetch", 2))


def as_training_data(data, loss=None, metrics=None) -> TrainingData:
    """Accepts an `nbmodels.data.Dataset`, an (x, y) tuple, a Source or a tf.data.Dataset, or
    {"train": ..., "validation": ...} of those. x may be a dict of arrays, y may be None."""
    training_data = _training_data(data, loss, metrics)
    # Empty splits, text targets, NaN or infinite values: refused before any run is made.
    input_checks.check_lengths(training_data.train, training_data.validation)
    input_checks.check_arrays(training_data.splits)
    return training_data


def _training_data(data, loss, metrics) -> TrainingData:
    if hasattr(data, "train") and hasattr(data, "task"):  # an nbmodels.data.Dataset
        return TrainingData(
            train=as_source(data.train, name="train"),
            validation=None if data.validation is None else as_source(data.validation, name="validation"),
            loss=loss or data.loss or None,  # "": the model computes its own loss (retrieval)
            metrics=tuple(metrics if metrics is not None else data.metrics),
            tokens_per_sample=data.tokens_per_sample,
            description={"dataset": data.name, "task": data.task},
            logits=loss is None,
        )
    if isinstance(data, dict):
        unknown = set(data) - {"train", "validation"}
        if "train" not in data or unknown:
            raise ValueError(
                "train() takes data as {'train': (x, y), 'validation': (x, y)}; "
                f"got keys {sorted(data)}."
            )
        train, validation = data["train"], data.get("validation")
    elif isinstance(data, tuple) and len(data) == 2 or _is_source(data):
        train, validation = data, None
    else:
        raise ValueError(
            f"train() cannot use data of type {type(data).__name__}: pass an nbmodels.data.Dataset "
            "(nbmodels.data.load('digits')), an (x, y) tuple of arrays (x may be a dict of arrays, y None), "
            "a Source (nbmodels.data.LazySource) or a tf.data.Dataset, or {'train': ..., 'validation': ...} of those."
        )
    train = _as_source(train, "train")
    validation = None if validation is None else _as_source(validation, "validation")
    x = train.features if isinstance(train, ArraySource) else None
    sequences = isinstance(x, np.ndarray) and x.ndim == 2 and np.issubdtype(x.dtype, np.integer)
    return TrainingData(
        train=train,
        validation=validation,
        loss=loss,
        metrics=tuple(metrics or ()),
        tokens_per_sample=int(x.shape[1]) if sequences else None,
        description={"dataset": "arrays" if isinstance(train, ArraySource) else type(train).__name__},
    )


def _as_source(split, which: str):
    # Plain (x, y) given to train() may be lists or other array-likes, as model.fit takes them.
    if isinstance(split, (tuple, list)) and len(split) == 2:
        x, y = split
        x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
        split = (x, None if y is None else np.asarray(y))
        lengths = {len(v) for v in (x.values() if isinstance(x, dict) else [x])} | (
            set() if y is None else {len(split[1])})
        if len(lengths) != 1:
            raise ValueError(f"The inputs and targets have different numbers of examples: {sorted(lengths)}.")
    return as_source(split, name=which)


def _is_source(data) -> bool:
    return isinstance(data, Source) or is_tf_dataset(data)


def _sample(source):
    """(x, y) the checks look at: all of an in-memory source, the first example of any other."""
    if isinstance(source, ArraySource):
        return source.features, source.targets
    return first_rows(source)


def _reader(source, batch_size: int | None):
    """A tf.data map function: a batch of indices -> the source's rows for them, read in Python
    (by the source's own threads) and typed and shaped like its first example."""
    import tensorflow as tf

    features, targets = first_rows(source)
    structure = (features,) if targets is None else (features, targets)
    flat = tf.nest.flatten(structure)
    dtypes = [tf.as_dtype(np.asarray(array).dtype) for array in flat]

    def read(indices):
        x, y = source.rows(indices)
        rows = tf.nest.flatten((x,) if y is None else (x, y))
        return [np.asarray(array, dtype.as_numpy_dtype) for array, dtype in zip(rows, dtypes)]

    def load(indices):
        tensors = tf.numpy_function(read, [indices], dtypes, stateful=False)
        for tensor, example in zip(tensors, flat):
            tensor.set_shape((batch_size, *np.shape(example)[1:]))
        return tf.nest.pack_sequence_as(structure, tensors)

    return load


def _replayed(source: TFDataSource, steps_per_epoch: int, batch_size: int, start_step: int, end_step: int):
    """A tf.data source's batches for steps start_step+1 .. end_step: its own order, pass after pass.

    It cannot be addressed by step, so a resumed run skips (reads and drops) the batches before
    `start_step`: exact only for a deterministic pipeline. See `nbmodels.data.sources`.
    """
    import tensorflow as tf

    if start_step:
        warnings.warn(
            f"Resuming at step {start_step} on a tf.data.Dataset: it cannot be read by index, so its first "
            f"{start_step} batches are read again and skipped. The run continues on the batches it would have "
            "seen only if the pipeline is deterministic (the same examples in the same order every time it is read: "
            "no reshuffle_each_iteration, deterministic maps). For exact, "
            "cheap resume, use an indexable source (nbmodels.data.ArraySource or LazySource).",
            stacklevel=2,
        )
    batches = source.examples().batch(batch_size, drop_remainder=True).take(steps_per_epoch).repeat()
    return batches.skip(start_step).take(end_step - start_step).prefetch(tf.data.AUTOTUNE)
