"""Shared checks every layer (and later every model) must pass.

`check_layer` runs one layer through what users and the rest of nbmodels do with it: build,
symbolic and eager calls, config and `.keras` round trips, one training step and a
mixed-precision call. Each check fails with a message naming what broke.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np


def check_layer(layer_factory, input_data, expected_output_shape, atol=1e-6):
    """Run the standard layer checks; return the eager output (numpy) for further asserts.

    Args:
        layer_factory: callable with no arguments returning a new, unbuilt layer. Called again
            for the round trips and under mixed precision.
        input_data: numpy array, one batch; its dtype (float or int) is the input's dtype.
        expected_output_shape: the output shape for `input_data`, batch axis included.
        atol: tolerance of the round-trip comparisons.
    """
    import keras

    keras.utils.set_random_seed(0)
    input_data = np.asarray(input_data)
    expected_output_shape = tuple(expected_output_shape)

    layer = layer_factory()
    assert not layer.built, "the factory must return an unbuilt layer"
    outputs = keras.ops.convert_to_numpy(layer(input_data))
    assert layer.built
    assert outputs.shape == expected_output_shape, f"eager output {outputs.shape} != {expected_output_shape}"
    assert np.all(np.isfinite(outputs)), "eager output has NaN or inf"
    assert layer.weights, "the layer created no weights when built"

    inputs = keras.Input(input_data.shape[1:], dtype=str(input_data.dtype))
    symbolic = layer_factory()(inputs)
    assert tuple(symbolic.shape) == (None,) + expected_output_shape[1:], f"symbolic output {symbolic.shape}"

    _check_config_round_trip(layer, input_data, outputs, atol)
    _check_saved_model_round_trip(layer_factory, input_data, atol)
    _check_fit_step(layer_factory, input_data)
    _check_mixed_precision(layer_factory, input_data, expected_output_shape)
    return outputs


def _check_config_round_trip(layer, input_data, outputs, atol):
    import keras

    config = layer.get_config()
    json.dumps(keras.saving.serialize_keras_object(layer))  # the whole config must be JSON
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changed the config"
    clone(input_data)  # build before the weights can be copied
    clone.set_weights(layer.get_weights())
    cloned_outputs = keras.ops.convert_to_numpy(clone(input_data))
    np.testing.assert_allclose(cloned_outputs, outputs, atol=atol, err_msg="config round trip")


def _wrap(layer, input_data):
    import keras

    inputs = keras.Input(input_data.shape[1:], dtype=str(input_data.dtype))
    return keras.Model(inputs, layer(inputs))


def _check_saved_model_round_trip(layer_factory, input_data, atol):
    import keras

    model = _wrap(layer_factory(), input_data)
    expected = model.predict(input_data, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    restored_outputs = restored.predict(input_data, verbose=0)
    np.testing.assert_allclose(restored_outputs, expected, atol=atol, err_msg=".keras round trip")


def _check_fit_step(layer_factory, input_data):
    import keras

    model = _wrap(layer_factory(), input_data)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [np.array(w) for w in model.trainable_weights]
    assert before, "the layer has no trainable weights"
    target = np.ones(model.output_shape[1:], "float32")[None].repeat(len(input_data), axis=0)
    loss = model.fit(input_data, target, batch_size=len(input_data), epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss), f"fit step loss {loss}"
    changed = [not np.array_equal(b, np.array(w)) for b, w in zip(before, model.trainable_weights)]
    assert any(changed), "the fit step changed no weight"


def mixed_precision(policy="mixed_bfloat16"):
    """Set Keras' global dtype policy for the block, then restore whatever was set before:
    the same context manager train() builds models under."""
    from nbmodels.training.distribute import precision_policy

    return precision_policy(policy)


def _check_mixed_precision(layer_factory, input_data, expected_output_shape):
    import keras

    with mixed_precision():
        layer = layer_factory()
        outputs = layer(input_data)
    assert layer.compute_dtype == "bfloat16", f"layer ignored the global policy: {layer.compute_dtype}"
    dtype = keras.backend.standardize_dtype(outputs.dtype)
    assert dtype in ("bfloat16", "float32"), f"mixed precision output dtype {dtype}"
    outputs = keras.ops.convert_to_numpy(keras.ops.cast(outputs, "float32"))
    assert outputs.shape == expected_output_shape
    assert not np.any(np.isnan(outputs)), "mixed precision output has NaN"
