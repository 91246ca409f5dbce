"""TokenAndPositionEmbedding: positions, weight tying, bad arguments."""

import numpy as np
import pytest

from tests.harness import check_layer, mixed_precision

VOCABULARY, LENGTH, C = 13, 8, 4


def _embedding(**kwargs):
    from nbmodels.layers import TokenAndPositionEmbedding

    defaults = {"vocabulary_size": VOCABULARY, "sequence_length": LENGTH, "hidden_dim": C}
    return TokenAndPositionEmbedding(**{**defaults, **kwargs})


def _token_ids():
    return np.random.default_rng(0).integers(0, VOCABULARY, size=(2, 5)).astype("int32")


def test_embedding_passes_the_layer_harness():
    check_layer(_embedding, _token_ids(), (2, 5, C))


def test_output_is_token_plus_position_vectors():
    embedding = _embedding()
    token_ids = _token_ids()
    outputs = np.asarray(embedding(token_ids))
    tokens = np.asarray(embedding.token_embedding.embeddings)
    positions = np.asarray(embedding.position_embedding.embeddings)
    np.testing.assert_allclose(outputs, tokens[token_ids] + positions[None, :5], atol=1e-6)
    shifted = np.asarray(embedding(token_ids, start_index=2))
    np.testing.assert_allclose(shifted, tokens[token_ids] + positions[None, 2:7], atol=1e-6)


def test_reverse_gives_float32_logits_from_the_token_matrix():
    import keras

    embedding = _embedding()
    embedding(_token_ids())
    hidden = np.random.default_rng(1).normal(size=(2, 5, C)).astype("float32")
    logits = embedding.reverse(hidden)
    assert tuple(logits.shape) == (2, 5, VOCABULARY) and keras.backend.standardize_dtype(logits.dtype) == "float32"
    tokens = np.asarray(embedding.token_embedding.embeddings)  # (V, C)
    np.testing.assert_allclose(np.asarray(logits), hidden @ tokens.T, atol=1e-5)

    with mixed_precision():
        mixed = _embedding()
        assert keras.backend.standardize_dtype(mixed.reverse(mixed(_token_ids())).dtype) == "float32"


def test_sequences_longer_than_the_learned_positions_are_refused():
    with pytest.raises(ValueError, match="sequence_length=8"):
        _embedding()(np.zeros((1, LENGTH + 1), "int32"))


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"vocabulary_size": 0}, "vocabulary_size=0"),
        ({"sequence_length": -2}, "sequence_length=-2"),
        ({"hidden_dim": 2.5}, "hidden_dim=2.5"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, named):
    with pytest.raises(ValueError, match=named):
        _embedding(**kwargs)
