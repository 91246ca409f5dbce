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
byte-level BPE with the same interface. Both derive from `Tokenizer` (in `_tokenizer`), and
`load_tokenizer` reads either back. These modules import numpy only (`tokenizers` loads with
the first BPETokenizer), so `import nbmodels.data` stays light.

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

import os
from typing import Iterable, Sequence

import numpy as np

from nbmodels.checks import check_choice, fail

# Defining a tokenizer class registers it for `Tokenizer.load`; importing `subword` here makes
# `load_tokenizer` read every built-in kind.
from nbmodels.data.text import subword  # noqa: F401
from nbmodels.data.text._tokenizer import Tokenizer

UNKNOWN_TOKEN = "\ufffd"
UNKNOWN_MODES = ("error", "token")

# How many unknown characters an error message spells out before "and N more".
_SHOWN_IN_ERRORS = 5


def _codepoints(text: str) -> np.ndarray:
    # One uint32 per code point; surrogatepass keeps lone surrogates (they occur in
    # text decoded with errors="surrogateescape") instead of failing.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


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
    return Tokenizer.load(path)  # every built-in kind is registered: this module imports them all


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
        unknown = check_choice("CharTokenizer", "unknown", unknown, UNKNOWN_MODES)
        given = list(vocabulary)  # as given: errors show it and count positions in it
        for index, token in enumerate(given):
            if not isinstance(token, str) or len(token) != 1:
                fail("CharTokenizer", "vocabulary", given, (
                    f"vocabulary[{index}]={token!r} is not one character; every entry must be a one-character string"
                ))
        if not given and unknown == "error":
            fail("CharTokenizer", "vocabulary", given, "a tokenizer needs at least one character")
        if unknown == "token" and UNKNOWN_TOKEN in given[1:]:
            fail("CharTokenizer", "vocabulary", given, (
                f"with unknown='token' the unknown token {UNKNOWN_TOKEN!r} must be id 0, but it is "
                f"vocabulary[{given.index(UNKNOWN_TOKEN, 1)}]; put it first or leave it out (it is added at id 0)"
            ))
        vocabulary = [UNKNOWN_TOKEN] + given if unknown == "token" and given[:1] != [UNKNOWN_TOKEN] else given
        codepoints = _codepoints("".join(vocabulary))
        order = np.argsort(codepoints, kind="stable")
        sorted_codepoints = codepoints[order]
        duplicated = np.flatnonzero(sorted_codepoints[1:] == sorted_codepoints[:-1])
        if duplicated.size:
            token = chr(sorted_codepoints[duplicated[0]])
            first = given.index(token)
            fail("CharTokenizer", "vocabulary", given, (
                f"it has {token!r} more than once (vocabulary[{first}] and "
                f"vocabulary[{given.index(token, first + 1)}]); "
                "every character must appear once"
            ))

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
            fail("CharTokenizer.from_text", "text", text, "it must be a non-empty string")
        unknown = check_choice("CharTokenizer.from_text", "unknown", unknown, UNKNOWN_MODES)
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
            fail("CharTokenizer.token_to_id", "token", token, "it must be one character")
        return int(self.encode(token)[0])

    def id_to_token(self, id: int) -> str:
        """The character of one id."""
        return self.decode([id])

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`'s characters, int32 of shape `(len(text),)`."""
        if not isinstance(text, str):
            fail("CharTokenizer.encode", "text", text, "it must be a string; use encode_batch for a list")
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
