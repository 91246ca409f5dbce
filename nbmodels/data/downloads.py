"""Downloaded datasets: keras.datasets images, and text from any path or URL.

keras.datasets keeps its own cache (`~/.keras/datasets`, or `$KERAS_HOME`); URLs that
nbmodels fetches itself are cached under `nbmodels.data.data_dir()`.
"""

from __future__ import annotations

import numpy as np

from nbmodels.data._checks import check_int
from nbmodels.data.network import network_errors
from nbmodels.data.registry import Dataset, register
from nbmodels.data.text import char_windows, load_text

IMAGES_ALTERNATIVE = "nbmodels.data.load('digits') is an embedded 8x8 digits set that works offline."

# keras.datasets name -> (description, class names)
_KERAS_IMAGE_SETS = {
    "mnist": (
        "28x28 grayscale handwritten digits (60k train, 10k test), via keras.datasets.",
        [str(digit) for digit in range(10)],
    ),
    "fashion_mnist": (
        "28x28 grayscale Zalando clothing images in 10 classes (60k train, 10k test), via keras.datasets.",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    ),
    "cifar10": (
        "32x32 colour photos in 10 classes (50k train, 10k test), via keras.datasets.",
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    ),
}


def _keras_image_loader(keras_name: str, class_names: list[str]):
    def load_images() -> Dataset:
        import keras  # heavy; only when these images are asked for

        with network_errors(keras_name, IMAGES_ALTERNATIVE):
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, keras_name).load_data()
        return Dataset(
            task="classification",
            train=(_images(x_train), _labels(y_train)),
            validation=(_images(x_test), _labels(y_test)),  # the official test split
            num_classes=len(class_names),
            extras={"class_names": class_names},
        )

    load_images.__doc__ = f"""keras.datasets.{keras_name}, scaled to [0, 1] float32 with a channel axis.

    Example:

    >>> from nbmodels import data
    >>> ds = data.load("{keras_name}")  # doctest: +SKIP
    """
    load_images.__qualname__ = load_images.__name__ = keras_name
    return load_images


def _images(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:  # grayscale (N, H, W) -> (N, H, W, 1), what Conv2D expects
        x = x[..., None]
    return (x / np.float32(255.0)).astype(np.float32)


def _labels(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1).astype(np.int32)  # cifar10 labels come as (N, 1)


for _name, (_description, _class_names) in _KERAS_IMAGE_SETS.items():
    register(
        _name,
        _keras_image_loader(_name, _class_names),
        description=_description,
        task="classification",
        source="download",
    )
del _name, _description, _class_names


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
    num_words = check_int("num_words", num_words, minimum=4)
    sequence_length = check_int("sequence_length", sequence_length, minimum=1)
    import keras  # heavy; only when IMDB is asked for

    with network_errors("imdb", TEXT_CLASSIFICATION_ALTERNATIVE):
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(num_words=num_words)
    return Dataset(
        task="classification",
        train=(_pad_sequences(x_train, sequence_length), _labels(y_train)),
        validation=(_pad_sequences(x_test, sequence_length), _labels(y_test)),  # the official test split
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
