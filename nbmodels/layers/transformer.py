"""A pre-norm transformer block whose attention scores can be read out."""

from __future__ import annotations

import keras

from nbmodels.checks import check_divides, check_float, check_int, check_rate
from nbmodels.layers.attention import MultiHeadSelfAttention


@keras.saving.register_keras_serializable(package="nbmodels")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm transformer block: `x + attention(LN(x))`, then `x + MLP(LN(x))`.

    Normalising before each sublayer (GPT-2, nanoGPT) keeps the residual path an identity,
    which trains stably without warm-up tricks. The MLP is `Dense(intermediate_dim, gelu)` then
    `Dense(hidden_dim)`, followed by dropout.

    Args:
        hidden_dim: int. Width of the input and output; the input's last axis must match.
        num_heads: int. Attention heads; must divide `hidden_dim`.
        intermediate_dim: int. Width of the MLP's hidden layer (often `4 * hidden_dim`).
        dropout: float in [0, 1). Dropout on the attention and MLP outputs.
        causal: bool. Causal (decoder) attention when True.
        layer_norm_epsilon: float > 0. Epsilon of both layer normalisations.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: `(B, T, hidden_dim)` float tensor.
        padding_mask: `(B, T)`, 1/True for real tokens, 0/False for padding. Optional.
        return_attention_scores: bool. Also return the attention scores `(B, num_heads, T, T)`.
        training: bool. Whether dropout is active.
        cache, cache_index: a key/value cache for generation and the position of `x`'s first
            token; see `MultiHeadSelfAttention`. Causal blocks only.

    Returns:
        `(B, T, hidden_dim)`, or `(outputs, scores)` when `return_attention_scores=True`, or
        `(outputs, updated_cache)` when a cache is given.

    Example:
    >>> import numpy as np
    >>> from nbmodels.layers import TransformerBlock
    >>> block = TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16, causal=True)
    >>> tuple(block(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        causal=False,
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_int(name, "hidden_dim", hidden_dim, minimum=1)
        check_int(name, "num_heads", num_heads, minimum=1)
        check_int(name, "intermediate_dim", intermediate_dim, minimum=1)
        check_rate(name, "dropout", dropout)
        check_float(name, "layer_norm_epsilon", layer_norm_epsilon, low=0.0, low_open=True)
        check_divides(name, "num_heads", num_heads, "hidden_dim", hidden_dim)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"{type(self).__name__} got inputs of shape {tuple(input_shape)}: the last axis must "
                f"equal hidden_dim={self.hidden_dim} for the residual connections."
            )
        policy = self.dtype_policy
        self.attention_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="attention_norm"
        )
        self.attention_norm.build(input_shape)
        self.attention = MultiHeadSelfAttention(
            self.num_heads, self.hidden_dim, dropout=self.dropout, causal=self.causal, dtype=policy, name="attention"
        )
        self.attention.build(input_shape)
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="mlp_norm")
        self.mlp_norm.build(input_shape)
        self.mlp_hidden = keras.layers.Dense(self.intermediate_dim, activation="gelu", dtype=policy, name="mlp_hidden")
        self.mlp_hidden.build(input_shape)
        self.mlp_output = keras.layers.Dense(self.hidden_dim, dtype=policy, name="mlp_output")
        self.mlp_output.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.mlp_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="mlp_dropout")
        self.built = True

    def call(self, x, padding_mask=None, return_attention_scores=False, training=None, cache=None, cache_index=0):
        attention_args = dict(padding_mask=padding_mask, return_attention_scores=return_attention_scores,
                              training=training)
        if cache is not None:
            attention_args.update(cache=cache, cache_index=cache_index)
        attended = self.attention(self.attention_norm(x), **attention_args)
        if return_attention_scores:
            attended, scores = attended
        elif cache is not None:
            attended, cache = attended
        x = x + attended  # (B, T, C)
        mlp = self.mlp_output(self.mlp_hidden(self.mlp_norm(x)))  # (B, T, C)
        x = x + self.mlp_dropout(mlp, training=training)
        if cache is not None:
            return x, cache
        return (x, scores) if return_attention_scores else x

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            dropout=self.dropout,
            causal=self.causal,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
