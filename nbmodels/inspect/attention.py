"""Attention maps of one example, attention rollout and "where does this token attend".

Everything here is a pure function with numpy out: a dashboard renders what these return,
and a test can call them without a browser. Only `attention_maps` touches the model (one
forward pass through its `attention_scores`); the rest is numpy on an `AttentionMap`.

Example:
>>> import numpy as np
>>> from nbmodels.inspect import attention_maps, attention_rollout, key_attention
>>> from nbmodels.models import GPT, GPTConfig
>>> model = GPT(GPTConfig.preset("tiny"))
>>> attention = attention_maps(model, np.array([5, 6, 7, 8]))
>>> attention.summary()
'AttentionMap: 2 layers x 2 heads, 4 queries x 4 keys, causal'
>>> rollout = attention_rollout(attention)
>>> rollout.shape, bool(np.allclose(rollout.sum(axis=1), 1.0)), float(rollout[0, 1])
((4, 4), True, 0.0)
>>> key_attention(attention, query=2).shape
(4,)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbmodels.checks import check_choice, check_int, fail

HEAD_REDUCTIONS = ("mean", "max")
CLS_LABEL = "[CLS]"


@dataclasses.dataclass(frozen=True)
class AttentionMap:
    """Every layer's and head's attention for one example.

    Args:
        scores: `(layers, heads, queries, keys)` float32; row `q` of a head is how query
            position `q` spreads its attention over the key positions (each row sums to 1).
        tokens: one label per position (queries and keys are the same positions); a model
            that prepends a CLS token has `"[CLS]"` first.
        causal: whether a position only attends to itself and earlier positions.
    """

    scores: np.ndarray
    tokens: list[str]
    causal: bool

    def __post_init__(self):
        scores = np.asarray(self.scores, dtype=np.float32)
        if scores.ndim != 4 or scores.shape[2] != scores.shape[3]:
            raise ValueError(
                f"AttentionMap.scores must have shape (layers, heads, queries, keys) with queries == keys, "
                f"got shape {scores.shape}."
            )
        if len(self.tokens) != scores.shape[2]:
            raise ValueError(
                f"AttentionMap.tokens has {len(self.tokens)} labels but the scores cover {scores.shape[2]} positions."
            )
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "tokens", [str(token) for token in self.tokens])
        object.__setattr__(self, "causal", bool(self.causal))

    @property
    def num_layers(self) -> int:
        return self.scores.shape[0]

    @property
    def num_heads(self) -> int:
        return self.scores.shape[1]

    @property
    def num_positions(self) -> int:
        return self.scores.shape[2]

    def summary(self) -> str:
        """A stable one-line description (shape, layers, heads, causality) for notebooks."""
        kind = "causal" if self.causal else "bidirectional"
        return (
            f"AttentionMap: {self.num_layers} layers x {self.num_heads} heads, "
            f"{self.num_positions} queries x {self.num_positions} keys, {kind}"
        )


def attention_maps(model, inputs, tokenizer=None, index: int = 0) -> AttentionMap:
    """Run `model.attention_scores` on `inputs` and keep example `index`'s attention.

    Args:
        model: a model with `attention_scores(token_ids)` returning
            `(layers, batch, heads, positions, positions)`, e.g. `GPT` or `TextClassifier`.
        inputs: token ids, 1-D `(T,)` or 2-D `(B, T)`, or a string when `tokenizer` is given.
        tokenizer: labels the positions through `id_to_token` (and encodes a string input);
            without one, the labels are the ids as strings.
        index: which example of a 2-D batch to keep.

    Returns:
        An `AttentionMap`. A model that prepends a CLS token (a `TextClassifier` with
        `pooling="cls"`) has one more position than the input, labelled `"[CLS]"`, first.

    Raises:
        ValueError: the model has no `attention_scores`, the input is empty, not integer ids,
            longer than the model's `config.sequence_length`, or `index` is out of range.
    """
    if not callable(getattr(model, "attention_scores", None)):
        fail("attention_maps", "model", model, (
            "it has no attention_scores(token_ids) method; attention maps need a model that returns its "
            "attention scores, such as nbmodels.models.GPT or TextClassifier"
        ))
    if isinstance(inputs, str) and tokenizer is None:
        fail("attention_maps", "tokenizer", None,
             "the input is a string and there is no tokenizer to encode it: pass tokenizer=")
    token_ids = _token_ids(inputs, tokenizer)  # (B, T)
    batch, length = token_ids.shape
    limit = getattr(getattr(model, "config", None), "sequence_length", None)
    if limit is not None and length > limit:
        raise ValueError(
            f"The input has {length} tokens but the model's config.sequence_length is {limit}; "
            f"pass at most {limit} tokens."
        )
    _check_index("attention_maps", "index", index, batch, f"the batch has {batch} example(s)")

    scores = np.asarray(model.attention_scores(token_ids), dtype=np.float32)  # (L, B, N, S, S)
    scores = scores[:, index]  # (L, N, S, S)
    positions = scores.shape[-1]
    prefix = positions - length  # 1 when the model prepends a CLS token
    if prefix not in (0, 1):
        raise ValueError(
            f"{type(model).__name__}.attention_scores covers {positions} positions for {length} tokens; "
            "expected the tokens, or the tokens and one CLS token."
        )
    ids = token_ids[index].tolist()
    labels = [tokenizer.id_to_token(i) for i in ids] if tokenizer is not None else [str(i) for i in ids]
    return AttentionMap(scores=scores, tokens=[CLS_LABEL] * prefix + labels, causal=_is_causal(model, scores))


def attention_rollout(attention_map: AttentionMap, head_reduction: str = "mean", residual: bool = True) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): how much each input position reaches each
    position of the last layer, following attention through every layer.

    Each layer's heads are reduced (`"mean"` or `"max"`); with `residual=True` the identity is
    added for the skip connection; rows are renormalised to sum to 1, and the layers are
    multiplied from first to last: `R = A_L @ ... @ A_1`.

    Returns:
        `(queries, keys)` float32; every row sums to 1, and a causal model's rollout is zero
        above the diagonal.
    """
    check_choice("attention_rollout", "head_reduction", head_reduction, HEAD_REDUCTIONS)
    scores = attention_map.scores.astype(np.float64)  # (L, N, S, S)
    layers = scores.mean(axis=1) if head_reduction == "mean" else scores.max(axis=1)  # (L, S, S)
    if residual:
        layers = layers + np.eye(attention_map.num_positions)
    layers = layers / np.maximum(layers.sum(axis=-1, keepdims=True), np.finfo(np.float64).tiny)
    rollout = np.eye(attention_map.num_positions)
    for layer in layers:  # first to last: each layer mixes what the layers below have mixed
        rollout = layer @ rollout
    return rollout.astype(np.float32)


def key_attention(attention_map: AttentionMap, query: int = 0, layer: int = -1) -> np.ndarray:
    """Where position `query` attends at `layer`: its attention row averaged over heads,
    `(keys,)` float32 summing to 1. With a CLS model, `query=0` is the CLS token."""
    positions, layers = attention_map.num_positions, attention_map.num_layers
    _check_index("key_attention", "query", query, positions, f"the map has {positions} positions")
    _check_index("key_attention", "layer", layer, layers, f"the map has {layers} layers")
    return attention_map.scores[layer, :, query, :].mean(axis=0)  # (keys,)


def _token_ids(inputs, tokenizer) -> np.ndarray:
    """`inputs` as a 2-D int32 array `(B, T)`, or a ValueError saying what is wrong with it."""
    if isinstance(inputs, str):  # attention_maps made sure there is a tokenizer
        inputs = tokenizer.encode(inputs)
    try:
        token_ids = np.asarray(inputs)
    except (TypeError, ValueError) as error:  # ragged nested lists
        raise ValueError(f"The input must be an array of token ids: {error}") from None
    if token_ids.size == 0:
        raise ValueError(f"The input is empty (shape {token_ids.shape}); pass at least one token.")
    if token_ids.dtype.kind not in "iu":
        raise ValueError(f"The input must be integer token ids, got dtype {token_ids.dtype}.")
    if token_ids.ndim == 1:
        token_ids = token_ids[None]
    if token_ids.ndim != 2:
        raise ValueError(f"The input must be 1-D (T,) or 2-D (B, T) token ids, got shape {token_ids.shape}.")
    return token_ids.astype(np.int32)


def _is_causal(model, scores: np.ndarray) -> bool:
    blocks = getattr(model, "blocks", None)
    if blocks:
        return any(getattr(block, "causal", False) for block in blocks)
    # A model without transformer blocks we know: causal iff nothing is above the diagonal.
    above_diagonal = np.triu(np.ones(scores.shape[-2:], dtype=bool), k=1)
    return bool(above_diagonal.any()) and not np.any(scores[..., above_diagonal])


def _check_index(owner: str, name: str, value, size: int, why: str) -> None:
    check_int(owner, name, value, minimum=-size, maximum=size - 1, why=f"{why}; negative counts from the end")
