"""Text recipes: a character GPT and a text classifier, both transformers over token ids.

Each recipe reads top to bottom: what a picker shows, the default `TrainConfig`, then how a
size and a dataset become a model config and a model. Keras loads only when a model config
or a model is first made, so listing recipes stays cheap.

Example:
>>> from nbmodels.recipes import get_recipe
>>> classifier = get_recipe("text_classifier")
>>> classifier.sizes, classifier.datasets
(('tiny', 'small', 'base'), ('key_token', 'imdb'))
>>> f"{classifier.estimate_memory('tiny', 32):,}"
'70,346,272'
"""

from __future__ import annotations

from nbmodels.config import TrainConfig
from nbmodels.recipes.base import Recipe, register


class TransformerRecipe(Recipe):
    """What the text family's recipes share: the memory a transformer trunk keeps for backprop."""

    def activation_bytes(self, model_config, batch_size: int, value_bytes: int) -> int:
        """Korthikanti et al. 2022's count of the activations one transformer layer keeps,
        34·C + 5·heads·T values per token, counted in 16-bit bytes."""
        tokens = batch_size * model_config.sequence_length
        per_layer = tokens * (34 * model_config.hidden_dim + 5 * model_config.num_heads * model_config.sequence_length)
        return model_config.num_layers * per_layer * value_bytes // 2


@register
class CharGPTRecipe(TransformerRecipe):
    name = "char_gpt"
    title = "Character GPT on a corpus"
    description = ("nanoGPT's character-level language model: learns to continue text one character at a time. "
                   "Trains on Python's own docs offline, or Tiny Shakespeare or any text file or URL.")
    sizes = ("tiny", "baby", "shakespeare_char")
    default_size = "baby"
    datasets = ("python_docs", "tiny_shakespeare", "text_file")
    default_dataset = "python_docs"
    # nanoGPT's shakespeare_char recipe: AdamW, lr 1e-3 with warmup and cosine decay to a
    # tenth, gradient clipping at 1, weight decay 0.1.
    config = TrainConfig(steps=2000, batch_size=12, optimizer="adamw", learning_rate=1e-3,
                         lr_schedule="warmup_cosine", warmup_steps=100, min_lr_ratio=0.1, weight_decay=0.1,
                         clip_norm=1.0, validate_every=250, checkpoint_every=500)
    shape_without_data = {"vocabulary_size": 65}  # Shakespeare's characters

    def data_options(self, size, dataset):
        from nbmodels.models.text.gpt import GPT_SIZES

        return {"context": GPT_SIZES[size]["sequence_length"]}  # windows as long as the model's context

    def data_shape(self, data):
        return {"vocabulary_size": data.num_classes}  # a text Dataset's classes are its characters

    def make_model_config(self, size, shape):
        from nbmodels.models.text.gpt import GPTConfig

        return GPTConfig.preset(size, **shape)

    def build_model(self, model_config, data, name):
        from nbmodels.data import CharTokenizer
        from nbmodels.models import GPT

        # The corpus's characters become the model's tokenizer, so it generates text, not ids.
        tokenizer = CharTokenizer(data.extras["vocab"]) if data is not None and "vocab" in data.extras else None
        return GPT(model_config, tokenizer=tokenizer, name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        # Plus the logits over the vocabulary: float32 whatever the precision, and their gradient.
        logits = batch_size * model_config.sequence_length * model_config.vocabulary_size * 4 * 2
        return super().activation_bytes(model_config, batch_size, value_bytes) + logits


@register
class TextClassifierRecipe(TransformerRecipe):
    name = "text_classifier"
    title = "Text classifier on a dataset"
    description = ("A transformer encoder with a CLS token: classifies token sequences, and its attention "
                   "shows which tokens decided. The synthetic key-token set works offline; IMDB reviews download.")
    sizes = ("tiny", "small", "base")
    default_size = "tiny"
    datasets = ("key_token", "imdb")
    default_dataset = "key_token"
    config = TrainConfig(epochs=3, batch_size=32, optimizer="adamw", learning_rate=1e-3,
                         lr_schedule="warmup_cosine", warmup_steps=20, weight_decay=0.01)
    shape_without_data = {"vocabulary_size": 20000, "sequence_length": 256, "num_classes": 2}  # IMDB's

    def data_options(self, size, dataset):
        return {"n": 4000, "sequence_length": 32} if dataset == "key_token" else {}

    def data_shape(self, data):
        return {
            "vocabulary_size": data.extras.get("vocabulary_size", int(data.train[0].max()) + 1),
            "sequence_length": data.tokens_per_sample or data.input_shape[0],
            "num_classes": data.num_classes,
            "padding_id": data.extras.get("padding_id", 0),
        }

    def make_model_config(self, size, shape):
        from nbmodels.models.text.classifier import TextClassifierConfig

        return TextClassifierConfig.preset(size, **shape)

    def build_model(self, model_config, data, name):
        from nbmodels.models import TextClassifier

        return TextClassifier(model_config, name=name)
