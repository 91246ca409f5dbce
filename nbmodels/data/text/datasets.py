"""Text datasets: Python's own docs (embedded), a synthetic key-token classification set
(generated, with the key positions as ground truth), any text file or URL, Tiny Shakespeare
and IMDB reviews (downloaded). URLs nbmodels fetches itself are cached under
`nbmodels.data.data_dir()`; keras.datasets keeps its own cache.
"""

from __future__ import annotations

import numpy as np

from nbmodels.checks import ConfigError, check_fraction, check_int
from nbmodels.data.network import network_errors
from nbmodels.data.registry import Dataset, register
from nbmodels.data.splits import shuffled_split
from nbmodels.data.text.corpus import char_windows, load_text, text_corpus


@register(
    "python_docs",
    description="Python's own help topics (pydoc_data), as character-level next-char windows.",
    task="text",
    source="embedded",
)
def python_docs(*, context: int = 64, stride: int | None = None, validation_split: float = 0.1) -> Dataset:
    """Next-character windows over `text_corpus()`; see `char_windows` for the options.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("python_docs", context=32)
    >>> ds.tokens_per_sample, ds.train[0].shape[1], ds.num_classes == len(ds.extras["vocab"])
    (32, 32, True)
    """
    return char_windows(text_corpus(), context=context, stride=stride, validation_split=validation_split)


@register(
    "key_token",
    description="Random token sequences whose label is set by one key token at a random position.",
    task="classification",
    source="generated",
)
def key_token(
    *,
    n: int = 2000,
    sequence_length: int = 16,
    vocabulary_size: int = 32,
    num_classes: int = 4,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A task only attention solves well: find the one key token, wherever it is.

    Ids: 0 is reserved for padding (never generated); ids `1..num_classes` are the key
    tokens, id `c + 1` meaning class `c`; ids `num_classes + 1 .. vocabulary_size - 1` are
    filler, drawn uniformly. Each sequence holds exactly one key token, at a position drawn
    uniformly over the sequence, and its label depends on that token alone. Classes are
    balanced. `ground_truth` records each example's key position, so a test can check that
    a model's attention lands on it.

    Args:
        n: total number of examples, before the validation split.
        sequence_length: tokens per example (T).
        vocabulary_size: number of ids, padding and key tokens included; at least
            `num_classes + 2`, so there is a filler id.
        num_classes: number of labels (and key tokens), >= 2.
        validation_split: fraction held out for validation, in (0, 1).
        seed: the same seed gives the same data and split.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("key_token", n=100, sequence_length=8)
    >>> x, y = ds.train
    >>> x.shape, x.dtype.name, y.dtype.name, ds.num_classes, ds.tokens_per_sample
    ((80, 8), 'int32', 'int32', 4, 8)
    >>> row = 0
    >>> key = x[row, ds.ground_truth["key_positions"][row]]
    >>> int(ds.ground_truth["key_token_ids"][y[row]]) == int(key)
    True
    """
    owner = "load('key_token')"
    n = check_int(owner, "n", n, minimum=2)
    sequence_length = check_int(owner, "sequence_length", sequence_length, minimum=1)
    num_classes = check_int(owner, "num_classes", num_classes, minimum=2)
    vocabulary_size = check_int(owner, "vocabulary_size", vocabulary_size, minimum=1)
    if vocabulary_size < num_classes + 2:
        allowed = f"it must be >= {num_classes + 2} (id 0 for padding, {num_classes} key ids, at least one filler id)"
        raise ConfigError(owner, "vocabulary_size", vocabulary_size, allowed, message=(
            f"{owner}.vocabulary_size={vocabulary_size!r} is not allowed with num_classes={num_classes}: {allowed}."
        ))
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)

    padding_id = 0
    key_token_ids = np.arange(1, num_classes + 1, dtype=np.int32)  # key_token_ids[c] means class c
    rng = np.random.default_rng(seed)
    x = rng.integers(num_classes + 1, vocabulary_size, size=(n, sequence_length)).astype(np.int32)
    y = (np.arange(n) % num_classes).astype(np.int32)  # balanced; the split shuffles
    positions = rng.integers(0, sequence_length, size=n)
    x[np.arange(n), positions] = key_token_ids[y]
    train, validation = shuffled_split(x, y, validation_split=validation_split, seed=seed, owner=owner)
    return Dataset(
        task="classification",
        train=train,
        validation=validation,
        num_classes=num_classes,
        tokens_per_sample=sequence_length,
        ground_truth={
            # Read back from x after the split shuffled it: the one key token per row.
            "key_positions": _key_positions(train[0], num_classes),
            "validation_key_positions": _key_positions(validation[0], num_classes),
            "key_token_ids": key_token_ids,
        },
        extras={"vocabulary_size": vocabulary_size, "padding_id": padding_id},
    )


def _key_positions(x: np.ndarray, num_classes: int) -> np.ndarray:
    return np.argmax((x >= 1) & (x <= num_classes), axis=1).astype(np.int32)


@register(
    "text_file",
    description="Character-level next-char windows over any text file path or http(s) URL.",
    task="text",
    source="download",
)
def text_file(
    *,
    path: str,
    context: int = 64,
    stride: int | None = None,
    validation_split: float = 0.1,
    encoding: str = "utf-8",
) -> Dataset:
    """The same windows as `python_docs` over your own text; see `char_windows`.

    Args:
        path: a local file path or an http(s) URL (downloaded once, then cached).
        context, stride, validation_split: as in `char_windows`.
        encoding: the text's encoding.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("text_file", path="https://www.gutenberg.org/cache/epub/100/pg100.txt")  # doctest: +SKIP
    """
    text = load_text(path, encoding=encoding)
    return char_windows(text, context=context, stride=stride, validation_split=validation_split)


TEXT_CLASSIFICATION_ALTERNATIVE = (
    "nbmodels.data.load('key_token') is a generated text-classification set that works offline."
)


@register(
    "imdb",
    description="IMDB movie reviews (25k train, 25k test) as word ids, positive or negative, via keras.datasets.",
    task="classification",
    source="download",
)
def imdb(*, num_words: int = 20000, sequence_length: int = 256) -> Dataset:
    """keras.datasets.imdb: reviews as word ids, cut or right-padded to `sequence_length`.

    Ids follow keras.datasets: 0 is padding, 1 marks the start, 2 is an out-of-vocabulary
    word, and word ids start at 3 (most frequent first), so the vocabulary size is
    `num_words`. A review longer than `sequence_length` keeps its first words.

    Args:
        num_words: keep the most frequent `num_words - 3` words, >= 4.
        sequence_length: tokens per example, >= 1.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("imdb", num_words=10000, sequence_length=128)  # doctest: +SKIP
    >>> ds.train[0].shape, ds.num_classes  # doctest: +SKIP
    ((25000, 128), 2)
    """
    num_words = check_int("load('imdb')", "num_words", num_words, minimum=4)
    sequence_length = check_int("load('imdb')", "sequence_length", sequence_length, minimum=1)
    import keras  # heavy; only when IMDB is asked for

    with network_errors("imdb", TEXT_CLASSIFICATION_ALTERNATIVE):
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=num_words)
    return Dataset(
        task="classification",
        train=(_pad_sequences(x_train, sequence_length), y_train.astype(np.int32)),
        validation=(_pad_sequences(x_test, sequence_length), y_test.astype(np.int32)),  # the official test split
        num_classes=2,
        tokens_per_sample=sequence_length,
        extras={"vocabulary_size": num_words, "padding_id": 0, "class_names": ["negative", "positive"]},
    )


def _pad_sequences(sequences, length: int) -> np.ndarray:
    padded = np.zeros((len(sequences), length), dtype=np.int32)  # 0 is padding
    for row, sequence in zip(padded, sequences):
        sequence = sequence[:length]
        row[: len(sequence)] = sequence
    return padded


TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"


@register(
    "tiny_shakespeare",
    description="Tiny Shakespeare (1.1 MB, Karpathy's char-rnn), as character-level next-char windows.",
    task="text",
    source="download",
)
def tiny_shakespeare(*, context: int = 64, stride: int | None = None, validation_split: float = 0.1) -> Dataset:
    """nanoGPT's `shakespeare_char` corpus, downloaded once and cached; see `char_windows`.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("tiny_shakespeare", context=256)  # doctest: +SKIP
    >>> ds.num_classes  # doctest: +SKIP
    65
    """
    return text_file(path=TINY_SHAKESPEARE_URL, context=context, stride=stride, validation_split=validation_split)
