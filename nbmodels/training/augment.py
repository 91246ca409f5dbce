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
"""

from __future__ import annotations

import keras

from nbmodels.checks import fail

# Each random layer's generator counts its draws from (seed, step * _DRAWS_PER_STEP): room for
# that many draws in one step before the next step's numbers would repeat them.
_DRAWS_PER_STEP = 1 << 16


def check_augment(owner: str, augment) -> None:
    """Raise ConfigError unless `augment` (an argument of `owner`, "train" or "resume") is a
    Keras layer or None."""
    if augment is not None and not isinstance(augment, keras.layers.Layer):
        fail(owner, "augment", augment,
             "it must be a Keras layer stack, e.g. keras.Sequential([keras.layers.RandomFlip()]), or None")


def attach(model, augment, example_features) -> None:
    """Make `model`'s train step apply a fresh copy of `augment` to each batch's features.

    Call it inside the strategy scope, after `compile` (which leaves `train_step` alone).
    `example_features` (one example, batch axis 1) builds the copy before the step is traced.
    """
    stack = type(augment).from_config(augment.get_config())
    stack(keras.tree.map_structure(keras.ops.convert_to_tensor, example_features), training=False)
    generator_states = [v for v in stack.variables if v.path.endswith("seed_generator_state")]
    train_step = model.train_step

    def augmented_train_step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        step = keras.ops.cast(model.optimizer.iterations, "int64")
        for state in generator_states:
            state.assign(keras.ops.stack([state[0], keras.ops.cast(step * _DRAWS_PER_STEP, state.dtype)]))
        x = stack(x, training=True)
        return train_step(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))

    model.train_step = augmented_train_step
