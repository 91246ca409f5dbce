"""TransformerBlock: causality, padding, scores, XLA and bad arguments."""

import numpy as np
import pytest

from tests.harness import check_layer

B, T, C, HEADS = 2, 6, 8, 2


def _inputs(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, C)).astype("float32")


def _block(**kwargs):
    from nbmodels.layers import TransformerBlock

    return TransformerBlock(**{"hidden_dim": C, "num_heads": HEADS, "intermediate_dim": 16, **kwargs})


@pytest.mark.parametrize("causal", [False, True])
def test_block_passes_the_layer_harness(causal):
    check_layer(lambda: _block(causal=causal, dropout=0.1), _inputs(), (B, T, C))


def test_future_tokens_never_change_past_outputs_of_a_causal_block():
    block = _block(causal=True)
    x = _inputs()
    outputs = np.asarray(block(x))
    for t in range(T - 1):
        perturbed = x.copy()
        perturbed[:, t + 1 :] = np.random.default_rng(t).normal(size=perturbed[:, t + 1 :].shape)
        changed = np.asarray(block(perturbed))
        np.testing.assert_allclose(changed[:, : t + 1], outputs[:, : t + 1], atol=1e-6)
        assert not np.allclose(changed[:, t + 1 :], outputs[:, t + 1 :])


def test_non_causal_block_sees_the_future():
    block = _block(causal=False)
    x = _inputs()
    perturbed = x.copy()
    perturbed[:, -1] = np.random.default_rng(1).normal(size=perturbed[:, -1].shape)  # LN would erase a constant shift
    assert not np.allclose(np.asarray(block(perturbed))[:, 0], np.asarray(block(x))[:, 0])


def test_padded_tokens_do_not_change_real_outputs():
    block = _block()
    x = _inputs()
    padding_mask = np.array([[1] * 4 + [0] * (T - 4)] * B)
    outputs = np.asarray(block(x, padding_mask=padding_mask))
    x[:, 4:] = 7.0
    np.testing.assert_allclose(np.asarray(block(x, padding_mask=padding_mask))[:, :4], outputs[:, :4], atol=1e-6)


def test_scores_come_out_and_do_not_change_the_outputs():
    block = _block(causal=True)
    outputs, scores = block(_inputs(), return_attention_scores=True)
    assert tuple(scores.shape) == (B, HEADS, T, T)
    np.testing.assert_allclose(np.asarray(outputs), np.asarray(block(_inputs())), atol=1e-5)


def test_scores_leave_a_functional_model():
    import keras

    inputs = keras.Input((T, C))
    outputs, scores = _block(causal=True)(inputs, return_attention_scores=True)
    model = keras.Model(inputs, [outputs, scores])
    predicted_outputs, predicted_scores = model.predict(_inputs(), verbose=0)
    assert predicted_outputs.shape == (B, T, C) and predicted_scores.shape == (B, HEADS, T, T)


def test_jit_compiled_predict_matches_eager_on_cpu():
    import keras

    tokens = keras.Input((T, C))
    padding = keras.Input((T,), dtype="int32")
    block = _block(causal=True)
    model = keras.Model([tokens, padding], block(tokens, padding_mask=padding))
    model.compile(jit_compile=True)
    padding_mask = np.ones((B, T), "int32")
    padding_mask[1, 3:] = 0
    compiled = model.predict([_inputs(), padding_mask], verbose=0)
    np.testing.assert_allclose(compiled, np.asarray(block(_inputs(), padding_mask=padding_mask)), atol=1e-5)


def test_jit_compiled_function_returns_the_same_scores():
    import tensorflow as tf

    block = _block(causal=True)
    eager_outputs, eager_scores = block(_inputs(), return_attention_scores=True)
    compiled = tf.function(lambda x: block(x, return_attention_scores=True), jit_compile=True)
    outputs, scores = compiled(tf.constant(_inputs()))
    np.testing.assert_allclose(np.asarray(outputs), np.asarray(eager_outputs), atol=1e-5)
    np.testing.assert_allclose(np.asarray(scores), np.asarray(eager_scores), atol=1e-6)


def test_inputs_of_the_wrong_width_are_refused():
    with pytest.raises(ValueError, match="hidden_dim=8"):
        _block()(np.zeros((1, T, 4), "float32"))


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"num_heads": 3}, "num_heads=3"),
        ({"hidden_dim": 0}, "hidden_dim=0"),
        ({"intermediate_dim": -1}, "intermediate_dim=-1"),
        ({"dropout": 1.5}, "dropout=1.5"),
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon=0.0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, named):
    with pytest.raises(ValueError, match=named):
        _block(**kwargs)
