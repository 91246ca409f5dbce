"""Training data as a stream of batches addressed by step, so a resumed run sees exactly
the batches the uninterrupted run would have seen.

Batch k of a run is a pure function of (data, seed, batch size, k): pass p over the data is
a permutation drawn by `tf.random.experimental.index_shuffle` from (seed, p), so starting at
any step needs no replay and no saved iterator state.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbmodels.training import input_checks


@dataclasses.dataclass
class TrainingData:
    """In-memory examples split for training, with the defaults their dataset suggests."""

    x: object  # np.ndarray or a dict of arrays (several model inputs)
    y: np.ndarray | None
    validation: tuple | None
    loss: str | None = None
    metrics: tuple = ()
    tokens_per_sample: int | None = None
    logits: bool = False  # the loss is a dataset default: models return logits, so from_logits=True
    description: dict = dataclasses.field(default_factory=dict)

    @property
    def num_examples(self) -> int:
        first = next(iter(self.x.values())) if isinstance(self.x, dict) else self.x
        return len(first)

    @property
    def splits(self) -> dict:
        """{"train": (x, y), "validation": (x, y)}, without validation when there is none."""
        splits = {"train": (self.x, self.y)}
        if self.validation is not None:
            splits["validation"] = tuple(self.validation)
        return splits

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

    def stream(self, batch_size: int, seed: int, start_step: int, end_step: int):
        """A tf.data.Dataset of the batches for steps start_step+1 .. end_step."""
        import tensorflow as tf

        per_epoch = self.steps_per_epoch(batch_size) * batch_size
        last = self.num_examples - 1
        tensors = tf.nest.map_structure(tf.constant, (self.x,) if self.y is None else (self.x, self.y))
        last = tf.constant(last, tf.int64)

        def example_index(position):
            epoch, within = position // per_epoch, position % per_epoch
            key = tf.stack([tf.constant(seed, tf.int64), epoch])  # a new permutation every pass
            return tf.random.experimental.index_shuffle(within, key, last)

        def gather(indices):
            return tf.nest.map_structure(lambda t: tf.gather(t, indices), tensors)

        positions = tf.data.Dataset.range(start_step * batch_size, end_step * batch_size)
        return (
            positions.map(example_index, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size, drop_remainder=True)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE)
        )


    def validation_stream(self, batch_size: int):
        """The validation examples in order, as a tf.data.Dataset (None without any).

        A dataset rather than arrays: Keras cannot hand numpy arrays to a multi-worker strategy.
        """
        if self.validation is None:
            return None
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(tuple(self.validation)).batch(batch_size).prefetch(2)


def as_training_data(data, loss=None, metrics=None) -> TrainingData:
    """Accepts an `nbmodels.data.Dataset`, an (x, y) tuple, or {"train": (x, y), "validation": (x, y)}."""
    training_data = _training_data(data, loss, metrics)
    # Empty splits, text targets, NaN or infinite values: refused before any run is made.
    input_checks.check_arrays(training_data.splits)
    return training_data


def _training_data(data, loss, metrics) -> TrainingData:
    if hasattr(data, "train") and hasattr(data, "task"):  # an nbmodels.data.Dataset
        x, y = data.train
        return TrainingData(
            x=x,
            y=y,
            validation=data.validation,
            loss=loss or data.loss,
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
    elif isinstance(data, tuple) and len(data) == 2:
        train, validation = data, None
    else:
        raise ValueError(
            f"train() cannot use data of type {type(data).__name__}: pass an nbmodels.data.Dataset "
            "(nbmodels.data.load('digits')), an (x, y) tuple of arrays, or "
            "{'train': (x, y), 'validation': (x, y)}."
        )
    x, y = train
    _check_lengths(x, y)
    if validation is not None:
        _check_lengths(*validation)
    sequences = not isinstance(x, dict) and np.ndim(x) == 2 and np.issubdtype(np.asarray(x).dtype, np.integer)
    return TrainingData(
        x=x,
        y=y,
        validation=validation,
        loss=loss,
        metrics=tuple(metrics or ()),
        tokens_per_sample=int(np.shape(x)[1]) if sequences else None,
        description={"dataset": "arrays"},
    )


def _check_lengths(x, y):
    lengths = {len(v) for v in (x.values() if isinstance(x, dict) else [x])}
    if y is not None:
        lengths.add(len(y))
    if len(lengths) != 1:
        raise ValueError(f"The inputs and targets have different numbers of examples: {sorted(lengths)}.")
