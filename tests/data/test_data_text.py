"""Reading text files and cutting text into character windows."""

import numpy as np
import pytest

from nbmodels import data
from nbmodels.data.text.corpus import char_windows


def test_load_text_reads_a_local_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("héllo\nwörld\n", encoding="utf-8")
    assert data.load_text(path) == "héllo\nwörld\n"
    assert data.load_text(str(path)) == "héllo\nwörld\n"


def test_load_text_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt") as error:
        data.load_text(missing)
    assert error.value.filename == str(missing)


def test_load_text_wrong_encoding_says_which_option_fixes_it(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="is not utf-8 text.*encoding="):
        data.load_text(path)
    assert data.load_text(path, encoding="latin-1") == "café"


def test_load_text_refuses_other_url_schemes():
    with pytest.raises(ValueError, match="only local paths and http"):
        data.load_text("ftp://example.com/a.txt")


def test_text_file_on_a_local_path_matches_char_windows(tmp_path):
    text = "".join(chr(ord("a") + i % 7) for i in range(500))
    path = tmp_path / "abc.txt"
    path.write_text(text)
    ds = data.load("text_file", path=str(path), context=8, stride=3, validation_split=0.2)
    direct = char_windows(text, context=8, stride=3, validation_split=0.2)
    np.testing.assert_array_equal(ds.train[0], direct.train[0])
    np.testing.assert_array_equal(ds.validation[1], direct.validation[1])
    assert ds.extras["vocab"] == list("abcdefg")
    assert ds.summary() == (
        "text_file: text, train x (131, 8) int32 -> y (131, 8) int32, validation 31, vocab 7, "
        "8 tokens/sample, source download"
    )


def test_text_file_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        data.load("text_file", path=str(tmp_path / "missing.txt"))


def test_char_windows_never_cross_the_split():
    text = "0123456789" * 10  # 100 chars: 80 train, 20 validation
    ds = char_windows(text, context=5, stride=1, validation_split=0.2)
    vocab = ds.extras["vocab"]
    assert len(ds.train[0]) == 80 - 5 and len(ds.validation[0]) == 20 - 5
    # The last training target ends at character 79, the last one before the split.
    assert "".join(vocab[i] for i in ds.train[1][-1]) == text[75:80]
    assert "".join(vocab[i] for i in ds.validation[0][0]) == text[80:85]


def test_char_windows_too_short_a_part_names_context_and_length():
    with pytest.raises(ValueError, match="context=64 needs at least 65 characters in the validation part"):
        char_windows("x" * 200, context=64)


def test_char_windows_rejects_empty_text():
    with pytest.raises(ValueError, match="non-empty string"):
        char_windows("")
