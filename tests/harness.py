"""Shared checks every layer and every model must pass.

`check_layer` runs one layer, and `check_model` one model, through what users and the rest of
nbmodels do with it: build, symbolic and eager calls, `.keras` round trips, one training step,
mixed precision and (for models) XLA. Each check fails with a message naming what broke.
Outputs are compared with tolerances, never exactly: a graph, a reloaded model or XLA may fuse
the same arithmetic differently.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import NamedTuple

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

    inputs = _symbolic_inputs(input_data)
    return keras.Model(inputs, layer(inputs))


def _check_saved_model_round_trip(layer_factory, input_data, atol):
    model = _wrap(layer_factory(), input_data)
    _keras_file_round_trip(model, input_data, _to_numpy(model(input_data)), atol)


def _check_fit_step(layer_factory, input_data):
    model = _wrap(layer_factory(), input_data)
    target = np.ones(model.output_shape[1:], "float32")[None].repeat(len(input_data), axis=0)
    _train_one_step(model, input_data, target, "mse")


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


class ModelCheck(NamedTuple):
    model: object  # the model checked
    outputs: object  # its eager outputs for `inputs`, as numpy
    restored: object  # the model loaded back from its `.keras` file
    mixed_precision_model: object  # the model built under the mixed-precision policy


def check_model(
    build,
    inputs,
    targets=None,
    *,
    loss=None,
    expected_output_shape=None,
    atol=1e-6,
    xla_tolerance=1e-4,
    precision="mixed_bfloat16",
):
    """Run the standard model checks; return a `ModelCheck` (the model, its eager outputs, the
    model loaded back from `.keras` and the one built under `precision`) for further asserts.

    Works for any input kind: `inputs` is one array (token ids, images) or a dict of named
    arrays (a recommender's features), and the model's output may be one tensor or a structure.

    Args:
        build: callable with no arguments returning a new, uncompiled model. Called again for
            each check (mixed precision needs a model built under the policy). Its model must be
            deterministic in training (no dropout), so that the XLA and plain fit steps from the
            same weights can be compared.
        inputs: one batch: a numpy array or a dict of numpy arrays; their dtypes are the inputs'.
        targets: the batch's targets for the fit step, or None when the model computes its own
            loss (a retrieval model training on positive pairs).
        loss: the loss `compile` gets, or None with a model that computes its own.
        expected_output_shape: the eager output's shape, batch axis included: a tuple, or for
            several outputs a dict, list or tuple of them; None to skip this check (the symbolic
            shapes are still checked against the eager ones).
        atol: tolerance of the `.keras` round trip (the same eager call on both models).
        xla_tolerance: absolute and relative tolerance of XLA against the plain graph.
        precision: the mixed-precision policy, "mixed_bfloat16" or "mixed_float16".
    """
    import keras

    keras.utils.set_random_seed(0)
    model = build()
    outputs = _to_numpy(model(inputs))
    assert model.built, "calling the model did not build it"
    assert model.weights, "the model has no weights"
    shapes = _shapes(outputs)
    if expected_output_shape is not None:
        assert shapes == expected_output_shape, f"eager output {shapes} != {expected_output_shape}"
    _assert_finite(outputs, "eager output")

    symbolic = [tuple(output.shape) for output in keras.tree.flatten(build()(_symbolic_inputs(inputs)))]
    eager = [output.shape for output in keras.tree.flatten(outputs)]
    assert len(symbolic) == len(eager) and all(map(_symbolic_shape_fits, symbolic, eager)), (
        f"symbolic output shapes {symbolic} do not fit the eager ones {eager}"
    )

    restored = _keras_file_round_trip(model, inputs, outputs, atol)
    _check_model_fit_step_with_and_without_xla(build, model, inputs, targets, loss, xla_tolerance)
    mixed = _check_model_mixed_precision(build, inputs, targets, loss, precision, shapes)
    return ModelCheck(model=model, outputs=outputs, restored=restored, mixed_precision_model=mixed)


def _to_numpy(outputs):
    import keras

    return keras.tree.map_structure(keras.ops.convert_to_numpy, outputs)


def _shapes(outputs):
    """Each output's shape (a tuple), in the outputs' own structure: a dict, list or tuple of them."""
    if isinstance(outputs, dict):
        return {name: _shapes(output) for name, output in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_shapes(output) for output in outputs)
    return tuple(outputs.shape)


def _symbolic_shape_fits(symbolic, eager):
    # The batch size is None; any other size is the eager one, or None where it depends on the
    # batch or the input's length (a (B, B) score matrix of in-batch pairs).
    return len(symbolic) == len(eager) and symbolic[0] is None and all(
        size in (None, eager_size) for size, eager_size in zip(symbolic[1:], eager[1:])
    )


def _assert_finite(outputs, what):
    import keras

    for output in keras.tree.flatten(outputs):
        output = np.asarray(output, "float32")
        assert np.all(np.isfinite(output)), f"{what} has NaN or inf"


def _symbolic_inputs(inputs):
    import keras

    if isinstance(inputs, dict):
        return {
            name: keras.Input(np.shape(value)[1:], dtype=str(np.asarray(value).dtype), name=name)
            for name, value in inputs.items()
        }
    return keras.Input(np.shape(inputs)[1:], dtype=str(np.asarray(inputs).dtype))


def _assert_all_close(actual, expected, what, atol, rtol=0.0):
    import keras

    for got, want in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol, rtol=rtol, err_msg=what)


def _keras_file_round_trip(model, inputs, outputs, atol):
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert type(restored) is type(model), f"loaded a {type(restored).__name__}, saved a {type(model).__name__}"
    assert _as_json(restored.get_config()) == _as_json(model.get_config()), ".keras round trip changed the config"
    _assert_all_close(_to_numpy(restored(inputs)), outputs, ".keras round trip", atol)
    return restored


def _as_json(config):
    """The config as the `.keras` file stores it (JSON turns tuples into lists)."""
    return json.loads(json.dumps(config))


def _train_one_step(model, inputs, targets, loss, jit_compile=False, what="fit step"):
    """Compile with SGD and fit one batch: the loss is finite and some trainable weight changed.
    Returns the loss and the trained weights."""
    import keras

    before = [np.array(weight) for weight in model.trainable_weights]
    assert before, "the model has no trainable weights"
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss, jit_compile=jit_compile)
    batch_size = len(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs)
    loss_value = model.fit(inputs, targets, batch_size=batch_size, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss_value), f"{what} loss {loss_value}"
    trained = [np.array(weight) for weight in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, trained)), f"the {what} changed no weight"
    return loss_value, trained


def _built_copy(build, inputs, weights):
    model = build()
    model(inputs)  # built, so that it has the variables to set
    model.set_weights(weights)
    return model


def _check_model_fit_step_with_and_without_xla(build, model, inputs, targets, loss, tolerance):
    """One plain fit step, then the same step compiled by XLA from the same weights: the same
    loss and the same weights after it. The XLA step runs the forward pass, the gradients and
    the update, so this covers what an XLA predict would."""
    start = model.get_weights()
    plain_loss, trained = _train_one_step(_built_copy(build, inputs, start), inputs, targets, loss)
    xla_loss, xla_trained = _train_one_step(
        _built_copy(build, inputs, start), inputs, targets, loss, jit_compile=True, what="XLA fit step"
    )
    np.testing.assert_allclose(xla_loss, plain_loss, atol=tolerance, rtol=tolerance, err_msg="XLA fit step loss")
    _assert_all_close(xla_trained, trained, "weights after the XLA fit step", tolerance, tolerance)


def _check_model_mixed_precision(build, inputs, targets, loss, precision, shapes):
    import keras

    compute_dtype = keras.DTypePolicy(precision).compute_dtype
    with mixed_precision(precision):
        model = build()
        outputs = model(inputs)
        assert any(layer.compute_dtype == compute_dtype for layer in model.layers), (
            f"no layer of the model computes in {compute_dtype} under {precision}"
        )
        dtypes = {keras.backend.standardize_dtype(output.dtype) for output in keras.tree.flatten(outputs)}
        assert dtypes == {"float32"}, f"outputs under {precision} are {sorted(dtypes)}, not float32"
        outputs = _to_numpy(outputs)
        assert _shapes(outputs) == shapes, f"outputs under {precision} are {_shapes(outputs)}, not {shapes}"
        _assert_finite(outputs, f"output under {precision}")
        _train_one_step(model, inputs, targets, loss, what=f"fit step under {precision}")
    return model
