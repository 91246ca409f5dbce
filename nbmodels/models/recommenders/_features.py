"""Side features of the recommender models: per-id tables baked into a model, and their embeddings.

Every input of a recommender model is an id; what is known about each id (a user's age group and
occupation, an item's genres and title) lives in a table indexed by that id. `SideTables` holds
the tables as non-trainable weights (so a `.keras` file carries them), `FieldEmbeddings` turns an
id and its table rows into one d-vector per field (LightFM's fields: the id's own embedding and
one per feature), and `TableSpec` describes one table so that configs can count parameters
without building anything. The two-tower and the ranking models share all of it, and the checks
that give a table or an id of the wrong shape a clear error.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from nbmodels.checks import ConfigError, check_int, fail

USER_FEATURE_KINDS = ("categorical", "numeric")


class TableSpec(NamedTuple):
    """One side-feature table of an id (a user or an item).

    kind "categorical": table (N,) int32 of category ids below `size`, embedded.
    kind "dense": table (N, width) float32 (multi-hot genres, standardised numbers), mapped linearly.
    kind "tokens": table (N, width) int32 token ids below `size`, 0 = padding, embedded and averaged.
    """

    name: str
    kind: str
    size: int  # categories or vocabulary (0 for dense)
    width: int  # values per id (1 for categorical)

    @property
    def table_shape_tail(self) -> tuple:
        return () if self.kind == "categorical" else (self.width,)

    @property
    def dtype(self) -> str:
        return "float32" if self.kind == "dense" else "int32"

    def embedding_parameters(self, dim: int) -> int:
        return (self.width if self.kind == "dense" else self.size) * dim


def user_table_specs(user_features) -> tuple[TableSpec, ...]:
    """The tables of a config's `user_features` ((name, kind, size) triples)."""
    return tuple(
        TableSpec(name, "categorical", size, 1) if kind == "categorical" else TableSpec(name, "dense", 0, size)
        for name, kind, size in user_features
    )


def item_table_specs(num_genres: int, title_vocab_size: int = 0, title_length: int = 0) -> tuple[TableSpec, ...]:
    specs = []
    if num_genres:
        specs.append(TableSpec("genres", "dense", 0, num_genres))
    if title_vocab_size:
        specs.append(TableSpec("title", "tokens", title_vocab_size, title_length))
    return tuple(specs)


def field_parameter_count(num_ids: int, specs, dim: int) -> int:
    """Parameters of `FieldEmbeddings(num_ids, specs, dim)`."""
    return num_ids * dim + sum(spec.embedding_parameters(dim) for spec in specs)


def table_parameter_count(num_ids: int, specs) -> int:
    """Values of `SideTables(num_ids, specs)` (non-trainable weights, counted by count_params)."""
    return sum(num_ids * spec.width for spec in specs)


class SideTables(keras.layers.Layer):
    """Per-id side features as constant, non-trainable weights: `call(ids)` gives each table's rows.

    Weights, not constants in the graph, so that a `.keras` file saves them and a model loaded
    from it (which builds zero placeholders from its config) gets them back.
    """

    def __init__(self, num_ids: int, specs, tables: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_ids, self.specs = num_ids, tuple(specs)
        for spec in self.specs:
            weight = self.add_weight(shape=(num_ids, *spec.table_shape_tail), dtype=spec.dtype, initializer="zeros",
                                     trainable=False, autocast=False, name=spec.name)
            if tables is not None:
                weight.assign(tables[spec.name])
        self.built = True

    def call(self, ids):
        # int32 whatever comes in: Keras' symbolic build under MirroredStrategy averages a batch
        # across replicas, which makes integer ids float32.
        ids = ops.cast(ids, "int32")
        return [ops.take(table, ids, axis=0) for table in self.non_trainable_weights]  # one per spec, in order


class FieldEmbeddings(keras.layers.Layer):
    """An id and its side-feature rows as a list of `(..., dim)` vectors: the id's own embedding
    first, then one per table (categorical: embedded; dense: linear, no bias; tokens: embedded
    and averaged over the non-padding tokens)."""

    def __init__(self, num_ids: int, specs, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.specs, policy = tuple(specs), self.dtype_policy
        self.id_embedding = keras.layers.Embedding(num_ids, dim, dtype=policy, name="id")
        self.encoders = [
            keras.layers.Dense(dim, use_bias=False, dtype=policy, name=spec.name) if spec.kind == "dense"
            else keras.layers.Embedding(spec.size, dim, dtype=policy, name=spec.name)
            for spec in self.specs
        ]

    def call(self, ids, rows):
        fields = [self.id_embedding(ids)]
        for spec, encoder, row in zip(self.specs, self.encoders, rows):
            if spec.kind == "dense":
                fields.append(encoder(ops.cast(row, self.compute_dtype)))
            elif spec.kind == "categorical":
                fields.append(encoder(row))
            else:  # tokens (..., L): the mean of the non-padding tokens' embeddings
                present = ops.cast(ops.expand_dims(row > 0, -1), self.compute_dtype)
                total = ops.sum(encoder(row) * present, axis=-2)
                fields.append(total / ops.maximum(ops.sum(present, axis=-2), 1.0))
        return fields  # each (..., dim)


def check_user_features(config, user_features) -> tuple:
    """A config's `user_features`: (name, kind, size) triples, normalised to a tuple of tuples
    (JSON gives lists). categorical: size = number of categories; numeric: size = values per user."""
    allowed = ("it must be a sequence of (name, kind, size) triples, kind 'categorical' (size = number of "
               "categories) or 'numeric' (size = values per user), e.g. (('age', 'numeric', 1), "
               "('occupation', 'categorical', 21))")
    if not isinstance(user_features, (tuple, list)):
        fail(config, "user_features", user_features, allowed)
    normalised, names = [], set()
    for entry in user_features:
        if not isinstance(entry, (tuple, list)) or len(entry) != 3:
            fail(config, "user_features", user_features, allowed)
        name, kind, size = entry
        if not isinstance(name, str) or not name or name in names or kind not in USER_FEATURE_KINDS:
            fail(config, "user_features", user_features, allowed + "; names must be distinct")
        try:
            size = check_int(config, "user_features", size, minimum=1, whole_floats=True)
        except ConfigError:
            fail(config, "user_features", user_features, allowed + "; sizes must be whole numbers >= 1")
        names.add(name)
        normalised.append((name, kind, size))
    return tuple(normalised)


def check_sizes(config, name: str) -> None:
    """A config's tuple of layer widths (e.g. hidden_dims), each a whole number >= 1; may be empty."""
    value = getattr(config, name)
    allowed = "it must be a sequence of layer widths, whole numbers >= 1, e.g. (128,) or () for none"
    if not isinstance(value, (tuple, list)):
        fail(config, name, value, allowed)
    try:
        widths = tuple(check_int(config, name, width, minimum=1, whole_floats=True) for width in value)
    except ConfigError:
        fail(config, name, value, allowed)
    object.__setattr__(config, name, widths)


def describe_user_features(user_features: dict) -> tuple:
    """(name, kind, size) triples for a dataset's `extras["user_features"]`: integer arrays are
    categorical (size = largest id + 1), float arrays numeric (size = values per user).

    >>> import numpy as np
    >>> describe_user_features({"age": np.array([25.0, 40.0]), "occupation": np.array([3, 7])})
    (('age', 'numeric', 1), ('occupation', 'categorical', 8))
    """
    triples = []
    for name, values in (user_features or {}).items():
        values = np.asarray(values)
        if np.issubdtype(values.dtype, np.integer):
            triples.append((name, "categorical", int(values.max()) + 1))
        else:
            triples.append((name, "numeric", int(np.prod(values.shape[1:], dtype=int))))
    return tuple(triples)


def user_feature_tables(owner: str, user_features, specs, num_users: int) -> dict:
    """The model's user tables from the raw per-user arrays: checked against the config's specs,
    numeric ones standardised (mean 0, standard deviation 1, so no feature dwarfs another)."""
    user_features = dict(user_features or {})
    expected = [spec.name for spec in specs]
    if sorted(user_features) != sorted(expected):
        raise ValueError(
            f"{owner}: user_features has {sorted(user_features)}, but the config's user_features name "
            f"{sorted(expected)}: pass the same features the config describes (describe_user_features(...))."
        )
    tables = {}
    for spec in specs:
        values = np.asarray(user_features[spec.name])
        if spec.kind == "categorical":
            tables[spec.name] = check_table(owner, f"user_features[{spec.name!r}]", values, (num_users,),
                                            "int32", spec.size)
        else:
            values = values.reshape(len(values), -1) if values.ndim != 1 else values[:, None]
            values = check_table(owner, f"user_features[{spec.name!r}]", values, (num_users, spec.width), "float32")
            std = values.std(axis=0)
            tables[spec.name] = (values - values.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return tables


def check_table(owner: str, name: str, table, shape: tuple, dtype: str, below: int | None = None) -> np.ndarray:
    """`table` as a `dtype` array of `shape` (integer ids below `below`), else a ValueError saying so."""
    table = np.asarray(table)
    if table.shape != tuple(shape):
        raise ValueError(f"{owner}: {name} has shape {table.shape}; the config needs {tuple(shape)}.")
    if dtype == "int32":
        if not np.issubdtype(table.dtype, np.integer):
            raise ValueError(f"{owner}: {name} must hold integer ids, not {table.dtype}.")
        if table.size and (table.min() < 0 or table.max() >= below):
            raise ValueError(f"{owner}: {name} holds ids from {table.min()} to {table.max()}; the config allows "
                             f"0..{below - 1}.")
    elif not np.all(np.isfinite(table.astype("float64"))):
        raise ValueError(f"{owner}: {name} holds NaN or infinite values.")
    return table.astype(dtype)


def check_ids(owner: str, name: str, ids, count: int, count_field: str) -> np.ndarray:
    """1-D int32 ids in 0..count-1, else a ValueError naming the first bad one and the range."""
    ids = np.asarray(ids)
    if ids.ndim == 0:
        ids = ids[None]
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{owner}: {name} must be a 1-D array of integer ids, got shape {ids.shape} {ids.dtype}.")
    bad = np.flatnonzero((ids < 0) | (ids >= count))
    if bad.size:
        raise ValueError(
            f"{owner}: {name}[{bad[0]}]={ids[bad[0]]} is out of range: ids go from 0 to {count - 1} "
            f"(config.{count_field}={count}). Map raw ids to dense ids 0..{count_field}-1 as the dataset does."
        )
    return ids.astype("int32")


def title_tokens(titles, vocab_size: int, length: int, tokenizer=None) -> np.ndarray:
    """Titles as tokens `(len(titles), length)` int32 in 1..vocab_size-1, 0 = padding.

    Without a `tokenizer`, words (lower-cased runs of letters and digits) hashed with CRC-32
    (stable across runs and machines, unlike Python's `hash`), so no vocabulary needs storing.
    With one of the text family's tokenizers (`nbmodels.data.CharTokenizer`, `BPETokenizer`), its
    ids plus one; `vocab_size` must then exceed its vocabulary.

    >>> title_tokens(["Toy Story (1995)", "Heat"], vocab_size=1000, length=4)
    array([[944, 172,   1,   0],
           [958,   0,   0,   0]], dtype=int32)
    >>> from nbmodels.data import CharTokenizer
    >>> title_tokens(["Heat"], vocab_size=5, length=6, tokenizer=CharTokenizer.from_text("Heat"))
    array([[1, 3, 2, 4, 0, 0]], dtype=int32)
    """
    tokens = np.zeros((len(titles), length), "int32")
    if tokenizer is not None and tokenizer.vocabulary_size + 1 > vocab_size:
        fail("title_tokens", "vocab_size", vocab_size,
             f"the tokenizer has {tokenizer.vocabulary_size} tokens: it must be at least that plus one (0 pads)")
    for row, title in enumerate(titles):
        if tokenizer is None:
            words = re.findall(r"[a-z0-9]+", str(title).lower())[:length]
            ids = [1 + zlib.crc32(word.encode()) % (vocab_size - 1) for word in words]
        else:
            ids = np.asarray(tokenizer.encode(str(title)))[:length] + 1
        tokens[row, : len(ids)] = ids
    return tokens


def pair_inputs(owner, inputs, list_items: bool = False):
    """The user and item ids of a model's input dict, else a ValueError saying what it takes."""
    if not isinstance(inputs, dict) or not {"user", "item"} <= set(inputs):
        got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        shape = "(B,) or (B, L) for lists" if list_items else "(B,)"
        raise ValueError(f"{type(owner).__name__} takes a dict {{'user': ids (B,), 'item': ids {shape}}}; got {got}.")
    return inputs["user"], inputs["item"]
