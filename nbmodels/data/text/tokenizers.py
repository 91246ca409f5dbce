"""Tokenizers: text to int32 ids and back, numpy only, saved as JSON next to a model.

`CharTokenizer` maps each character (Unicode code point) to one id. Its vocabulary, built
from a text, is the text's distinct characters in code-point order: the same ids as the
`extras["vocab"]` of the character-window datasets (`python_docs`, `text_file`).

Characters outside the vocabulary are never dropped silently; `unknown=` says what
happens to them:

- `"error"` (default): `encode` raises `ValueError` naming the characters and their
  positions, and how to fix it.
- `"token"`: they become the reserved unknown token `"\\ufffd"` (REPLACEMENT CHARACTER),
  always id 0, and decode back to `"\\ufffd"`.

`BPETokenizer` (in `nbmodels.data.text.subword`, the optional `tokenizers` package) is a trained
byte-level BPE with the same interface. This module imports numpy only, so
`import nbmodels.data` stays light.

Example:

>>> from nbmodels.data.text.tokenizers import CharTokenizer
>>> tokenizer = CharTokenizer.from_text("hello world")
>>> tokenizer.vocabulary
[' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
>>> ids = tokenizer.encode("hello")
>>> ids.tolist(), ids.dtype.name, tokenizer.decode(ids)
([3, 2, 4, 4, 5], 'int32', 'hello')
>>> lenient = CharTokenizer.from_text("hello world", unknown="token")
>>> lenient.decode(lenient.encode("help!"))
'hel\\ufffd\\ufffd'
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Sequence

import numpy as np

UNKNOWN_TOKEN = "\ufffd"
UNKNOWN_MODES = ("error", "token")

# How many unknown characters an error message spells out before "and N more".
_SHOWN_IN_ERRORS = 5


def _codepoints(text: str) -> np.ndarray:
    # One uint32 per code point; surrogatepass keeps lone surrogates (they occur in
    # text decoded with errors="surrogateescape") instead of failing.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _check_unknown(unknown) -> str:
    if unknown not in UNKNOWN_MODES:
        raise ValueError(f"unknown={unknown!r} is not allowed; use one of {', '.join(map(repr, UNKNOWN_MODES))}.")
    return unknown


class Tokenizer:
    """What every nbmodels tokenizer shares: batches, JSON files and equality.

    A subclass implements `vocabulary_size`, `encode(text) -> int32 ids`, `decode(ids) -> text`,
    `id_to_token`, `get_config()` and `from_config(config)`; `load_tokenizer(path)` reads any
    of them back.
    """

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
        if isinstance(texts, str):
            raise ValueError("encode_batch takes a list of strings, not one string; use encode for one.")
        rows = [self.encode(text) for text in texts]
        lengths = np.array([len(row) for row in rows], dtype=np.int32)
        longest = int(lengths.max()) if len(rows) else 0
        if pad_to is None:
            pad_to = longest
        elif isinstance(pad_to, bool) or not isinstance(pad_to, (int, np.integer)) or pad_to < 0:
            raise ValueError(f"pad_to={pad_to!r} is not allowed; it must be an integer >= 0 or None.")
        elif longest > pad_to:
            index = int(np.argmax(lengths))
            raise ValueError(
                f"texts[{index}] has {longest} tokens, more than pad_to={pad_to}; "
                "use a larger pad_to (or None for the longest) or shorten the text."
            )
        ids = np.full((len(rows), int(pad_to)), padding_id, dtype=np.int32)
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
        """Read a tokenizer written by `save`."""
        tokenizer = load_tokenizer(path)
        if not isinstance(tokenizer, cls):
            raise ValueError(f"{os.fspath(path)} holds a {type(tokenizer).__name__}, not a {cls.__name__}.")
        return tokenizer

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



def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read any tokenizer written by `Tokenizer.save` (character or subword).

    Example:

    >>> import pathlib, tempfile
    >>> from nbmodels.data.text.tokenizers import CharTokenizer, load_tokenizer
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tokenizer.json"
    >>> CharTokenizer.from_text("abc").save(path)
    >>> load_tokenizer(path)
    CharTokenizer(vocabulary_size=3, unknown='error')
    """
    try:
        with open(path, encoding="ascii") as file:
            document = json.load(file)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{os.fspath(path)} is not a saved nbmodels tokenizer ({error}).") from error
    name = document.get("class_name") if isinstance(document, dict) else None
    classes = _tokenizer_classes()
    if name not in classes:
        raise ValueError(
            f"{os.fspath(path)} does not hold a saved tokenizer (class_name {name!r}; "
            f"known: {', '.join(sorted(classes))})."
        )
    return classes[name].from_config(document["config"])


def _tokenizer_classes() -> dict:
    from nbmodels.data.text.subword import BPETokenizer  # imports `tokenizers` only when used

    return {cls.__name__: cls for cls in (CharTokenizer, BPETokenizer)}


class CharTokenizer(Tokenizer):
    """Character-level tokenizer: one id per character, numpy in and out.

    Args:
        vocabulary: the characters, id `i` being `vocabulary[i]`; each a one-character
            string, no duplicates. Usually built with `CharTokenizer.from_text`.
        unknown: `"error"` to raise on characters outside the vocabulary, or `"token"`
            to map them to `UNKNOWN_TOKEN` (`"\\ufffd"`) at id 0. With `"token"` the
            unknown token is put first in the vocabulary if it is not there already.

    Example:

    >>> from nbmodels.data.text.tokenizers import CharTokenizer
    >>> tokenizer = CharTokenizer(["a", "b", "c"])
    >>> ids, lengths = tokenizer.encode_batch(["abc", "b"])
    >>> ids.tolist(), lengths.tolist()
    ([[0, 1, 2], [1, 0, 0]], [3, 1])
    >>> tokenizer.decode_batch(ids, lengths)
    ['abc', 'b']
    >>> tokenizer.encode("abd")
    Traceback (most recent call last):
    ...
    ValueError: Cannot encode 1 character(s) that are not in the vocabulary: 'd' (U+0064) at position 2. Build the tokenizer from text that contains them or use unknown='token'.
    """

    def __init__(self, vocabulary: Sequence[str], *, unknown: str = "error"):
        unknown = _check_unknown(unknown)
        vocabulary = list(vocabulary)
        for index, token in enumerate(vocabulary):
            if not isinstance(token, str) or len(token) != 1:
                raise ValueError(
                    f"vocabulary[{index}]={token!r} is not allowed; every entry must be a one-character string."
                )
        if unknown == "token":
            if UNKNOWN_TOKEN in vocabulary[1:]:
                raise ValueError(
                    f"With unknown='token' the unknown token {UNKNOWN_TOKEN!r} must be id 0, but the vocabulary "
                    f"has it at id {vocabulary.index(UNKNOWN_TOKEN, 1)}."
                )
            if not vocabulary or vocabulary[0] != UNKNOWN_TOKEN:
                vocabulary.insert(0, UNKNOWN_TOKEN)
        if not vocabulary:
            raise ValueError("vocabulary is empty; a tokenizer needs at least one character.")
        codepoints = _codepoints("".join(vocabulary))
        order = np.argsort(codepoints, kind="stable")
        sorted_codepoints = codepoints[order]
        duplicated = np.flatnonzero(sorted_codepoints[1:] == sorted_codepoints[:-1])
        if duplicated.size:
            token = chr(sorted_codepoints[duplicated[0]])
            raise ValueError(f"vocabulary has {token!r} more than once; every character must appear once.")

        self._vocabulary = vocabulary
        self._unknown = unknown
        self._index = {token: i for i, token in enumerate(vocabulary)}
        # encode looks code points up by binary search in sorted order, then maps back to ids.
        self._sorted_codepoints = sorted_codepoints
        self._sorted_ids = order.astype(np.int32)
        self._tokens = np.array(vocabulary, dtype="<U1")  # decode: ids -> characters

    @classmethod
    def from_text(cls, text: str, *, unknown: str = "error") -> "CharTokenizer":
        """The tokenizer whose vocabulary is the distinct characters of `text`, in code-point order.

        With `unknown="token"` the unknown token comes first (id 0), the characters after it.
        """
        if not isinstance(text, str) or not text:
            raise ValueError("CharTokenizer.from_text needs a non-empty string of text.")
        unknown = _check_unknown(unknown)
        vocabulary = [chr(c) for c in np.unique(_codepoints(text))]
        if unknown == "token" and UNKNOWN_TOKEN in vocabulary:
            vocabulary.remove(UNKNOWN_TOKEN)  # it goes first, at id 0
        return cls(vocabulary, unknown=unknown)

    @property
    def vocabulary(self) -> list[str]:
        """The characters, in id order (a copy)."""
        return list(self._vocabulary)

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocabulary)

    @property
    def unknown(self) -> str:
        return self._unknown

    @property
    def unknown_id(self) -> int | None:
        """0 with `unknown="token"`, else `None`."""
        return 0 if self._unknown == "token" else None

    def token_to_id(self, token: str) -> int:
        """The id of one character; an unknown one follows `unknown` like `encode`."""
        if not isinstance(token, str) or len(token) != 1:
            raise ValueError(f"token_to_id takes one character, got {token!r}.")
        return int(self.encode(token)[0])

    def id_to_token(self, id: int) -> str:
        """The character of one id."""
        return self.decode([id])

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`'s characters, int32 of shape `(len(text),)`."""
        if not isinstance(text, str):
            raise ValueError(f"encode takes a string, got {type(text).__name__}; use encode_batch for a list.")
        codepoints = _codepoints(text)
        slots = np.searchsorted(self._sorted_codepoints, codepoints)
        slots = np.minimum(slots, len(self._sorted_codepoints) - 1)
        ids = self._sorted_ids[slots]
        unknown = self._sorted_codepoints[slots] != codepoints
        if unknown.any():
            if self._unknown == "error":
                raise ValueError(self._unknown_message(codepoints, np.flatnonzero(unknown)))
            ids[unknown] = 0
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a 1-D sequence of ids; an id outside the vocabulary is a `ValueError`."""
        ids = self._checked_ids(ids)
        return "".join(self._tokens[ids].tolist()) if ids.size else ""

    def get_config(self) -> dict:
        """A JSON-serializable dict; `CharTokenizer.from_config(config)` rebuilds the tokenizer."""
        return {"vocabulary": self.vocabulary, "unknown": self._unknown}

    @classmethod
    def from_config(cls, config: dict) -> "CharTokenizer":
        return cls(config["vocabulary"], unknown=config.get("unknown", "error"))

    def __hash__(self):
        return hash((tuple(self._vocabulary), self._unknown))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocabulary_size={self.vocabulary_size}, unknown={self._unknown!r})"

    def _unknown_message(self, codepoints: np.ndarray, positions: np.ndarray) -> str:
        shown = ", ".join(
            f"{chr(codepoints[p])!r} (U+{int(codepoints[p]):04X}) at position {int(p)}"
            for p in positions[:_SHOWN_IN_ERRORS]
        )
        more = f" and {len(positions) - _SHOWN_IN_ERRORS} more" if len(positions) > _SHOWN_IN_ERRORS else ""
        return (
            f"Cannot encode {len(positions)} character(s) that are not in the vocabulary: {shown}{more}. "
            "Build the tokenizer from text that contains them or use unknown='token'."
        )
