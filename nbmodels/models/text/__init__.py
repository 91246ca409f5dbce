"""The text family: a GPT-style causal language model and a Transformer text classifier, each
a config dataclass with named sizes and a Keras model built on the shared transformer trunk."""

from nbmodels.models.text.classifier import TEXT_CLASSIFIER_SIZES, TextClassifier, TextClassifierConfig
from nbmodels.models.text.gpt import GPT, GPT_SIZES, GPTConfig

__all__ = ["GPT", "GPT_SIZES", "GPTConfig", "TEXT_CLASSIFIER_SIZES", "TextClassifier", "TextClassifierConfig"]
