"""A trained subword tokenizer: byte-level BPE from Hugging Face `tokenizers`.

Why `tokenizers` rather than keras-hub: it trains a BPE vocabulary from raw text in one call
(keras-hub's `BytePairTokenizer` only loads a vocabulary trained elsewhere), imports in
milliseconds without TensorFlow (keras-hub takes ~10 s and pulls tensorflow-text), and
serializes to one JSON string that fits in nbmodels' tokenizer files. It is optional:
`pip install "nbmodels[text]"`; only this module imports it.

Byte-level BPE has no unknown characters: any text, in any script, is a sequence of bytes and
every byte is in the vocabulary, so `encode` never fails and `decode(encode(text)) == text`.

Example:

>>> from nbmodels.data.text.subword import BPETokenizer
>>> tokenizer = BPETokenizer.train(["the cat sat on the mat"] * 20, vocabulary_size=300)
>>> ids = tokenizer.encode("the cat")
>>> tokenizer.decode(ids), ids.dtype.name
('the cat', 'int32')
>>> tokenizer.decode(tokenizer.encode("ünïcödé ✓"))
'ünïcödé ✓'
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from nbmodels.checks import check_int, fail
from nbmodels.data.text._tokenizer import Tokenizer

END_OF_TEXT = "<|endoftext|>"  # GPT-2's document separator, id 0 here


def _tokenizers():
    try:
        import tokenizers
    except ImportError as error:
        raise ImportError(
            "BPETokenizer needs the Hugging Face `tokenizers` package: pip install \"nbmodels[text]\" "
            "(or use nbmodels.data.CharTokenizer, which needs nothing)."
        ) from error
    return tokenizers


class BPETokenizer(Tokenizer):
    """Byte-level BPE (GPT-2's scheme), trained on your text or loaded from a saved file.

    Args:
        tokenizer: a `tokenizers.Tokenizer`. Usually made by `BPETokenizer.train`.

    Example:

    >>> from nbmodels.data import text_corpus
    >>> from nbmodels.data.text.subword import BPETokenizer
    >>> tokenizer = BPETokenizer.train(text_corpus()[:20_000], vocabulary_size=512)
    >>> tokenizer.vocabulary_size
    512
    >>> len(tokenizer.encode("The return statement")) < len("The return statement")
    True
    """

    def __init__(self, tokenizer):
        tokenizers = _tokenizers()
        if not isinstance(tokenizer, tokenizers.Tokenizer):
            fail("BPETokenizer", "tokenizer", tokenizer,
                 "it must be a tokenizers.Tokenizer, e.g. from BPETokenizer.train")
        self._tokenizer = tokenizer

    @classmethod
    def train(
        cls,
        texts: str | Iterable[str],
        *,
        vocabulary_size: int = 4096,
        min_frequency: int = 2,
    ) -> "BPETokenizer":
        """Learn a byte-level BPE vocabulary of `vocabulary_size` tokens from `texts`.

        Args:
            texts: one string or an iterable of strings (documents).
            vocabulary_size: tokens in all, >= 257 (256 bytes plus `<|endoftext|>`).
            min_frequency: a merge must occur at least this often.
        """
        tokenizers = _tokenizers()
        vocabulary_size = check_int("BPETokenizer.train", "vocabulary_size", vocabulary_size, minimum=257,
                                    why="the 256 bytes and <|endoftext|>")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not any(isinstance(text, str) and text for text in texts):
            fail("BPETokenizer.train", "texts", texts, "it needs some non-empty text")
        model = tokenizers.Tokenizer(tokenizers.models.BPE())
        model.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        model.decoder = tokenizers.decoders.ByteLevel()
        trainer = tokenizers.trainers.BpeTrainer(
            vocab_size=vocabulary_size,
            min_frequency=min_frequency,
            special_tokens=[END_OF_TEXT],
            initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        model.train_from_iterator(texts, trainer=trainer)
        return cls(model)

    @property
    def vocabulary_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    @property
    def end_of_text_id(self) -> int:
        """The id of `<|endoftext|>`: a natural stop token for generation."""
        return self._tokenizer.token_to_id(END_OF_TEXT)

    def token_to_id(self, token: str) -> int:
        id = self._tokenizer.token_to_id(token)
        if id is None:
            fail("BPETokenizer.token_to_id", "token", token,
                      "it is not a token of this vocabulary; encode(text) splits any text")
        return id

    def id_to_token(self, id: int) -> str:
        """The text of one id (a token may be part of a word, or part of a character's bytes)."""
        return self.decode([id])

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            fail("BPETokenizer.encode", "text", text, "it must be a string; use encode_batch for a list")
        return np.asarray(self._tokenizer.encode(text).ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        return self._tokenizer.decode(self._checked_ids(ids).tolist(), skip_special_tokens=False)

    def get_config(self) -> dict:
        return {"tokenizer": self._tokenizer.to_str()}

    @classmethod
    def from_config(cls, config: dict) -> "BPETokenizer":
        return cls(_tokenizers().Tokenizer.from_str(config["tokenizer"]))

    def __repr__(self) -> str:
        return f"BPETokenizer(vocabulary_size={self.vocabulary_size})"
