"""GPT: a decoder-only transformer language model, nanoGPT's shape in Keras.

`GPTConfig` holds every size (with named presets from a test-sized "tiny" up to GPT-2's
124M); `GPT(config)` is the model. Its forward pass reads top to bottom: token and position
embedding, causal pre-norm blocks, a final LayerNorm, and float32 logits over the vocabulary.
"""

from __future__ import annotations

import dataclasses
import os

import keras
from keras import ops

from nbmodels.checks import Fields, preset_fields
from nbmodels.models.text._transformer import (
    TransformerTextModel,
    check_text_transformer_shape,
    text_trunk_parameter_count,
)


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Sizes of a `GPT`, checked on construction.

    A bad value raises `ValueError` naming the field, the value and what is allowed.
    `GPTConfig.preset(name, **overrides)` gives the sizes in `GPT_SIZES`.

    Example:
    >>> from nbmodels.models import GPTConfig
    >>> config = GPTConfig.preset("tiny", vocabulary_size=65)
    >>> config.num_layers, config.hidden_dim, config.intermediate_dim
    (2, 32, 128)
    >>> GPTConfig(vocabulary_size=65, sequence_length=64, num_heads=5, hidden_dim=32)
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: GPTConfig.num_heads=5 is not allowed: it must divide hidden_dim=32.
    """

    vocabulary_size: int = 50257  # GPT-2's BPE; a character tokenizer's is far smaller
    sequence_length: int = 1024  # the context: one learned position vector per position
    num_layers: int = 12
    num_heads: int = 12  # must divide hidden_dim; each head attends in hidden_dim / num_heads
    hidden_dim: int = 768
    # The MLP's width; None = 4 * hidden_dim, the ratio GPT-2 and nanoGPT use.
    intermediate_dim: int | None = None
    # 0.0 for pretraining big models on lots of data (nanoGPT); ~0.1-0.2 for small data sets
    # a small model can memorise, like Shakespeare characters.
    dropout: float = 0.0
    # Share the token embedding with the output projection: fewer parameters (38M of GPT-2's
    # 124M would otherwise be a second vocabulary matrix) and, at small scale, better loss.
    tie_weights: bool = True
    layer_norm_epsilon: float = 1e-5  # GPT-2's

    def __post_init__(self):
        check_text_transformer_shape(self)
        Fields(self).bool("tie_weights")

    @classmethod
    def preset(cls, name: str, **overrides) -> GPTConfig:
        """The named sizes of `GPT_SIZES`, with any field replaced by `overrides`."""
        return cls(**{**preset_fields(cls, GPT_SIZES, name), **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def parameter_count(self) -> int:
        """Parameters of `GPT(self)`, computed without building it."""
        head = 0 if self.tie_weights else self.vocabulary_size * self.hidden_dim
        return text_trunk_parameter_count(self, self.vocabulary_size, self.sequence_length) + head


# Named sizes. "tiny" is for tests; "baby" and "shakespeare_char" are nanoGPT's character-level
# Shakespeare configs (a laptop CPU one and a one-GPU one, vocabulary 65); "gpt2" is GPT-2 small.
GPT_SIZES = {
    "tiny": dict(vocabulary_size=64, sequence_length=16, num_layers=2, num_heads=2, hidden_dim=32),
    "baby": dict(vocabulary_size=65, sequence_length=64, num_layers=4, num_heads=4, hidden_dim=128),
    "shakespeare_char": dict(
        vocabulary_size=65, sequence_length=256, num_layers=6, num_heads=6, hidden_dim=384, dropout=0.2
    ),
    "gpt2": dict(vocabulary_size=50257, sequence_length=1024, num_layers=12, num_heads=12, hidden_dim=768),
}


@keras.saving.register_keras_serializable(package="nbmodels")
class GPT(TransformerTextModel):
    """A decoder-only transformer: next-token logits for every position.

    Each position sees only itself and earlier ones (causal attention), so the logits at
    position t predict token t + 1 and never depend on later tokens.

    `generate()` and `stream()` continue prompts (see `nbmodels.generation`). A tokenizer given
    to the model travels with it: `model.save("gpt.keras")` stores it inside the `.keras` file
    and `keras.saving.load_model` brings it back, so text prompts work after loading.

    Args:
        config: a `GPTConfig` (or its dict, as `get_config` stores it).
        tokenizer: optional tokenizer (`nbmodels.data.CharTokenizer`, `BPETokenizer`) whose
            vocabulary size matches `config.vocabulary_size`.
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: `(B, T)` integer tensor, `T <= config.sequence_length`.
        return_attention_scores: bool. Also return every layer's attention scores, stacked:
            `(num_layers, B, num_heads, T, T)` float32. Without it the fused attention runs.
        training: bool. Whether dropout is active.

    Returns:
        Logits `(B, T, vocabulary_size)` in float32 (also under mixed precision), or
        `(logits, scores)` when `return_attention_scores=True`.

    Example:
    >>> import keras, numpy as np
    >>> from nbmodels.models import GPT, GPTConfig
    >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=11))
    >>> logits, scores = model(np.array([[1, 2, 3]]), return_attention_scores=True)
    >>> tuple(logits.shape), keras.backend.standardize_dtype(logits.dtype), tuple(scores.shape)
    ((1, 3, 11), 'float32', (2, 1, 2, 3, 3))
    """

    def __init__(self, config: GPTConfig | dict, tokenizer=None, **kwargs):
        kwargs.setdefault("name", "gpt")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, GPTConfig) else GPTConfig(**config)
        self.tokenizer = tokenizer
        config = self.config
        policy = self.dtype_policy
        self.make_text_trunk(config, config.vocabulary_size, config.sequence_length, causal=True)
        self.lm_head = None
        if not config.tie_weights:
            self.lm_head = keras.layers.Dense(config.vocabulary_size, use_bias=False, dtype=policy, name="lm_head")
        # Built now, like a functional model: count_params() and summary() work before any call.
        self.build((None, None))

    def build(self, input_shape):
        if self.built:  # built in __init__; the variables do not depend on the sequence length
            return
        hidden_shape = tuple(input_shape) + (self.config.hidden_dim,)
        self.embedding.build(input_shape)
        self.build_trunk(hidden_shape)
        if self.lm_head is not None:
            self.lm_head.build(hidden_shape)
        self.built = True

    @property
    def tied_output_weights(self) -> int:
        """Weights the output multiplies by that the token embedding holds (the tied head), so that
        `training.execution.estimated_step_flops` counts them per position, not per lookup."""
        return self.config.vocabulary_size * self.config.hidden_dim if self.config.tie_weights else 0

    @property
    def tokenizer(self):
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer):
        size = getattr(tokenizer, "vocabulary_size", None)
        if tokenizer is not None and size != self.config.vocabulary_size:
            raise ValueError(
                f"The tokenizer has {size} tokens but this GPT's vocabulary_size is "
                f"{self.config.vocabulary_size}; build the model with GPTConfig(vocabulary_size={size}, ...)."
            )
        self._tokenizer = tokenizer  # no variables; saved through save_assets below

    def call(self, token_ids, return_attention_scores=False, training=None):
        x, scores = self.encode(token_ids, return_attention_scores=return_attention_scores, training=training)
        logits = self.logits(x)
        return (logits, scores) if return_attention_scores else logits

    def logits(self, hidden):
        """Float32 vocabulary logits `(..., V)` from final hidden states `(..., C)`."""
        if self.lm_head is None:
            return self.embedding.reverse(hidden)
        # In the compute dtype (bfloat16 matmuls are the point of mixed precision), then
        # float32 so the loss's softmax over the vocabulary is computed in full precision.
        return ops.cast(self.lm_head(hidden), "float32")

    # ---- generation ------------------------------------------------------------------

    def empty_cache(self, batch_size: int, length: int):
        """One zero key/value cache per block (a tuple), for `call_with_cache`."""
        return tuple(block.attention.empty_cache(batch_size, length) for block in self.blocks)

    def call_with_cache(self, token_ids, cache, index):
        """Final hidden states of `token_ids` `(B, T)` at positions `index .. index + T - 1`,
        reading and extending `cache`; returns `(hidden (B, T, C), updated cache)`. Inference only."""
        x = self.embedding(token_ids, start_index=index)  # (B, T, C)
        updated = []
        for block, layer_cache in zip(self.blocks, cache):
            x, layer_cache = block(x, cache=layer_cache, cache_index=index)
            updated.append(layer_cache)
        return self.final_norm(x), tuple(updated)

    def generate(self, prompts, **options):
        """Continue `prompts`; see `nbmodels.generation.generate` for the options.

        Example:
        >>> from nbmodels.data import CharTokenizer
        >>> from nbmodels.models import GPT, GPTConfig
        >>> tokenizer = CharTokenizer.from_text("abcdefgh ")
        >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
        >>> result = model.generate("abc", max_new_tokens=5, seed=0)
        >>> len(result.token_ids[0]), result.finish_reasons
        (5, ['length'])
        """
        from nbmodels.generation import generate

        return generate(self, prompts, **options)

    def stream(self, prompts, **options):
        """Yield generated tokens as they come; see `nbmodels.generation.stream`."""
        from nbmodels.generation import stream

        return stream(self, prompts, **options)

    # ---- saving the tokenizer inside the .keras file ---------------------------------

    def save_assets(self, dir_path):
        if self.tokenizer is not None:
            self.tokenizer.save(os.path.join(dir_path, TOKENIZER_FILE))

    def load_assets(self, dir_path):
        path = os.path.join(dir_path, TOKENIZER_FILE)
        if os.path.exists(path):
            from nbmodels.data.text.tokenizers import load_tokenizer

            self.tokenizer = load_tokenizer(path)


TOKENIZER_FILE = "tokenizer.json"
