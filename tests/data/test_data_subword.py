"""BPETokenizer: trained byte-level BPE; lossless on any text, saved and loaded like CharTokenizer."""

import doctest
import subprocess
import sys

import numpy as np
import pytest

from nbmodels.data import text_corpus
from nbmodels.data.text.subword import BPETokenizer
from nbmodels.data.text.tokenizers import CharTokenizer, load_tokenizer

pytest.importorskip("tokenizers")


@pytest.fixture(scope="module")
def tokenizer():
    return BPETokenizer.train(text_corpus()[:50_000], vocabulary_size=600)


def test_trained_vocabulary_compresses_text_and_round_trips_anything(tokenizer):
    assert tokenizer.vocabulary_size == 600
    sample = text_corpus()[60_000:62_000]
    ids = tokenizer.encode(sample)
    assert ids.dtype == np.int32 and len(ids) < 0.6 * len(sample)  # subwords, not characters
    assert tokenizer.decode(ids) == sample
    for text in ["Ünïcödé, 日本語, emoji 🙂 and a tab\t", "\x00\uffff", " leading and trailing "]:
        assert tokenizer.decode(tokenizer.encode(text)) == text  # bytes: nothing is unknown


def test_batches_pad_and_decode_by_length(tokenizer):
    ids, lengths = tokenizer.encode_batch(["def f():", "return"], padding_id=tokenizer.end_of_text_id)
    assert ids.shape == (2, int(lengths.max())) and ids.dtype == np.int32
    assert tokenizer.decode_batch(ids, lengths) == ["def f():", "return"]
    with pytest.raises(ValueError, match=r"texts\[0\] has \d+ tokens, more than pad_to=1"):
        tokenizer.encode_batch(["a long sentence"], pad_to=1)


def test_save_and_load_any_tokenizer(tmp_path, tokenizer):
    tokenizer.save(tmp_path / "bpe.json")
    loaded = load_tokenizer(tmp_path / "bpe.json")
    assert isinstance(loaded, BPETokenizer) and loaded == tokenizer
    assert loaded.encode("lambda x: x").tolist() == tokenizer.encode("lambda x: x").tolist()
    assert BPETokenizer.load(tmp_path / "bpe.json") == tokenizer
    with pytest.raises(ValueError, match="holds a BPETokenizer, not a CharTokenizer"):
        CharTokenizer.load(tmp_path / "bpe.json")
    (tmp_path / "junk.json").write_text('{"class_name": "Nope", "config": {}}')
    with pytest.raises(ValueError, match="does not hold a saved tokenizer"):
        load_tokenizer(tmp_path / "junk.json")


def test_load_tokenizer_reads_subword_files_in_a_fresh_process(tmp_path, tokenizer):
    # What GPT.load_assets does: import load_tokenizer alone, then read a BPE file. The
    # BPETokenizer class must be registered by that import, not by an earlier one in this process.
    tokenizer.save(tmp_path / "bpe.json")
    script = (
        "import sys; from nbmodels.data.text.tokenizers import load_tokenizer; "
        "print(type(load_tokenizer(sys.argv[1])).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "bpe.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "BPETokenizer"


def test_bad_arguments_are_clear(tokenizer):
    with pytest.raises(ValueError, match="vocabulary_size=100 is not allowed"):
        BPETokenizer.train("some text", vocabulary_size=100)
    with pytest.raises(ValueError, match="needs some non-empty text"):
        BPETokenizer.train(["", ""])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokenizer.decode([600])
    with pytest.raises(ValueError, match="is not a token of this vocabulary"):
        tokenizer.token_to_id("not-a-token-xyz")


def test_docstring_examples():
    from nbmodels.data.text import subword

    assert doctest.testmod(subword, optionflags=doctest.ELLIPSIS).failed == 0
