"""Training-only augmentation: a Keras layer stack applied to each training batch on the device.

`train(builder, data, config, augment=keras.Sequential([keras.layers.RandomFlip(), ...]))`:

- **On the device.** The stack runs inside the compiled train step (XLA included), on the batch
  the input stream delivered, as keras.io recommends for preprocessing layers: in the
  computation they run on the accelerator, not in the CPU input pipeline.
- **In training only.** Evaluation, validation and `predict` see the examples unchanged: the
  stack is not even called there (random layers would be no-ops at `training=False` anyway).
- **Not in the saved model.** `run.model` is the model the builder made, so what is saved and
  served takes the examples as they are. Preprocessing that predictions need too (`Rescaling`,
  `Normalization`) belongs inside the model the builder makes, where it is saved with it.
- **Exact resume.** Before every step the stack's random generators are reseeded from (their
  seed, the step), so step k draws the same transforms in an uninterrupted and in a resumed run,
  and no generator state needs checkpointing. Each run (and each resume) uses its own copy of the
  stack, made from its config inside the distribution strategy's scope after the run's seed is
  set, so layers given no seed draw the same one every time.

The stack takes the features as the model does (an array, or the dict of named arrays); a layer
of it needs a `get_config()` that rebuilds it, as every Keras layer has.

**Mixing labels.** A stack holding `keras.layers.MixUp` or `CutMix` (see `mixes_labels`) mixes
labels as well as images, so the train step hands those layers `{"images", "labels"}` (every
other layer gets the images) with the integer labels made one-hot (the width is the model's
number of logits), and the mixed, soft labels go into the loss. A sparse categorical loss
and metrics are switched to their categorical forms (same values on one-hot labels), and the
test step one-hots its labels too, so validation and `model.evaluate` take the integer labels
as before; `predict` is untouched. Data without integer class labels is a `ValueError` when the
first step is built. Whoever compiles such a model again mid-run (fine-tuning's phase switch)
compiles with `compile_arguments(augment, ...)`, which gives those categorical forms.
"""

from __future__ import annotations

import keras

from nbmodels.checks import fail

# Sparse names and their categorical forms: the same values on one-hot labels.
_CATEGORICAL_NAMES = {
    "sparse_categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_accuracy": "categorical_accuracy",
    "sparse_top_k_categorical_accuracy": "top_k_categorical_accuracy",
}

# Each random layer's generator counts its draws from (seed, step * _DRAWS_PER_STEP): room for
# that many draws in one step before the next step's numbers would repeat them.
_DRAWS_PER_STEP = 1 << 16


def check_augment(owner: str, augment) -> None:
    """Raise ConfigError unless `augment` (an argument of `owner`, "train" or "resume") is a
    Keras layer or None."""
    if augment is not None and not isinstance(augment, keras.layers.Layer):
        fail(owner, "augment", augment,
             "it must be a Keras layer stack, e.g. keras.Sequential([keras.layers.RandomFlip()]), or None")


def mixes_labels(augment) -> bool:
    """Whether the stack `augment` (None, a layer or nested `keras.Sequential`s) mixes labels
    (MixUp, CutMix), so that training must give it one-hot labels."""
    return augment is not None and any(_mixes_labels(layer) for layer in _flat_layers(augment))


def attach(model, augment, example_features) -> None:
    """Make `model`'s train step apply a fresh copy of `augment` to each batch's features
    (and, for a label-mixing stack, to its one-hot labels; see the module docstring).

    Call it inside the strategy scope, after `compile` (which leaves `train_step` alone).
    `example_features` (one example, batch axis 1) builds the copy before the step is traced.
    """
    stack = type(augment).from_config(augment.get_config())
    example = keras.tree.map_structure(keras.ops.convert_to_tensor, example_features)
    num_classes = None
    if mixes_labels(stack):
        num_classes = int(model(example, training=False).shape[-1])  # the logits' width
        _compile_categorical(model)
        _apply(stack, example, keras.ops.one_hot(keras.ops.zeros((1,), "int32"), num_classes), training=False)
    else:
        stack(example, training=False)
    generator_states = [v for v in stack.variables if v.path.endswith("seed_generator_state")]
    train_step, test_step = model.train_step, model.test_step

    def augmented_train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        step = keras.ops.cast(model.optimizer.iterations, "int64")
        for state in generator_states:
            state.assign(keras.ops.stack([state[0], keras.ops.cast(step * _DRAWS_PER_STEP, state.dtype)]))
        if num_classes is None:
            x = stack(x, training=True)
        else:
            x, y = _apply(stack, x, _one_hot(y, num_classes), training=True)
        return train_step(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))

    def one_hot_test_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return test_step(keras.utils.pack_x_y_sample_weight(x, _one_hot(y, num_classes), sample_weight))

    model.train_step = augmented_train_step
    if num_classes is not None:
        model.test_step = one_hot_test_step


def xla_cannot_compile(augment, example_features) -> str | None:
    """Why XLA cannot compile `augment`'s training pass (TensorFlow's words), or None when it can.

    Keras's random affine layers (RandomRotation, RandomTranslation, RandomZoom) run
    ImageProjectiveTransformV3 and MixUp/CutMix draw from a gamma distribution
    (StatelessRandomGammaV3): neither has an XLA kernel, on CPUs or GPUs. A copy of the stack
    is compiled once on one example to find out.
    """
    import tensorflow as tf

    stack = type(augment).from_config(augment.get_config())
    images = keras.ops.convert_to_tensor(example_features)
    labels = keras.ops.one_hot(keras.ops.zeros((images.shape[0],), "int32"), 2) if mixes_labels(stack) else None
    _apply(stack, images, labels, training=False)  # builds its variables outside the compiled function
    try:
        tf.function(lambda x: _apply(stack, x, labels, training=True), jit_compile=True)(images)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as error:
        message = str(error.message if hasattr(error, "message") else error)
        known = [op for op in ("ImageProjectiveTransformV3", "StatelessRandomGammaV3") if op in message]
        return f"{known[0]} has no XLA kernel" if known else message.strip().splitlines()[0][:200]
    return None


def _flat_layers(layer) -> list:
    """The layers of a stack, nested Sequentials opened, in the order they run."""
    if isinstance(layer, keras.Sequential):
        return [inner for child in layer.layers for inner in _flat_layers(child)]
    return [layer]


def _mixes_labels(layer) -> bool:
    return isinstance(layer, (keras.layers.MixUp, keras.layers.CutMix))


def _apply(stack, images, labels, training: bool):
    """Run the stack layer by layer: label-mixing layers get `{"images", "labels"}`, the others
    (Reshape included, which takes no dict) the images only."""
    for layer in _flat_layers(stack):
        if _mixes_labels(layer):
            mixed = layer({"images": images, "labels": labels}, training=training)
            images, labels = mixed["images"], mixed["labels"]
        else:
            images = layer(images, training=training)
    return images, labels


def _one_hot(labels, num_classes: int):
    """Integer class labels (B,) or (B, 1) as one-hot float32 (B, num_classes)."""
    if labels is None or not keras.backend.is_int_dtype(keras.backend.standardize_dtype(labels.dtype)):
        given = "no labels" if labels is None else f"labels of dtype {keras.backend.standardize_dtype(labels.dtype)}"
        raise ValueError(
            f"The augmentation stack mixes labels (MixUp or CutMix), which needs integer class labels; the data "
            f"has {given}. Use a stack without MixUp and CutMix (e.g. the 'shapes' or 'natural' preset), or "
            "train on a classification dataset."
        )
    if len(labels.shape) == 2 and labels.shape[-1] == 1:
        labels = keras.ops.squeeze(labels, -1)  # (B, 1) -> (B,)
    return keras.ops.one_hot(labels, num_classes, dtype="float32")  # (B, num_classes)


def compile_arguments(augment, *, loss, metrics, **others) -> dict:
    """The `model.compile` arguments for training with `augment`: `loss` and `metrics` as given,
    or, for a label-mixing stack, their categorical forms (the labels it trains on are one-hot).

    Whoever compiles a model that trains with `augment` (again, e.g. when fine-tuning switches
    phase) compiles with these; `attach` does it too for a model compiled with sparse forms.
    """
    if mixes_labels(augment):
        loss, metrics = _categorical(loss, metrics)
    return {"loss": loss, "metrics": metrics, **others}


def _categorical(loss, metrics):
    metrics = [_CATEGORICAL_NAMES.get(metric, metric) if isinstance(metric, str) else metric
               for metric in metrics or ()]
    return _categorical_loss(loss), metrics


def _compile_categorical(model) -> None:
    """Compile `model` again with the categorical forms of its sparse loss and metrics, keeping
    its optimizer (already built into its place) and XLA setting; a model compiled with
    `compile_arguments` already has them."""
    if isinstance(model.loss, keras.losses.CategoricalCrossentropy) or model.loss == "categorical_crossentropy":
        return
    loss, metrics = _categorical(model.loss, keras.saving.deserialize_keras_object(
        model.get_compile_config().get("metrics")))
    model.compile(optimizer=model.optimizer, loss=loss, metrics=metrics, jit_compile=model.jit_compile,
                  steps_per_execution=model.steps_per_execution)


def _categorical_loss(loss):
    if isinstance(loss, str) and loss in (*_CATEGORICAL_NAMES, "categorical_crossentropy"):
        return _CATEGORICAL_NAMES.get(loss, loss)
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        config = loss.get_config()
        return keras.losses.CategoricalCrossentropy(from_logits=config["from_logits"], reduction=config["reduction"])
    if isinstance(loss, keras.losses.CategoricalCrossentropy):
        return loss
    fail("train", "augment", "MixUp/CutMix", (
        f"mixing labels needs a (sparse) categorical cross-entropy loss, not {loss!r}: use a stack "
        "without MixUp and CutMix for this model"
    ))
