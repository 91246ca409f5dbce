"""Multi-head self-attention that can hand its attention scores out."""

from __future__ import annotations

import keras
from keras import ops

from nbmodels.checks import check_divides, check_int, check_rate


def attention_mask(padding_mask, sequence_length: int, causal: bool):
    """Boolean mask `(B or 1, 1, T, T)`: True where a query may attend to a key, or None.

    Args:
        padding_mask: `(B, T)`, nonzero/True for real tokens, 0/False for padding, or None.
        sequence_length: T.
        causal: also hide keys after each query.
    """
    mask = None
    if padding_mask is not None:
        mask = ops.cast(padding_mask, "bool")[:, None, None, :]  # (B, 1, 1, T) over keys
    if causal:
        positions = ops.arange(sequence_length)
        lower = ops.greater_equal(positions[:, None], positions[None, :])[None, None]  # (1, 1, T, T)
        mask = lower if mask is None else ops.logical_and(mask, lower)
    return mask


@keras.saving.register_keras_serializable(package="nbmodels")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention, optionally causal, that can return its attention scores.

    Queries, keys and values come from one projection of the input; the heads are joined and
    projected back to `hidden_dim`. When scores are not asked for, the fused
    `keras.ops.dot_product_attention` runs; with `return_attention_scores=True` the scores are
    computed explicitly as `softmax(Q K^T / sqrt(head_dim) + mask)`. Both paths give the same
    outputs, and the softmax runs in float32 in both, so the layer is safe under mixed
    precision. Dropout acts on the projected output, not on the attention weights, so training
    keeps the fused path.

    For generation, `call(x, cache=..., cache_index=i)` treats `x` as the tokens at positions
    `i .. i + T - 1`: their keys and values are written into the cache, and each query attends
    to every cached position up to its own. One code path serves both the prompt (`T` tokens at
    `i = 0`) and each new token (`T = 1`).

    Args:
        num_heads: int. Number of attention heads.
        hidden_dim: int. Size of the output and of all heads together; a multiple of `num_heads`.
        dropout: float in [0, 1). Dropout rate on the output.
        causal: bool. When True, each position attends only to itself and earlier positions.
        use_bias: bool. Whether the projections have biases.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: `(B, T, C)` float tensor.
        padding_mask: `(B, T)`, 1/True for real tokens and 0/False for padding; padded keys get
            no attention. Optional.
        return_attention_scores: bool. Also return the scores, `(B, num_heads, T, T)` float32.
        training: bool. Whether dropout is active.
        cache: key/value cache `(B, 2, num_heads, S, head_dim)` in the compute dtype (see
            `empty_cache`), or None. Causal layers only.
        cache_index: int or scalar tensor: the position of `x`'s first token in the cache.

    Returns:
        `(B, T, hidden_dim)`, or `(outputs, scores)` when `return_attention_scores=True`, or
        `(outputs, updated_cache)` when a cache is given.

    Example:
    >>> import numpy as np
    >>> from nbmodels.layers import MultiHeadSelfAttention
    >>> layer = MultiHeadSelfAttention(num_heads=2, hidden_dim=8, causal=True)
    >>> outputs, scores = layer(np.zeros((1, 5, 8), "float32"), return_attention_scores=True)
    >>> tuple(outputs.shape), tuple(scores.shape)
    ((1, 5, 8), (1, 2, 5, 5))
    """

    def __init__(self, num_heads, hidden_dim, dropout=0.0, causal=False, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        check_int(name, "num_heads", num_heads, minimum=1)
        check_int(name, "hidden_dim", hidden_dim, minimum=1)
        check_rate(name, "dropout", dropout)
        check_divides(name, "num_heads", num_heads, "hidden_dim", hidden_dim)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.head_dim = self.hidden_dim // self.num_heads
        self.dropout = float(dropout)
        self.causal = bool(causal)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        policy = self.dtype_policy
        self.qkv_dense = keras.layers.Dense(3 * self.hidden_dim, use_bias=self.use_bias, dtype=policy, name="qkv")
        self.qkv_dense.build(input_shape)
        self.output_dense = keras.layers.Dense(self.hidden_dim, use_bias=self.use_bias, dtype=policy, name="output")
        self.output_dense.build(tuple(input_shape[:-1]) + (self.hidden_dim,))
        self.output_dropout = keras.layers.Dropout(self.dropout, dtype=policy, name="output_dropout")
        self.built = True

    def empty_cache(self, batch_size: int, length: int):
        """A zero key/value cache `(batch_size, 2, num_heads, length, head_dim)` for `call(cache=...)`.

        Heads before positions: the attention's per-head products read it in place. Positions
        before heads made XLA transpose all of K and V at every generation step (at batch 4 of
        a 27M model that was half the step)."""
        return ops.zeros((batch_size, 2, self.num_heads, length, self.head_dim), dtype=self.compute_dtype)

    def call(self, x, padding_mask=None, return_attention_scores=False, training=None, cache=None, cache_index=0):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv_dense(x), (batch, length, 3, self.num_heads, self.head_dim))  # (B, T, 3, N, H)
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each (B, T, N, H)
        if cache is not None:
            if not self.causal or return_attention_scores or padding_mask is not None:
                raise ValueError(
                    f"{type(self).__name__} uses a cache only for causal generation, without "
                    "padding_mask or return_attention_scores."
                )
            cache_index = ops.cast(cache_index, "int32")
            zero = ops.zeros((), "int32")
            start = ops.stack([zero, zero, zero, cache_index, zero])
            new = ops.transpose(ops.stack([key, value], axis=1), (0, 1, 3, 2, 4))  # (B, 2, N, T, H)
            cache = ops.slice_update(cache, start, new)
            # Query t (at position cache_index + t) sees cached positions 0 .. cache_index + t.
            cached = ops.shape(cache)[3]
            visible = ops.arange(cached)[None, :] <= (cache_index + ops.arange(length))[:, None]  # (T, S)
            # (B, S, N, H) views for the fused attention; XLA cancels them with its own transposes.
            keys, values = (ops.transpose(cache[:, k], (0, 2, 1, 3)) for k in (0, 1))
            heads = ops.dot_product_attention(query, keys, values, mask=visible[None, None])  # (B, T, N, H)
            outputs = self.output_dense(ops.reshape(heads, (batch, length, self.hidden_dim)))  # (B, T, C)
            return outputs, cache
        if return_attention_scores:
            mask = attention_mask(padding_mask, length, self.causal)
            scores = self._scores(query, key, mask)  # (B, N, T, T) float32
            heads = ops.einsum("bnts,bsnh->btnh", ops.cast(scores, value.dtype), value)
        else:
            mask = attention_mask(padding_mask, length, causal=False)
            heads = ops.dot_product_attention(query, key, value, mask=mask, is_causal=self.causal)  # (B, T, N, H)
        outputs = self.output_dense(ops.reshape(heads, (batch, length, self.hidden_dim)))  # (B, T, C)
        outputs = self.output_dropout(outputs, training=training)
        return (outputs, scores) if return_attention_scores else outputs

    def _scores(self, query, key, mask):
        # float32 logits and softmax: bfloat16 logits lose the small differences softmax amplifies.
        logits = ops.einsum("btnh,bsnh->bnts", ops.cast(query, "float32"), ops.cast(key, "float32"))
        logits = logits / ops.sqrt(ops.cast(self.head_dim, "float32"))
        if mask is not None:
            # A large finite negative, like the fused kernel's, so a fully masked row is uniform, not NaN.
            logits = ops.where(mask, logits, ops.cast(-0.7 * 3.38953e38, "float32"))
        return ops.softmax(logits, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            hidden_dim=self.hidden_dim,
            dropout=self.dropout,
            causal=self.causal,
            use_bias=self.use_bias,
        )
        return config
