"""MultiHeadSelfAttention: masks, the fast and explicit paths, and bad arguments."""

import numpy as np
import pytest

from tests.harness import check_layer, mixed_precision

B, T, C, HEADS = 2, 6, 8, 2


def _inputs(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, C)).astype("float32")


def _attention(**kwargs):
    from nbmodels.layers import MultiHeadSelfAttention

    return MultiHeadSelfAttention(**{"num_heads": HEADS, "hidden_dim": C, **kwargs})


@pytest.mark.parametrize("causal", [False, True])
def test_attention_passes_the_layer_harness(causal):
    check_layer(lambda: _attention(causal=causal, dropout=0.1), _inputs(), (B, T, C))


def test_causal_scores_are_distributions_with_nothing_above_the_diagonal():
    _, scores = _attention(causal=True)(_inputs(), return_attention_scores=True)
    scores = np.asarray(scores)
    assert scores.shape == (B, HEADS, T, T) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-6)
    assert np.all(np.triu(scores, k=1) == 0.0)
    assert np.all(scores[..., np.tril_indices(T)[0], np.tril_indices(T)[1]] > 0.0)


@pytest.mark.parametrize("causal", [False, True])
def test_padded_keys_get_no_attention(causal):
    padding_mask = np.ones((B, T), "int32")
    padding_mask[0, 4:] = 0
    padding_mask[1, 2:] = 0
    _, scores = _attention(causal=causal)(_inputs(), padding_mask=padding_mask, return_attention_scores=True)
    scores = np.asarray(scores)
    assert np.all(scores[0, :, :, 4:] == 0.0) and np.all(scores[1, :, :, 2:] == 0.0)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_fused_and_explicit_paths_agree(causal, padded):
    layer = _attention(causal=causal)
    padding_mask = np.array([[1] * T, [1] * 3 + [0] * (T - 3)]) if padded else None
    fused = np.asarray(layer(_inputs(), padding_mask=padding_mask))
    explicit, _ = layer(_inputs(), padding_mask=padding_mask, return_attention_scores=True)
    np.testing.assert_allclose(fused, np.asarray(explicit), atol=1e-5)


def test_scores_stay_float32_under_mixed_precision():
    import keras

    with mixed_precision():
        layer = _attention(causal=True)
        outputs, scores = layer(_inputs(), return_attention_scores=True)
    dtype = keras.backend.standardize_dtype
    assert dtype(outputs.dtype) == "bfloat16" and dtype(scores.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, atol=1e-6)


def test_dropout_is_active_only_in_training():
    layer = _attention(dropout=0.5)
    x = _inputs()
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(layer(x, training=False)))
    assert not np.allclose(np.asarray(layer(x, training=True)), np.asarray(layer(x)))


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"hidden_dim": 9}, "hidden_dim=9"),
        ({"num_heads": 0}, "num_heads=0"),
        ({"hidden_dim": -8}, "hidden_dim=-8"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"dropout": -0.1}, "dropout=-0.1"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, named):
    with pytest.raises(ValueError, match=named):
        _attention(**kwargs)
