"""Text: the embedded corpus, reading a file or URL, and character-level windows.

The embedded corpus is the help text that ships with Python itself
(`pydoc_data.topics`, ~460 KB of English prose about Python), so a language model can
be trained with no download and without committing a third-party corpus.
"""

from __future__ import annotations

import errno
import functools
from pathlib import Path

import numpy as np

from nbmodels.checks import check_fraction, check_int
from nbmodels.data.network import fetch
from nbmodels.data.registry import Dataset

TEXT_ALTERNATIVE = (
    "nbmodels.data.load('python_docs') and nbmodels.data.text_corpus() give embedded "
    "English text that works offline."
)


@functools.lru_cache(maxsize=1)
def text_corpus() -> str:
    """The embedded default corpus: Python's help topics, joined in sorted-name order.

    Example:

    >>> from nbmodels import data
    >>> text = data.text_corpus()
    >>> len(text) > 100_000, text == data.text_corpus()
    (True, True)
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def load_text(path_or_url, *, encoding: str = "utf-8", timeout: float = 30.0) -> str:
    """Read a local text file, or download an `http(s)://` URL (cached) and read it.

    Raises:
        FileNotFoundError: a local path that is not a file.
        DownloadError: a URL that could not be downloaded.
        ValueError: a URL scheme other than http(s), or text not in `encoding`.

    Example:

    >>> import pathlib, tempfile
    >>> from nbmodels import data
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "poem.txt"
    >>> _ = path.write_text("So long lives this, and this gives life to thee.\\n")
    >>> data.load_text(path)
    'So long lives this, and this gives life to thee.\\n'
    """
    name = str(path_or_url)
    if name.startswith(("http://", "https://")):
        path = fetch(name, alternative=TEXT_ALTERNATIVE, timeout=timeout)
    elif "://" in name:
        raise ValueError(f"Cannot read {name!r}: only local paths and http(s):// URLs are supported.")
    else:
        path = Path(name).expanduser()
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "No such text file (pass a file path or an http(s) URL)", str(path))
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{name} is not {encoding} text ({error.reason} at byte {error.start}); "
            "pass encoding=... with the file's encoding, e.g. encoding='latin-1'."
        ) from error


def char_windows(text: str, *, context: int = 64, stride: int | None = None, validation_split: float = 0.1) -> Dataset:
    """Character-level next-char windows over `text`, split by position like nanoGPT.

    The first `1 - validation_split` of the text is for training, the rest for
    validation; windows never cross the split. Each example is `context` character ids,
    its target the same window shifted one character ahead. Windows start every
    `stride` characters (default `context`: no overlap, small arrays).

    Example:

    >>> from nbmodels.data.text.corpus import char_windows
    >>> ds = char_windows("abcabcabcabcabcabcabcabcabcabc", context=4, validation_split=0.2)
    >>> x, y = ds.train
    >>> x[0].tolist(), y[0].tolist(), ds.extras["vocab"]
    ([0, 1, 2, 0], [1, 2, 0, 1], ['a', 'b', 'c'])
    """
    if not isinstance(text, str) or not text:
        raise ValueError("char_windows needs a non-empty string of text.")
    context = check_int("char_windows", "context", context, minimum=2)
    stride = context if stride is None else check_int("char_windows", "stride", stride, minimum=1)
    validation_split = check_fraction("char_windows", "validation_split", validation_split)

    codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    vocab = np.unique(codepoints)  # sorted, so ids are stable for a given text
    ids = np.searchsorted(vocab, codepoints).astype(np.int32)
    split_at = int(len(ids) * (1.0 - validation_split))
    train = _windows(ids[:split_at], context, stride, "training")
    validation = _windows(ids[split_at:], context, stride, "validation")
    return Dataset(
        task="text",
        train=train,
        validation=validation,
        num_classes=len(vocab),
        input_shape=(context,),
        tokens_per_sample=context,
        extras={"vocab": [chr(c) for c in vocab]},
    )


def _windows(ids: np.ndarray, context: int, stride: int, part: str):
    # A window is context + 1 ids: inputs are the first context, targets the last context.
    if len(ids) < context + 1:
        raise ValueError(
            f"context={context} needs at least {context + 1} characters in the {part} part, "
            f"which has {len(ids)}; use a smaller context or a longer text."
        )
    starts = np.arange(0, len(ids) - context, stride)
    windows = ids[starts[:, None] + np.arange(context + 1)]  # (N, context + 1)
    return windows[:, :-1], windows[:, 1:]
