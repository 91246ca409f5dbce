"""The dataset registry: what a `Dataset` is, and how a name becomes one.

A loader is a plain function that takes keyword options and returns a `Dataset`;
`register` files it under a name, `load` checks the options against the loader's
signature (so a typo is a clear `ValueError`, never a `TypeError` from deep inside)
and stamps the registered name, description and source on the result.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import numpy as np

from nbmodels.checks import ConfigError, check_choice, fail
from nbmodels.data import sources

TASKS = ("classification", "regression", "text", "retrieval")
# Where a dataset comes from, in the order list_datasets() shows them: what works offline first.
# "local" is the user's own files (an image folder): offline, but not shipped with nbmodels.
SOURCES = ("embedded", "generated", "local", "download")

# What `model.compile` gets for each task. nbmodels models output logits, so
# "sparse_categorical_crossentropy" means from_logits=True here (nbmodels.train builds
# the loss that way). Text is next-token classification over the vocabulary. Retrieval has no
# targets (it trains on positive pairs): the model computes its own loss ("" = none to compile).
_TASK_LOSS_AND_METRICS = {
    "classification": ("sparse_categorical_crossentropy", ("accuracy",)),
    "regression": ("mse", ("mae",)),
    "text": ("sparse_categorical_crossentropy", ("accuracy",)),
    "retrieval": ("", ()),
}


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Dataset:
    """A loaded dataset: arrays plus what a model and a trainer need to know about them.

    Args:
        name: registry name; filled in by `load()`.
        description: one sentence; filled in by `load()`.
        task: `"classification"`, `"regression"`, `"text"` (next-token prediction) or
            `"retrieval"` (positive pairs, no targets: the model computes its own loss).
        train: `(x, y)` numpy arrays in memory, or a `Source` read by index (a
            `LazySource` for sets too large for memory) or a `tf.data.Dataset` (see
            `nbmodels.data.sources`: exact resume needs an indexable source). x is an array
            or a dict of named arrays (one per model input), float32 (int32 token ids for
            text); y is int32 class ids (classification, text), float32 targets
            (regression), or `None` (retrieval, and only retrieval).
        validation: like `train`, or `None`.
        num_classes: number of classes (the vocabulary size for text), else `None`.
        input_shape: shape of one example, e.g. `(64,)`, or a dict of shapes by input name
            for dict features; defaults to the shape of the first training example.
        loss: the loss name for `model.compile`: `"sparse_categorical_crossentropy"`
            (meaning `from_logits=True`: models output logits; `nbmodels.train` compiles
            it that way), `"mse"`, or `""` (retrieval: the model adds its own loss).
            Defaults from `task`.
        metrics: metric names for `model.compile`, e.g. `("accuracy",)`; defaults from `task`.
        source: `"embedded"`, `"generated"`, `"local"` (the user's own files) or
            `"download"`; filled in by `load()`.
        ground_truth: for generated sets, the true parameters (e.g. `{"weights": ...}`).
        tokens_per_sample: sequence length when x holds token sequences, else `None`.
        extras: anything else a consumer may need, e.g. `{"vocab": [...]}` for text or
            `{"class_names": [...]}` for labelled images.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("digits")
    >>> ds.summary()
    'digits: classification, train x (1438, 64) float32 -> y (1438,) int32, validation 359, 10 classes, source embedded'
    >>> x_train, y_train = ds.train
    >>> ds.loss, ds.metrics
    ('sparse_categorical_crossentropy', ('accuracy',))

    Named features without targets (retrieval trains on positive pairs), and rows read lazily:

    >>> import numpy as np
    >>> pairs = {"user": np.array([0, 1, 2], "int32"), "item": np.array([5, 3, 5], "int32")}
    >>> data.Dataset(task="retrieval", train=(pairs, None)).summary()
    'dataset: retrieval, train x {user: () int32, item: () int32} -> no y, 3 examples, no validation, source unregistered'
    >>> lazy = data.LazySource(1000, load_row=lambda i: (np.full(8, i, "float32"), np.int32(i % 2)))
    >>> data.Dataset(task="classification", train=lazy, num_classes=2).input_shape
    (8,)
    """

    name: str = ""
    description: str = ""
    task: str
    train: tuple[np.ndarray | dict[str, np.ndarray], np.ndarray | None] | sources.Source
    validation: tuple[np.ndarray | dict[str, np.ndarray], np.ndarray | None] | sources.Source | None = None
    num_classes: int | None = None
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]] | None = None
    loss: str = ""
    metrics: tuple[str, ...] = ()
    source: str = ""
    ground_truth: dict[str, Any] | None = None
    tokens_per_sample: int | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        # Frozen dataclass: derived defaults go in through object.__setattr__.
        check_choice(self, "task", self.task, TASKS)
        if self.source:
            check_choice(self, "source", self.source, SOURCES)
        object.__setattr__(self, "train", _check_split("train", self.train))
        if self.validation is not None:
            object.__setattr__(self, "validation", _check_split("validation", self.validation))
        if self.task not in ("regression", "retrieval") and self.num_classes is None:
            fail(self, "num_classes", None, f"a {self.task} Dataset needs num_classes: pass the number of distinct labels")
        x, y = _example(self.train)
        if (y is None) != (self.task == "retrieval"):
            raise ValueError(
                f"A {self.task} Dataset {'has no' if y is None else 'takes no'} targets: "
                + ("give train=(x, y) with y the targets, or use task='retrieval' for examples without "
                   "targets (the model computes its own loss)." if y is None else
                   "give train=(x, None); the model computes its own loss from x.")
            )
        if self.input_shape is None:
            shape = {k: tuple(v.shape[1:]) for k, v in x.items()} if isinstance(x, dict) else tuple(x.shape[1:])
            object.__setattr__(self, "input_shape", shape)
        default_loss, default_metrics = _TASK_LOSS_AND_METRICS[self.task]
        object.__setattr__(self, "loss", self.loss or default_loss)
        object.__setattr__(self, "metrics", tuple(self.metrics) or default_metrics)

    def summary(self) -> str:
        """One deterministic line: name, task, shapes and dtypes, classes, source."""
        x, y = _example(self.train)
        if isinstance(self.train, tuple) and not isinstance(x, dict) and y is not None:  # arrays: whole shapes
            train = f"train x {x.shape} {x.dtype} -> y {y.shape} {y.dtype}"
        else:  # one example's shapes, then how many and, for a Source, which kind
            kind = "" if isinstance(self.train, tuple) else f" ({type(self.train).__name__})"
            train = f"train {sources.describe_example(x, y)}, {_length(self.train)} examples{kind}"
        parts = [
            f"{self.name or 'dataset'}: {self.task}",
            train,
            f"validation {_length(self.validation)}" if self.validation is not None else "no validation",
        ]
        if self.num_classes is not None:
            parts.append(
                f"vocab {self.num_classes}" if self.task == "text" else f"{self.num_classes} classes"
            )
        if self.tokens_per_sample is not None:
            parts.append(f"{self.tokens_per_sample} tokens/sample")
        parts.append(f"source {self.source or 'unregistered'}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets()` tells about a registered dataset, without loading it.

    `options` are the keyword options `load(name, ...)` accepts. `tasks` are the tasks the
    loader may return (an option such as `task="ranking"` picks one); `task` is the first, the
    one it returns by default.
    """

    name: str
    description: str
    task: str
    source: str
    options: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "tasks", tuple(self.tasks) or (self.task,))


@dataclasses.dataclass(frozen=True)
class _Entry:
    info: DatasetInfo
    loader: Callable[..., Dataset]
    required: tuple[str, ...]
    accepts_any_option: bool  # the loader takes **options


_REGISTRY: dict[str, _Entry] = {}


def register(
    name: str,
    loader: Callable[..., Dataset] | None = None,
    *,
    description: str,
    task: str | tuple[str, ...],
    source: str,
):
    """Add a dataset to the registry, as a decorator or a plain call.

    Args:
        name: the name `load()` will take. Must not be taken by another loader;
            registering the same function again (re-running a notebook cell,
            reloading a module) replaces it.
        loader: a function taking keyword options and returning a `Dataset`.
            Omit it to use `register` as a decorator.
        description: one sentence for `list_datasets()`.
        task: `"classification"`, `"regression"`, `"text"` or `"retrieval"`; or a tuple of
            them when an option picks the task, the default first (a recommender set gives
            `("retrieval", "regression")`: positive pairs, or ratings with `task="ranking"`).
        source: `"embedded"`, `"generated"`, `"local"` (read from the user's own files)
            or `"download"`.

    Returns:
        The loader, unchanged (so decorated functions stay callable).

    Example:

    >>> import numpy as np
    >>> from nbmodels import data
    >>> @data.register("xor", description="The XOR truth table.",
    ...                task="classification", source="generated")
    ... def xor(*, repeat=1):
    ...     x = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32"), (repeat, 1))
    ...     y = (x[:, 0] != x[:, 1]).astype("int32")
    ...     return data.Dataset(task="classification", train=(x, y), num_classes=2)
    >>> data.load("xor", repeat=2).summary()
    'xor: classification, train x (8, 2) float32 -> y (8,) int32, no validation, 2 classes, source generated'
    """
    if not isinstance(name, str) or not name or name != name.strip():
        fail("register", "name", name, "it must be a non-empty string without surrounding spaces")
    if not isinstance(description, str) or not description:
        fail(f"register({name!r})", "description", description, "give one sentence for list_datasets()")
    tasks = tuple(task) if isinstance(task, (tuple, list)) and task else (task,)
    for one in tasks:
        check_choice(f"register({name!r})", "task", one, TASKS)
    check_choice(f"register({name!r})", "source", source, SOURCES)

    def add(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        if not callable(fn):
            fail(f"register({name!r})", "loader", fn, "it must be a function that returns a Dataset")
        existing = _REGISTRY.get(name)
        # Re-running the module that registered it (autoreload, importlib.reload) is fine.
        if existing is not None and not _same_function(existing.loader, fn):
            fail("register", "name", name, (
                f"a dataset named {name!r} is already registered "
                f"(by {existing.loader.__module__}.{existing.loader.__qualname__}); choose another name"
            ))
        options, required, accepts_any = _keyword_options(name, fn)
        info = DatasetInfo(name, description, tasks[0], source, options, tasks)
        _REGISTRY[name] = _Entry(info, fn, required, accepts_any)
        return fn

    return add if loader is None else add(loader)


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset: embedded ones first, then generated, then local (your own
    files), then downloaded; in registration order within each.

    Example:

    >>> from nbmodels import data
    >>> [info.name for info in data.list_datasets() if info.source != "download"]
    ['digits', 'python_docs', 'linear_regression', 'blobs', 'marker', 'key_token', 'synthetic_interactions', 'image_folder']
    """
    order = {source: rank for rank, source in enumerate(SOURCES)}
    return sorted((entry.info for entry in _REGISTRY.values()), key=lambda info: order[info.source])


def load(name: str, **options) -> Dataset:
    """Load a registered dataset by name.

    Args:
        name: a name from `list_datasets()`.
        **options: the loader's keyword options, e.g. `validation_split=0.2, seed=0`.

    Raises:
        ConfigError (a ValueError): unknown name, unknown or missing option, or a bad option value.
        DownloadError: a downloaded dataset could not be fetched.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("blobs", n=300, classes=3, seed=1)
    >>> ds.train[0].shape, ds.num_classes
    ((240, 2), 3)
    """
    known = [info.name for info in list_datasets()]  # in the order list_datasets() shows them
    check_choice("load", "name", name, known, fix="list_datasets() describes each")
    entry = _REGISTRY[name]
    info = entry.info
    owner = f"load({name!r})"
    if not entry.accepts_any_option:
        for option in options:
            if not info.options:
                fail(owner, "option", option, f"{name!r} takes no options")
            check_choice(owner, "option", option, info.options)
    missing = [option for option in entry.required if option not in options]
    if missing:
        example = ", ".join(f"{option}=..." for option in missing)
        allowed = f"load({name!r}, {example})"  # the error is filed under the first missing option
        raise ConfigError(owner, missing[0], None, allowed,
                          message=f"{owner} needs the option(s) {', '.join(missing)}: {allowed}.")

    dataset = entry.loader(**options)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"The loader for {name!r} returned {type(dataset).__name__}, not a Dataset.")
    if dataset.task not in info.tasks:
        raise ValueError(
            f"The loader for {name!r} returned a {dataset.task} Dataset but was registered as {' or '.join(info.tasks)}."
        )
    return dataclasses.replace(dataset, name=info.name, description=info.description, source=info.source)


def _keyword_options(name, fn) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(option names, required option names, takes **options) from a loader's signature."""
    options, required, accepts_any = [], [], False
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            accepts_any = True
        elif parameter.kind in (parameter.POSITIONAL_ONLY, parameter.VAR_POSITIONAL):
            fail(f"register({name!r})", "loader", fn, (
                f"it must take keyword options only; {parameter.name!r} cannot be passed by keyword"
            ))
        else:
            options.append(parameter.name)
            if parameter.default is parameter.empty:
                required.append(parameter.name)
    return tuple(options), tuple(required), accepts_any


def _same_function(a, b) -> bool:
    return (a.__module__, a.__qualname__) == (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


def _check_split(which, split):
    """An (x, y) pair of arrays stays a tuple (`x, y = ds.train` keeps working); anything else
    must be a Source, and a tf.data.Dataset becomes one."""
    if isinstance(split, (tuple, list)) and len(split) == 2:
        sources.check_arrays(f"Dataset {which}", *split)
        return tuple(split)
    if isinstance(split, (tuple, list)):
        raise ValueError(
            f"Dataset {which} must be an (x, y) pair of arrays, got a {type(split).__name__} of {len(split)}."
        )
    return sources.as_source(split, name=f"Dataset {which}")


def _example(split):
    """(features, targets) of the split's first example(s): whole arrays in memory, else one row
    of the source, so a Dataset never reads a lazy source beyond its first example."""
    return split if isinstance(split, tuple) else sources.first_rows(split)


def _length(split) -> int:
    return sources.num_rows(split[0]) if isinstance(split, tuple) else len(split)
