"""A transformer encoder that classifies token sequences, with attention you can read.

`TextClassifierConfig` holds the sizes (presets "tiny", "small", "base");
`TextClassifier(config)` embeds the tokens, runs bidirectional pre-norm blocks that ignore
padding, pools one vector per sequence (a learned CLS token, or the mean of the real tokens)
and returns float32 class logits.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from nbmodels.checks import Fields, preset_fields
from nbmodels.models.text._transformer import (
    TransformerTextModel,
    check_text_transformer_shape,
    text_trunk_parameter_count,
)

POOLINGS = ("cls", "mean")


@dataclasses.dataclass(frozen=True)
class TextClassifierConfig:
    """Sizes of a `TextClassifier`, checked on construction.

    A bad value raises `ValueError` naming the field, the value and what is allowed.
    `TextClassifierConfig.preset(name, vocabulary_size=..., sequence_length=..., num_classes=...)`
    gives the sizes in `TEXT_CLASSIFIER_SIZES`.

    Example:
    >>> from nbmodels.models import TextClassifierConfig
    >>> config = TextClassifierConfig.preset("tiny", vocabulary_size=32, sequence_length=16, num_classes=4)
    >>> config.num_layers, config.hidden_dim, config.pooling
    (1, 32, 'cls')
    >>> TextClassifierConfig(vocabulary_size=32, sequence_length=16, num_classes=4, pooling="max")
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: TextClassifierConfig.pooling='max' is not allowed: choose one of 'cls', 'mean'.
    """

    vocabulary_size: int
    sequence_length: int  # tokens per example, not counting the CLS token
    num_classes: int
    num_layers: int = 2
    num_heads: int = 4  # must divide hidden_dim
    hidden_dim: int = 128
    intermediate_dim: int | None = None  # None = 4 * hidden_dim, as in BERT and GPT-2
    dropout: float = 0.1  # classifiers usually see little data: some regularisation helps
    # "cls": a learned token prepended to every sequence gathers what the classifier needs
    # through attention (BERT), so its attention row shows what the model looked at.
    # "mean": average the real (non-padding) tokens' outputs; no extra token.
    pooling: str = "cls"
    padding_id: int = 0  # this id is padding: no token attends to it and mean pooling skips it
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self):
        check_text_transformer_shape(self)
        fields = Fields(self)
        fields.int("num_classes", minimum=2)
        fields.choice("pooling", POOLINGS)
        fields.int("padding_id", minimum=0)
        if self.padding_id >= self.vocabulary_size:
            fields.fail("padding_id", f"it must be a token id below vocabulary_size={self.vocabulary_size}")

    @classmethod
    def preset(cls, name: str, **fields) -> TextClassifierConfig:
        """The named sizes of `TEXT_CLASSIFIER_SIZES`; the data's fields (vocabulary_size,
        sequence_length, num_classes) and any other override come as keyword arguments."""
        return cls(**{**preset_fields(cls, TEXT_CLASSIFIER_SIZES, name), **fields})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def parameter_count(self) -> int:
        """Parameters of `TextClassifier(self)`, computed without building it."""
        use_cls = self.pooling == "cls"
        trunk = text_trunk_parameter_count(self, self.vocabulary_size + use_cls, self.sequence_length + use_cls)
        return trunk + self.hidden_dim * self.num_classes + self.num_classes


# Named sizes: "tiny" trains in seconds on a CPU (tests, the key_token demo); "small" suits
# short texts on a laptop; "base" is BERT-base's shape (12 layers, 12 heads, 768 wide).
TEXT_CLASSIFIER_SIZES = {
    "tiny": dict(num_layers=1, num_heads=2, hidden_dim=32, dropout=0.0),
    "small": dict(num_layers=4, num_heads=4, hidden_dim=256),
    "base": dict(num_layers=12, num_heads=12, hidden_dim=768),
}


@keras.saving.register_keras_serializable(package="nbmodels")
class TextClassifier(TransformerTextModel):
    """A bidirectional transformer encoder with a classification head.

    Tokens equal to `config.padding_id` are masked out as attention keys (and from mean
    pooling). With `pooling="cls"` a learned CLS token is placed before the tokens, so the
    attention scores cover `T + 1` positions and token `t` sits at index `t + 1`.

    Args:
        config: a `TextClassifierConfig` (or its dict, as `get_config` stores it).
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: `(B, T)` integer tensor, `T <= config.sequence_length`.
        return_attention_scores: bool. Also return every layer's attention scores, stacked:
            `(num_layers, B, num_heads, S, S)` float32, `S = T + 1` with CLS pooling, else `T`.
        training: bool. Whether dropout is active.

    Returns:
        Logits `(B, num_classes)` in float32, or `(logits, scores)` when
        `return_attention_scores=True`.

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import TextClassifier, TextClassifierConfig
    >>> config = TextClassifierConfig.preset("tiny", vocabulary_size=10, sequence_length=6, num_classes=3)
    >>> logits, scores = TextClassifier(config)(np.array([[4, 5, 6, 0]]), return_attention_scores=True)
    >>> tuple(logits.shape), tuple(scores.shape)
    ((1, 3), (1, 1, 2, 5, 5))
    """

    def __init__(self, config: TextClassifierConfig | dict, **kwargs):
        kwargs.setdefault("name", "text_classifier")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, TextClassifierConfig) else TextClassifierConfig(**config)
        config = self.config
        use_cls = config.pooling == "cls"
        # The CLS token is one more id (vocabulary_size) at one more position (0), so it goes
        # through the same embedding as every other token.
        self.make_text_trunk(
            config, config.vocabulary_size + use_cls, config.sequence_length + use_cls, causal=False
        )
        # float32 like every model's logits, so the loss is computed in full precision.
        self.classifier = keras.layers.Dense(config.num_classes, dtype="float32", name="classifier")
        # Built now, like a functional model: count_params() and summary() work before any call.
        self.build((None, None))

    def build(self, input_shape):
        if self.built:  # built in __init__; the variables do not depend on the sequence length
            return
        batch, length = tuple(input_shape)
        length = None if length is None else length + (self.config.pooling == "cls")
        hidden_shape = (batch, length, self.config.hidden_dim)
        self.embedding.build((batch, length))
        self.build_trunk(hidden_shape)
        self.classifier.build((batch, self.config.hidden_dim))
        self.built = True

    def call(self, token_ids, return_attention_scores=False, training=None):
        token_ids = ops.convert_to_tensor(token_ids, "int32")
        if self.config.pooling == "cls":
            cls = ops.full((ops.shape(token_ids)[0], 1), self.config.vocabulary_size, dtype="int32")
            token_ids = ops.concatenate([cls, token_ids], axis=1)  # (B, S), S = T + 1
        padding_mask = ops.not_equal(token_ids, self.config.padding_id)  # (B, S); CLS is never padding
        x, scores = self.encode(
            token_ids, padding_mask, return_attention_scores=return_attention_scores, training=training
        )  # (B, S, C); scores (L, B, N, S, S)
        if self.config.pooling == "cls":
            pooled = x[:, 0]  # (B, C)
        else:
            weights = ops.cast(padding_mask, x.dtype)[:, :, None]  # (B, S, 1)
            pooled = ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1)  # (B, C)
        logits = self.classifier(pooled)  # (B, num_classes) float32
        return (logits, scores) if return_attention_scores else logits
