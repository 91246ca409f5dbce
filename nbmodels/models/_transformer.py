"""What the transformer text models share: the trunk (embedding, blocks, final norm), running
it with or without attention scores, and config (de)serialization."""

from __future__ import annotations

import keras
from keras import ops

from nbmodels.checks import check_divides, check_float, check_int, check_rate
from nbmodels.layers import TokenAndPositionEmbedding, TransformerBlock


def check_transformer_shape(config) -> None:
    """The field checks every transformer config shares; fills intermediate_dim's default (4x)."""
    for name in ("vocabulary_size", "sequence_length", "num_layers", "num_heads", "hidden_dim"):
        check_int(config, name, minimum=1)
    check_divides(config, "num_heads", "hidden_dim")
    if config.intermediate_dim is None:
        object.__setattr__(config, "intermediate_dim", 4 * config.hidden_dim)
    check_int(config, "intermediate_dim", minimum=1)
    check_rate(config, "dropout")
    check_float(config, "layer_norm_epsilon", low=0.0, low_open=True)


def trunk_parameter_count(config, vocabulary_size: int, sequence_length: int) -> int:
    """Parameters of `transformer_trunk(config, vocabulary_size, sequence_length, ...)`, without
    building it (a GPT-2-sized model takes seconds and ~0.5 GB to build)."""
    width, hidden, layers = config.hidden_dim, config.intermediate_dim, config.num_layers
    embedding = (vocabulary_size + sequence_length) * width
    block = (
        2 * 2 * width  # two LayerNorms
        + width * 3 * width + 3 * width  # query, key, value
        + width * width + width  # attention output
        + width * hidden + hidden + hidden * width + width  # MLP
    )
    return embedding + layers * block + 2 * width  # + the final LayerNorm


def transformer_trunk(config, vocabulary_size: int, sequence_length: int, causal: bool, dtype):
    """What every transformer text model here shares: token and position embedding, its
    dropout, `num_layers` pre-norm blocks and the final LayerNorm."""
    embedding = TokenAndPositionEmbedding(
        vocabulary_size,
        sequence_length,
        config.hidden_dim,
        # nanoGPT's initialisation of the embeddings: normal, std 0.02.
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
        dtype=dtype,
        name="embedding",
    )
    dropout = keras.layers.Dropout(config.dropout, dtype=dtype, name="embedding_dropout")
    blocks = [
        TransformerBlock(
            config.hidden_dim,
            config.num_heads,
            config.intermediate_dim,
            dropout=config.dropout,
            causal=causal,
            layer_norm_epsilon=config.layer_norm_epsilon,
            dtype=dtype,
            name=f"block_{i}",
        )
        for i in range(config.num_layers)
    ]
    final_norm = keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, dtype=dtype, name="final_norm")
    return embedding, dropout, blocks, final_norm


class TransformerTextModel(keras.Model):
    """Base of GPT and TextClassifier; subclasses set `config` and the trunk in `__init__`."""

    def encode(self, token_ids, padding_mask=None, return_attention_scores=False, training=None):
        """Hidden states `(B, T, C)` after the final norm, and each layer's scores when asked."""
        x = self.embedding(token_ids)  # (B, T, C)
        x = self.embedding_dropout(x, training=training)
        scores = []
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, return_attention_scores=return_attention_scores,
                      training=training)  # (B, T, C)
            if return_attention_scores:
                x, block_scores = x  # block_scores: (B, N, T, T)
                scores.append(block_scores)
        return self.final_norm(x), (ops.stack(scores) if scores else None)  # scores: (L, B, N, T, T)

    def attention_scores(self, token_ids):
        """Every layer's attention scores, `(num_layers, B, num_heads, T, T)` float32."""
        return self(token_ids, return_attention_scores=True)[1]

    def get_config(self):
        config = super().get_config()
        config.update(config=self.config.to_dict())
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
