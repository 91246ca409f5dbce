"""Token plus learned position embeddings, reversible for weight tying."""

from __future__ import annotations

import keras
from keras import ops

from nbmodels.checks import check_int


@keras.saving.register_keras_serializable(package="nbmodels")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Sum of a token embedding and a learned position embedding.

    `reverse(x)` projects hidden states back onto the token embedding matrix, giving vocabulary
    logits in float32 from the same weights (weight tying, as in GPT-2 and nanoGPT).

    Args:
        vocabulary_size: int. Number of token ids.
        sequence_length: int. Longest sequence; one learned position vector per position.
        hidden_dim: int. Width of the embeddings.
        embeddings_initializer: initializer of both tables.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: `(B, T)` integer tensor, `T <= sequence_length`.
        start_index: int or scalar tensor. Position of the first token (later tokens of a
            sequence being generated start past 0).

    Returns:
        `(B, T, hidden_dim)` embeddings.

    Attributes:
        token_embedding: the `keras.layers.Embedding` of tokens, to share with an output head.
        position_embedding: the `keras.layers.Embedding` of positions.

    Example:
    >>> import numpy as np
    >>> from nbmodels.layers import TokenAndPositionEmbedding
    >>> embedding = TokenAndPositionEmbedding(vocabulary_size=11, sequence_length=6, hidden_dim=4)
    >>> hidden = embedding(np.array([[1, 2, 3]]))
    >>> tuple(hidden.shape), tuple(embedding.reverse(hidden).shape)
    ((1, 3, 4), (1, 3, 11))
    """

    def __init__(self, vocabulary_size, sequence_length, hidden_dim, embeddings_initializer="uniform", **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_int(name, "vocabulary_size", vocabulary_size, minimum=1)
        check_int(name, "sequence_length", sequence_length, minimum=1)
        check_int(name, "hidden_dim", hidden_dim, minimum=1)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.hidden_dim = int(hidden_dim)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape):
        # Keras' ReversibleEmbedding owns the tied projection, so it keeps working when the model
        # is quantized (the projection then reads the quantized table, not a raw `.embeddings`).
        self.token_embedding = keras.layers.ReversibleEmbedding(
            self.vocabulary_size,
            self.hidden_dim,
            tie_weights=True,
            embeddings_initializer=self.embeddings_initializer,
            reverse_dtype="float32",  # logits in float32 under mixed precision
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build(input_shape)
        self.position_embedding = keras.layers.Embedding(
            self.sequence_length,
            self.hidden_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, token_ids, start_index=0):
        length = token_ids.shape[-1]
        if isinstance(length, int) and isinstance(start_index, int) and start_index + length > self.sequence_length:
            raise ValueError(
                f"{type(self).__name__} got {length} tokens starting at position {start_index}: at most "
                f"sequence_length={self.sequence_length} positions are learned."
            )
        positions = ops.arange(ops.shape(token_ids)[-1]) + start_index  # (T,)
        return self.token_embedding(token_ids) + self.position_embedding(positions)[None]  # (B, T, C)

    def reverse(self, x):
        """Vocabulary logits `(..., vocabulary_size)` in float32 from hidden states `(..., hidden_dim)`."""
        return self.token_embedding(x, reverse=True)  # (..., V)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            sequence_length=self.sequence_length,
            hidden_dim=self.hidden_dim,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
        )
        return config
