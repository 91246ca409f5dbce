"""The Recipe protocol and the registry the training dashboard lists.

A recipe is a class: its class attributes say what a picker shows (name, title, sizes,
datasets, the default `TrainConfig`), and a few methods say how the family turns a size and
a dataset into a model. Everything else — checking the size and dataset, loading the data,
counting parameters, estimating memory, training, resuming — is written once, here.

A family module (`nbmodels.recipes.text`, ...) defines its recipes and files each one with
`@register`; it never edits another family's module.

What a recipe writes:
    class attributes: name, title, description, sizes, default_size, datasets,
        default_dataset, config, shape_without_data.
    data_shape(data): the model-config fields a loaded dataset decides (vocabulary, classes).
    make_model_config(size, shape): the model's config for a size and those fields.
    build_model(model_config, data, name): the Keras model (called inside the strategy scope).
    activation_bytes(model_config, batch_size, value_bytes): the family's memory for the
        backward pass; the base adds the weights, gradients and optimizer state.
    data_options(size, dataset) (optional): options for `nbmodels.data.load` a size implies.
    train_options + training_arguments(size, data, options) (optional): the recipe's own
        options of `train()` (augmentation, fine-tuning) and the `nbmodels.train` arguments
        they become; they are recorded in the run, so `resume(run)` uses them again.
    model_overrides(options) (optional): the model-config fields those options set.
    option_choices (optional): the choices of those options that have a known set, e.g.
        {"augmentation": ("auto", "none", ...)}; the training dashboard shows them as dropdowns.

Example:
>>> import dataclasses
>>> from nbmodels import TrainConfig
>>> from nbmodels.recipes import Recipe, get_recipe, register, unregister
>>> @dataclasses.dataclass(frozen=True)
... class LineConfig:
...     features: int
...     def parameter_count(self):
...         return self.features + 1
>>> @register
... class Line(Recipe):
...     name = "line"
...     title = "A straight line"
...     description = "Linear regression on generated points with a known slope."
...     sizes = ("one",)
...     default_size = "one"
...     datasets = ("linear_regression",)
...     default_dataset = "linear_regression"
...     config = TrainConfig(epochs=5)
...     shape_without_data = {"features": 3}
...
...     def data_shape(self, data):
...         return {"features": data.input_shape[0]}
...
...     def make_model_config(self, size, shape):
...         return LineConfig(**shape)
...
...     def build_model(self, model_config, data, name):
...         import keras
...         return keras.Sequential([keras.layers.Dense(1)], name=name)
...
...     def activation_bytes(self, model_config, batch_size, value_bytes):
...         return batch_size * (model_config.features + 1) * value_bytes
>>> get_recipe("line").parameter_count(), get_recipe("line").estimate_memory(batch_size=10)
(4, 224)
>>> unregister("line")
"""

from __future__ import annotations

import abc
from typing import Callable, ClassVar

from nbmodels.checks import check_choice, did_you_mean, fail
from nbmodels.config import TrainConfig

# Bytes per parameter while training with Adam: the float32 weight, its gradient and Adam's
# two moments (4 + 4 + 8). Mixed precision keeps float32 master weights, so it is the same.
_TRAINING_BYTES_PER_PARAMETER = 16

# Precisions whose activations take 2 bytes a value.
_HALF_PRECISIONS = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


class Recipe(abc.ABC):
    """A trainable model family: sizes, datasets and the default `TrainConfig`.

    Subclass it, declare the class attributes and write the four abstract methods (see the
    module docstring); `register` makes it listed.

    Attributes:
        name: registry name, e.g. "char_gpt".
        title: what a person reads in a picker.
        description: one or two sentences.
        sizes: the size preset names, smallest first.
        default_size: the size used when none is given.
        datasets: dataset names from `nbmodels.data` it trains on.
        default_dataset: the dataset used when none is given (offline).
        config: the default `TrainConfig`.
        shape_without_data: typical values of the fields `data_shape` returns, so that a
            picker can count parameters and estimate memory without loading data.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    sizes: ClassVar[tuple[str, ...]]
    default_size: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    default_dataset: ClassVar[str]
    config: ClassVar[TrainConfig]
    shape_without_data: ClassVar[dict]
    # The recipe's own options of train(), with their defaults (JSON values: they are recorded
    # in the run's config.json, so that resume(run) trains with them again).
    train_options: ClassVar[dict] = {}
    # The allowed values of those options that have a known set (option -> tuple of values):
    # what the training dashboard offers in a dropdown next to the size and dataset.
    option_choices: ClassVar[dict] = {}

    # ---- what a family writes -----------------------------------------------------------------

    @abc.abstractmethod
    def data_shape(self, data) -> dict:
        """The model-config fields a loaded dataset decides (vocabulary size, length, classes)."""

    @abc.abstractmethod
    def make_model_config(self, size: str, shape: dict):
        """The model's config (with a `parameter_count()` method) for `size` and `shape`."""

    @abc.abstractmethod
    def build_model(self, model_config, data, name: str):
        """A new Keras model for `model_config`; `data` is the loaded Dataset, or None."""

    @abc.abstractmethod
    def activation_bytes(self, model_config, batch_size: int, value_bytes: int) -> int:
        """Bytes of the values the backward pass keeps for a batch, `value_bytes` each."""

    def data_options(self, size: str, dataset: str) -> dict:
        """Options for `nbmodels.data.load` that this size implies (none by default)."""
        return {}

    def model_overrides(self, options: dict) -> dict:
        """Model-config fields that this recipe's `options` set (e.g. a backbone's `weights`);
        none by default."""
        return {}

    def training_arguments(self, size: str, data, options: dict) -> dict:
        """Keyword arguments for `nbmodels.train` (e.g. `augment=`) that this recipe's
        `options` (its `train_options`, filled in and checked) imply; none by default."""
        return {}

    # ---- what a picker shows, without loading data ----------------------------------------

    def model_config(self, size: str | None = None, data=None, **overrides):
        """The model config for `size`; the data's vocabulary, length and classes fill in the
        rest (without data: typical values, for estimates)."""
        size = self._check_size(size)
        shape = self.shape_without_data if data is None else self.data_shape(data)
        return self.make_model_config(size, {**shape, **overrides})

    def parameter_count(self, size: str | None = None, data=None) -> int:
        """Parameters of the model of this size (computed, not built)."""
        return self.model_config(size, data).parameter_count()

    def estimate_memory(self, size: str | None = None, batch_size: int | None = None,
                        precision: str = "float32", data=None) -> int:
        """Estimated training memory in bytes: weights, gradients and Adam state, plus the
        activations the family says the backward pass keeps (`activation_bytes`).

        An estimate to choose a batch size with, not a promise: the allocator, XLA and cuDNN
        workspaces add to it.
        """
        model_config = self.model_config(size, data)
        batch_size = batch_size or self.config.batch_size
        value_bytes = 2 if precision in _HALF_PRECISIONS else 4
        weights_and_optimizer = model_config.parameter_count() * _TRAINING_BYTES_PER_PARAMETER
        return weights_and_optimizer + self.activation_bytes(model_config, batch_size, value_bytes)

    # ---- training ---------------------------------------------------------------------------

    def data(self, dataset: str | None = None, size: str | None = None, **options):
        """Load the dataset (default `default_dataset`) with the options this size needs."""
        from nbmodels import data as datasets

        dataset = self._check_dataset(dataset)
        size = self._check_size(size)
        return datasets.load(dataset, **{**self.data_options(size, dataset), **options})

    def builder(self, size: str | None = None, data=None, **overrides) -> Callable:
        """A function that builds a new model of this size for `data` (what `train` takes)."""
        size = self._check_size(size)
        model_config = self.model_config(size, data, **overrides)

        def build():
            return self.build_model(model_config, data, name=f"{self.name}_{size}")

        build.__name__ = f"{self.name}_{size}"
        return build

    def train(self, size: str | None = None, dataset: str | None = None, config: TrainConfig | None = None, *,
              data=None, root=None, background: bool = False, name: str | None = None, verbose: bool = True,
              dataset_options: dict | None = None, **options):
        """Train this recipe; returns the `Run` (see `nbmodels.train`).

        Args:
            size: a name in `sizes` (default `default_size`).
            dataset: a name in `datasets` (default `default_dataset`); or pass loaded `data`.
            config: a `TrainConfig` (default `self.config`).
            data: an already loaded `nbmodels.data.Dataset` (skips loading).
            root, background, name, verbose: as for `nbmodels.train`.
            dataset_options: extra options for `nbmodels.data.load` (e.g. `path=` for "text_file").
            **options: the recipe's own options, named in its `train_options` (with defaults).
        """
        from nbmodels.training import train

        size = self._check_size(size)
        options = self._check_options(options)
        dataset_options = dict(dataset_options or {})
        if data is None:
            data = self.data(dataset, size, **dataset_options)
            dataset = self._check_dataset(dataset)
        else:
            dataset = data.name or dataset
        info = {"recipe": self.name, "size": size, "dataset": dataset, "dataset_options": dataset_options,
                "options": options}
        builder = self.builder(size, data, **self.model_overrides(options))
        return train(builder, data, config or self.config, name=name or f"{self.name}-{size}",
                     root=root, background=background, verbose=verbose, info=info,
                     **self.training_arguments(size, data, options))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, sizes={self.sizes!r}, datasets={self.datasets!r})"

    # ---- checks -----------------------------------------------------------------------------

    def _check_size(self, size):
        size = self.default_size if size is None else size
        check_choice(self.name, "size", size, self.sizes)
        return size

    def _check_options(self, options: dict) -> dict:
        """`options` over the defaults in `train_options`; an unknown name is a ConfigError."""
        for option, value in options.items():
            if option not in self.train_options:
                known = ", ".join(self.train_options) or "none"
                fail(f"{self.name}.train", option, value,
                     f"it is not an option of this recipe{did_you_mean(option, self.train_options)}; its own options: "
                     f"{known}")
        return {**self.train_options, **options}

    def _check_dataset(self, dataset):
        dataset = self.default_dataset if dataset is None else dataset
        check_choice(self.name, "dataset", dataset, self.datasets)
        return dataset


# ---- the registry -----------------------------------------------------------------------------

_REGISTRY: dict[str, Recipe] = {}


def register(recipe_class: type[Recipe]) -> type[Recipe]:
    """File a recipe class under its `name`, as a class decorator; the picker lists recipes in
    the order they were registered.

    Registering the same class again (re-running a notebook cell, reloading its module)
    replaces it; another class with a name already taken is a `ValueError`.
    """
    if not (isinstance(recipe_class, type) and issubclass(recipe_class, Recipe)):
        raise ValueError(f"register() takes a Recipe subclass, got {recipe_class!r}.")
    # Recipe's annotations name the class attributes every recipe declares.
    missing = [field for field in Recipe.__annotations__ if not hasattr(recipe_class, field)]
    if missing:
        raise ValueError(f"Recipe {recipe_class.__qualname__} must declare {', '.join(missing)} as class attributes.")
    if recipe_class.__abstractmethods__:
        methods = ", ".join(sorted(recipe_class.__abstractmethods__))
        raise ValueError(f"Recipe {recipe_class.__qualname__} ({recipe_class.name!r}) must define {methods}.")
    check_choice(recipe_class.name, "default_size", recipe_class.default_size, recipe_class.sizes)
    check_choice(recipe_class.name, "default_dataset", recipe_class.default_dataset, recipe_class.datasets)
    existing = _REGISTRY.get(recipe_class.name)
    if existing is not None and not _same_class(type(existing), recipe_class):
        raise ValueError(
            f"A recipe named {recipe_class.name!r} is already registered (by {type(existing).__module__}."
            f"{type(existing).__qualname__}); choose another name."
        )
    _REGISTRY[recipe_class.name] = recipe_class()
    return recipe_class


def unregister(name: str) -> None:
    """Remove the recipe called `name` (a notebook's experiment, a test's recipe)."""
    get_recipe(name)  # an unknown name is the same clear error
    del _REGISTRY[name]


def _same_class(a: type, b: type) -> bool:
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def list_recipes() -> list[Recipe]:
    """Every recipe, in the order a picker shows them."""
    return list(_REGISTRY.values())


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name is a `ValueError` with a suggestion."""
    if name not in _REGISTRY:
        known = ", ".join(map(repr, _REGISTRY))
        raise ValueError(f"No recipe {name!r}{did_you_mean(name, _REGISTRY)}; known: {known}.")
    return _REGISTRY[name]


def resume(run, *, background: bool = False, verbose: bool = True):
    """Resume a run a recipe started, in this or another process (it reloads the data).

    Example:
    >>> from nbmodels import Run, recipes
    >>> run = Run.load("20261124-101500-char_gpt-baby-1a2b")  # doctest: +SKIP
    >>> recipes.resume(run)  # doctest: +SKIP
    """
    from nbmodels.training import resume as resume_training

    info = getattr(run, "info", {}) or {}
    if "recipe" not in info:
        raise ValueError(
            f"Run {run.id} was not started from a recipe; call nbmodels.resume(run, builder, data) with "
            "the model builder and data it was trained with."
        )
    recipe = get_recipe(info["recipe"])
    size = info.get("size")
    data = recipe.data(info.get("dataset"), size, **(info.get("dataset_options") or {}))
    options = recipe._check_options(info.get("options") or {})
    builder = recipe.builder(size, data, **recipe.model_overrides(options))
    return resume_training(run, builder, data, background=background, verbose=verbose,
                           **recipe.training_arguments(recipe._check_size(size), data, options))
