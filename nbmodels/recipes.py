"""Recipes: a model family, its datasets and a default TrainConfig, ready to train.

A recipe is what the training dashboard lists: pick one, a size and a dataset, adjust the
config, press Start. Each is a builder + data + a sensible `TrainConfig`, and nothing more;
training goes through the same `nbmodels.train` as everything else. The recipe, size and
dataset are recorded in the run's config.json, so `resume(run)` can rebuild the model and
data for a run loaded from disk.

Example:
>>> from nbmodels import recipes
>>> [recipe.name for recipe in recipes.list_recipes()]
['char_gpt', 'text_classifier']
>>> gpt = recipes.get_recipe("char_gpt")
>>> gpt.title, gpt.sizes, gpt.default_dataset
('Character GPT on a corpus', ('tiny', 'baby', 'shakespeare_char'), 'python_docs')
>>> f"{gpt.parameter_count('baby'):,}"
'809,856'
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from typing import Callable

from nbmodels.config import TrainConfig

# Bytes per parameter while training with Adam: the float32 weight, its gradient and Adam's
# two moments (4 + 4 + 8). Mixed precision keeps float32 master weights, so it is the same.
_TRAINING_BYTES_PER_PARAMETER = 16


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A trainable model family: sizes, datasets and the default `TrainConfig`.

    Attributes:
        name: registry name, e.g. "char_gpt".
        title: what a person reads in a picker.
        description: one or two sentences.
        sizes: the size preset names, smallest first.
        default_size: the size used when none is given.
        datasets: dataset names from `nbmodels.data` it trains on.
        default_dataset: the dataset used when none is given (offline).
        config: the default `TrainConfig`.
    """

    name: str
    title: str
    description: str
    sizes: tuple[str, ...]
    default_size: str
    datasets: tuple[str, ...]
    default_dataset: str
    config: TrainConfig
    # How the model's config is made from a size and the data's shape (vocabulary, length,
    # classes), how the model is built from that config and the data, and the data options a
    # size implies (the context length of text windows).
    _model_config: Callable = dataclasses.field(repr=False, compare=False)
    _build: Callable = dataclasses.field(repr=False, compare=False)
    _data_options: Callable = dataclasses.field(repr=False, compare=False)
    _shape_without_data: dict = dataclasses.field(repr=False, compare=False)

    # ---- what a picker shows, without loading data ----------------------------------------

    def model_config(self, size: str | None = None, data=None, **overrides):
        """The model config for `size`; the data's vocabulary, length and classes fill in the
        rest (without data: typical values, for estimates)."""
        size = self._check_size(size)
        shape = self._shape_without_data if data is None else _data_shape(data)
        return self._model_config(size, {**shape, **overrides})

    def parameter_count(self, size: str | None = None, data=None) -> int:
        """Parameters of the model of this size (computed, not built)."""
        return self.model_config(size, data).parameter_count()

    def estimate_memory(self, size: str | None = None, batch_size: int | None = None,
                        precision: str = "float32", data=None) -> int:
        """Estimated training memory in bytes: weights, gradients and Adam state, plus the
        activations kept for the backward pass (Korthikanti et al. 2022's count for one
        transformer layer, 34·C + 5·heads·T values per token) and the logits.

        An estimate to choose a batch size with, not a promise: the allocator, XLA and cuDNN
        workspaces add to it.
        """
        config = self.model_config(size, data)
        batch_size = batch_size or self.config.batch_size
        value_bytes = 2 if precision in ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16") else 4
        tokens = batch_size * config.sequence_length
        per_layer = tokens * (34 * config.hidden_dim + 5 * config.num_heads * config.sequence_length)
        activations = config.num_layers * per_layer * value_bytes // 2  # the count is in 16-bit bytes
        is_language_model = not hasattr(config, "num_classes")
        logits = tokens * config.vocabulary_size * 4 * 2 if is_language_model else 0  # float32 + gradient
        return config.parameter_count() * _TRAINING_BYTES_PER_PARAMETER + activations + logits

    # ---- training ---------------------------------------------------------------------------

    def data(self, dataset: str | None = None, size: str | None = None, **options):
        """Load the dataset (default `default_dataset`) with the options this size needs."""
        from nbmodels import data as datasets

        dataset = self._check_dataset(dataset)
        size = self._check_size(size)
        return datasets.load(dataset, **{**self._data_options(size, dataset), **options})

    def builder(self, size: str | None = None, data=None, **overrides) -> Callable:
        """A function that builds a new model of this size for `data` (what `train` takes)."""
        size = self._check_size(size)
        model_config = self.model_config(size, data, **overrides)

        def build():
            return self._build(model_config, data, name=f"{self.name}_{size}")

        build.__name__ = f"{self.name}_{size}"
        return build

    def train(self, size: str | None = None, dataset: str | None = None, config: TrainConfig | None = None, *,
              data=None, root=None, background: bool = False, name: str | None = None, verbose: bool = True,
              dataset_options: dict | None = None):
        """Train this recipe; returns the `Run` (see `nbmodels.train`).

        Args:
            size: a name in `sizes` (default `default_size`).
            dataset: a name in `datasets` (default `default_dataset`); or pass loaded `data`.
            config: a `TrainConfig` (default `self.config`).
            data: an already loaded `nbmodels.data.Dataset` (skips loading).
            root, background, name, verbose: as for `nbmodels.train`.
            dataset_options: extra options for `nbmodels.data.load` (e.g. `path=` for "text_file").
        """
        from nbmodels.training import train

        size = self._check_size(size)
        dataset_options = dict(dataset_options or {})
        if data is None:
            data = self.data(dataset, size, **dataset_options)
            dataset = self._check_dataset(dataset)
        else:
            dataset = data.name or dataset
        info = {"recipe": self.name, "size": size, "dataset": dataset, "dataset_options": dataset_options}
        return train(self.builder(size, data), data, config or self.config, name=name or f"{self.name}-{size}",
                     root=root, background=background, verbose=verbose, info=info)

    # ---- checks -----------------------------------------------------------------------------

    def _check_size(self, size):
        size = self.default_size if size is None else size
        if size not in self.sizes:
            raise ValueError(f"{self.name} has no size {size!r}; choose one of {', '.join(map(repr, self.sizes))}.")
        return size

    def _check_dataset(self, dataset):
        dataset = self.default_dataset if dataset is None else dataset
        if dataset not in self.datasets:
            raise ValueError(
                f"{self.name} does not train on {dataset!r}; choose one of {', '.join(map(repr, self.datasets))}."
            )
        return dataset


def _data_shape(data) -> dict:
    """The model-config fields a loaded dataset decides."""
    if data.task == "text":
        return {"vocabulary_size": data.num_classes}
    return {
        "vocabulary_size": data.extras.get("vocabulary_size", int(data.train[0].max()) + 1),
        "sequence_length": data.tokens_per_sample or data.input_shape[0],
        "num_classes": data.num_classes,
        "padding_id": data.extras.get("padding_id", 0),
    }


# ---- the recipes --------------------------------------------------------------------------------


def _char_gpt() -> Recipe:
    from nbmodels.models.text.gpt import GPT_SIZES, GPTConfig

    def model_config(size, shape):
        return GPTConfig.preset(size, **shape)

    def build(model_config, data, name):
        from nbmodels.data import CharTokenizer
        from nbmodels.models import GPT

        tokenizer = CharTokenizer(data.extras["vocab"]) if data is not None and "vocab" in data.extras else None
        return GPT(model_config, tokenizer=tokenizer, name=name)

    return Recipe(
        name="char_gpt",
        title="Character GPT on a corpus",
        description="nanoGPT's character-level language model: learns to continue text one character at "
        "a time. Trains on Python's own docs offline, or Tiny Shakespeare or any text file or URL.",
        sizes=("tiny", "baby", "shakespeare_char"),
        default_size="baby",
        datasets=("python_docs", "tiny_shakespeare", "text_file"),
        default_dataset="python_docs",
        # nanoGPT's shakespeare_char recipe: AdamW, lr 1e-3 with warmup and cosine decay to a
        # tenth, gradient clipping at 1, weight decay 0.1.
        config=TrainConfig(steps=2000, batch_size=12, optimizer="adamw", learning_rate=1e-3,
                           lr_schedule="warmup_cosine", warmup_steps=100, min_lr_ratio=0.1, weight_decay=0.1,
                           clip_norm=1.0, validate_every=250, checkpoint_every=500),
        _model_config=model_config,
        _build=build,
        _data_options=lambda size, dataset: {"context": GPT_SIZES[size]["sequence_length"]},
        _shape_without_data={"vocabulary_size": 65},  # Shakespeare's characters
    )


def _text_classifier() -> Recipe:
    from nbmodels.models.text.classifier import TextClassifierConfig

    def model_config(size, shape):
        return TextClassifierConfig.preset(size, **shape)

    def build(model_config, data, name):
        from nbmodels.models import TextClassifier

        return TextClassifier(model_config, name=name)

    def data_options(size, dataset):
        return {"n": 4000, "sequence_length": 32} if dataset == "key_token" else {}

    return Recipe(
        name="text_classifier",
        title="Text classifier on a dataset",
        description="A transformer encoder with a CLS token: classifies token sequences, and its attention "
        "shows which tokens decided. The synthetic key-token set works offline; IMDB reviews download.",
        sizes=("tiny", "small", "base"),
        default_size="tiny",
        datasets=("key_token", "imdb"),
        default_dataset="key_token",
        config=TrainConfig(epochs=3, batch_size=32, optimizer="adamw", learning_rate=1e-3,
                           lr_schedule="warmup_cosine", warmup_steps=20, weight_decay=0.01),
        _model_config=model_config,
        _build=build,
        _data_options=data_options,
        _shape_without_data={"vocabulary_size": 20000, "sequence_length": 256, "num_classes": 2},  # IMDB's
    )


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Recipe]:
    recipes = (_char_gpt(), _text_classifier())
    return {recipe.name: recipe for recipe in recipes}


def list_recipes() -> list[Recipe]:
    """Every recipe, in the order a picker shows them."""
    return list(_registry().values())


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name is a `ValueError` with a suggestion."""
    recipes = _registry()
    if name not in recipes:
        close = difflib.get_close_matches(str(name), recipes, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"No recipe {name!r}; known: {', '.join(map(repr, recipes))}.{hint}")
    return recipes[name]


def resume(run, *, background: bool = False, verbose: bool = True):
    """Resume a run a recipe started, in this or another process (it reloads the data).

    Example:
    >>> from nbmodels import Run, recipes
    >>> run = Run.load("20261124-101500-char_gpt-baby-1a2b")  # doctest: +SKIP
    >>> recipes.resume(run)  # doctest: +SKIP
    """
    info = getattr(run, "info", {}) or {}
    if "recipe" not in info:
        raise ValueError(
            f"Run {run.id} was not started from a recipe; call run.resume(builder, data) with the model "
            "builder and data it was trained with."
        )
    recipe = get_recipe(info["recipe"])
    data = recipe.data(info.get("dataset"), info.get("size"), **(info.get("dataset_options") or {}))
    return run.resume(recipe.builder(info.get("size"), data), data, background=background, verbose=verbose)
