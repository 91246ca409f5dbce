"""The base every nbmodels tokenizer shares, and the registry its saved files are read back by.

Each subclass joins the registry when its class is defined, under its class name, which is
also the `class_name` its saved JSON files carry. So this module knows no subclass: reading
a file back needs only the subclass's module to have been imported, and
`nbmodels.data.text.tokenizers` (whose `load_tokenizer` reads any file) imports every built-in
one. That keeps the base below its subclasses in the import graph.

Example:

>>> import pathlib, tempfile
>>> from nbmodels.data.text.tokenizers import CharTokenizer, Tokenizer
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tokenizer.json"
>>> CharTokenizer.from_text("abc").save(path)
>>> Tokenizer.load(path)
CharTokenizer(vocabulary_size=3, unknown='error')
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from nbmodels.checks import check_int, fail

# class name (as saved in a tokenizer file) -> the Tokenizer subclass of that name
_SAVED_CLASSES: dict[str, type] = {}


class Tokenizer:
    """What every nbmodels tokenizer shares: batches, JSON files and equality.

    A subclass implements `vocabulary_size`, `encode(text) -> int32 ids`, `decode(ids) -> text`,
    `id_to_token`, `get_config()` and `from_config(config)`. Defining it registers it under its
    class name, so `Tokenizer.load(path)` (and `load_tokenizer(path)`) reads its files back.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registered = _SAVED_CLASSES.get(cls.__name__)
        # Re-running the defining module (autoreload, importlib.reload) replaces the class;
        # another class of the same name would make saved files ambiguous.
        if registered is not None and _qualified_name(registered) != _qualified_name(cls):
            raise ValueError(
                f"Tokenizer class name {cls.__name__!r} is taken by {_qualified_name(registered)}; saved "
                f"files name their class, so rename {_qualified_name(cls)}."
            )
        _SAVED_CLASSES[cls.__name__] = cls

    def encode_batch(
        self, texts: Sequence[str], *, pad_to: int | None = None, padding_id: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode several texts into one right-padded array.

        Args:
            texts: the strings.
            pad_to: the length T of every row; default the longest text. A text longer
                than `pad_to` is a `ValueError` (it is not cut silently).
            padding_id: the id written after each text's end. It may equal a real id
                (0 by default), so tell padding apart with `lengths`, not by value.

        Returns:
            `(ids, lengths)`: int32 `(B, T)` and int32 `(B,)`, the unpadded lengths.
        """
        owner = f"{type(self).__name__}.encode_batch"
        if isinstance(texts, str):
            fail(owner, "texts", texts, "pass a list of strings, or use encode for one string")
        rows = [self.encode(text) for text in texts]
        lengths = np.array([len(row) for row in rows], dtype=np.int32)
        longest = int(lengths.max()) if len(rows) else 0
        if pad_to is None:
            pad_to = longest
        pad_to = check_int(owner, "pad_to", pad_to, minimum=0, fix="Or None, to pad to the longest text")
        if longest > pad_to:
            index = int(np.argmax(lengths))
            fail(owner, "pad_to", pad_to, (
                f"texts[{index}] has {longest} tokens, more than pad_to={pad_to}; "
                "use a larger pad_to (or None for the longest) or shorten the text"
            ))
        ids = np.full((len(rows), pad_to), padding_id, dtype=np.int32)
        for row, encoded in zip(ids, rows):
            row[: len(encoded)] = encoded
        return ids, lengths

    def decode_batch(self, ids, lengths: Sequence[int] | None = None) -> list[str]:
        """Decode a `(B, T)` array of ids; with `lengths`, each row stops at its length."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"decode_batch takes a 2-D (batch, length) array, got shape {ids.shape}.")
        if lengths is None:
            return [self.decode(row) for row in ids]
        lengths = np.asarray(lengths)
        if lengths.shape != (len(ids),):
            raise ValueError(f"lengths has shape {lengths.shape}; it needs one length per row, shape ({len(ids)},).")
        return [self.decode(row[: int(length)]) for row, length in zip(ids, lengths)]

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer to `path` as JSON (ASCII-escaped, so any character survives)."""
        document = {"class_name": type(self).__name__, "config": self.get_config()}
        with open(path, "w", encoding="ascii") as file:
            json.dump(document, file, indent=1)
            file.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer written by `save`: of any kind from `Tokenizer.load`, of this kind
        (or a subclass) from a subclass's `load`."""
        try:
            with open(path, encoding="ascii") as file:
                document = json.load(file)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{os.fspath(path)} is not a saved nbmodels tokenizer ({error}).") from error
        name = document.get("class_name") if isinstance(document, dict) else None
        saved_class = _SAVED_CLASSES.get(name) if isinstance(name, str) else None
        if saved_class is None:
            raise ValueError(
                f"{os.fspath(path)} does not hold a saved tokenizer (class_name {name!r}; "
                f"known: {', '.join(sorted(_SAVED_CLASSES))})."
            )
        if not issubclass(saved_class, cls):
            raise ValueError(f"{os.fspath(path)} holds a {name}, not a {cls.__name__}.")
        return saved_class.from_config(document["config"])

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.get_config() == other.get_config()

    def _checked_ids(self, ids) -> np.ndarray:
        """`ids` as a 1-D integer array inside the vocabulary, else a `ValueError` saying what is wrong."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes a 1-D sequence of ids, got shape {ids.shape}; use decode_batch for 2-D.")
        if ids.size == 0:
            return ids.astype(np.int64)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"decode takes integer ids, got dtype {ids.dtype}.")
        bad = np.flatnonzero((ids < 0) | (ids >= self.vocabulary_size))
        if bad.size:
            raise ValueError(
                f"id {int(ids[bad[0]])} at position {int(bad[0])} is outside the vocabulary "
                f"(ids 0..{self.vocabulary_size - 1})."
            )
        return ids

    __hash__ = None  # subclasses that are immutable define one


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
