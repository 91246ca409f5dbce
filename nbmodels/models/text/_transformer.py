"""What the text transformers (GPT, TextClassifier) put in front of the shared trunk: token and
position embedding, the config fields it needs, and the parameters it adds."""

from __future__ import annotations

import keras

from nbmodels.checks import Fields
from nbmodels.layers import TokenAndPositionEmbedding
from nbmodels.models._transformer import TransformerModel, check_transformer_shape, trunk_parameter_count


def check_text_transformer_shape(config) -> None:
    """`vocabulary_size` and `sequence_length`, then the checks every transformer config shares."""
    fields = Fields(config)
    for name in ("vocabulary_size", "sequence_length"):
        fields.int(name, minimum=1)
    check_transformer_shape(config)


def text_trunk_parameter_count(config, vocabulary_size: int, sequence_length: int) -> int:
    """Parameters of `make_text_trunk(config, vocabulary_size, sequence_length, ...)`: the
    embedding tables and the shared trunk, without building them."""
    return (vocabulary_size + sequence_length) * config.hidden_dim + trunk_parameter_count(config)


class TransformerTextModel(TransformerModel):
    """Base of GPT and TextClassifier: token ids in, through `embedding` into the shared trunk."""

    def make_text_trunk(self, config, vocabulary_size: int, sequence_length: int, causal: bool) -> None:
        """Create `embedding` (tokens and positions) and then the shared trunk."""
        self.embedding = TokenAndPositionEmbedding(
            vocabulary_size,
            sequence_length,
            config.hidden_dim,
            # nanoGPT's initialisation of the embeddings: normal, std 0.02.
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=self.dtype_policy,
            name="embedding",
        )
        self.make_trunk(config, causal)

    def encode(self, token_ids, padding_mask=None, return_attention_scores=False, training=None):
        """Hidden states `(B, T, C)` after the final norm, and each layer's scores when asked."""
        x = self.embedding(token_ids)  # (B, T, C)
        return self.run_trunk(
            x, padding_mask, return_attention_scores=return_attention_scores, training=training
        )  # (B, T, C); scores (L, B, N, T, T)
