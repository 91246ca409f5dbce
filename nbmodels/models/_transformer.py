"""The trunk every transformer model here shares, whatever its input: dropout on the input
embeddings, `num_layers` pre-norm blocks and a final LayerNorm, run with or without attention
scores; the config checks and parameter count that go with it, and config (de)serialization.

Nothing here knows tokens: a family embeds its own inputs into `(B, T, C)` (text:
`models/text/_transformer.py`, token and position embedding; image patches with a class token
would do the same) and hands them to `TransformerModel.run_trunk`. So another family imports this
module without the text family.
"""

from __future__ import annotations

import keras
from keras import ops

from nbmodels.checks import Fields
from nbmodels.models._base import ConfiguredModel
from nbmodels.layers import TransformerBlock


def check_transformer_shape(config) -> None:
    """The field checks every transformer config shares; fills intermediate_dim's default (4x)."""
    fields = Fields(config)
    for name in ("num_layers", "num_heads", "hidden_dim"):
        fields.int(name, minimum=1)
    fields.divides("num_heads", "hidden_dim")
    if config.intermediate_dim is None:
        object.__setattr__(config, "intermediate_dim", 4 * config.hidden_dim)
    fields.int("intermediate_dim", minimum=1)
    fields.rate("dropout")
    fields.float("layer_norm_epsilon", low=0.0, low_open=True)


def trunk_parameter_count(config) -> int:
    """Parameters of the trunk `TransformerModel.make_trunk(config, ...)` makes (the blocks and
    the final LayerNorm), without building it (a GPT-2-sized model takes seconds and ~0.5 GB to
    build). The family adds its input embedding and head."""
    width, hidden, layers = config.hidden_dim, config.intermediate_dim, config.num_layers
    block = (
        2 * 2 * width  # two LayerNorms
        + width * 3 * width + 3 * width  # query, key, value
        + width * width + width  # attention output
        + width * hidden + hidden + hidden * width + width  # MLP
    )
    return layers * block + 2 * width  # + the final LayerNorm


class TransformerModel(ConfiguredModel):
    """Base of the transformer models (GPT, TextClassifier, and any family that embeds its own inputs).

    A subclass sets `config` (sizes: `num_layers`, `num_heads`, `hidden_dim`, `intermediate_dim`,
    `dropout`, `layer_norm_epsilon`; `to_dict()` for saving), makes its input embedding and then
    `make_trunk(config, causal)` in `__init__`, builds the trunk with `build_trunk` and, in
    `call`, hands its embedded inputs `(B, T, C)` to `run_trunk`. The trunk's layers are the
    model's own attributes (`embedding_dropout`, `blocks`, `final_norm`), so weight paths read
    `model/block_0/...` and `.keras` files keep their layout.

    Example:
    >>> import types
    >>> import numpy as np
    >>> from nbmodels.models._transformer import TransformerModel
    >>> class VectorEncoder(TransformerModel):  # its inputs are already (B, T, C) vectors
    ...     def __init__(self, config, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.config = config
    ...         self.make_trunk(config, causal=False)
    ...     def call(self, x, return_attention_scores=False):
    ...         return self.run_trunk(x, return_attention_scores=return_attention_scores)
    >>> sizes = types.SimpleNamespace(num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
    ...                               dropout=0.0, layer_norm_epsilon=1e-5)
    >>> hidden, scores = VectorEncoder(sizes)(np.zeros((3, 5, 8), "float32"), return_attention_scores=True)
    >>> tuple(hidden.shape), tuple(scores.shape)
    ((3, 5, 8), (2, 3, 2, 5, 5))
    """

    # XLA fuses the attention and MLP elementwise work: on a CPU it halves a training step once
    # compiled (bench/results/xla_auto-cpu.txt); training/execution.py's `use_xla` reads this.
    xla_pays_on_cpu = True

    def make_trunk(self, config, causal: bool) -> None:
        """Create `embedding_dropout`, `blocks` (`config.num_layers` pre-norm blocks, causal
        attention when `causal`) and `final_norm`, in the model's compute dtype."""
        policy = self.dtype_policy
        self.embedding_dropout = keras.layers.Dropout(config.dropout, dtype=policy, name="embedding_dropout")
        self.blocks = [
            TransformerBlock(
                config.hidden_dim,
                config.num_heads,
                config.intermediate_dim,
                dropout=config.dropout,
                causal=causal,
                layer_norm_epsilon=config.layer_norm_epsilon,
                dtype=policy,
                name=f"block_{i}",
            )
            for i in range(config.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_epsilon, dtype=policy, name="final_norm"
        )

    def build_trunk(self, hidden_shape) -> None:
        """Build the blocks and the final norm for inputs of `hidden_shape` `(B, T, C)`."""
        for block in self.blocks:
            block.build(hidden_shape)
        self.final_norm.build(hidden_shape)

    def run_trunk(self, x, padding_mask=None, return_attention_scores=False, training=None):
        """Hidden states `(B, T, C)` after the final norm, from input embeddings `x` `(B, T, C)`,
        and every layer's attention scores `(L, B, N, T, T)` when asked (else None).

        `padding_mask` `(B, T)` marks real positions (True) and padding (False), which no
        position attends to. Without scores the blocks run the fused attention.
        """
        x = self.embedding_dropout(x, training=training)  # (B, T, C)
        scores = []
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, return_attention_scores=return_attention_scores,
                      training=training)  # (B, T, C)
            if return_attention_scores:
                x, block_scores = x  # block_scores: (B, N, T, T)
                scores.append(block_scores)
        return self.final_norm(x), (ops.stack(scores) if scores else None)  # scores: (L, B, N, T, T)

    def attention_scores(self, inputs):
        """Every layer's attention scores, `(num_layers, B, num_heads, T, T)` float32."""
        return self(inputs, return_attention_scores=True)[1]
