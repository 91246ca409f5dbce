"""CharTokenizer: round trips, explicit unknown characters, batches, JSON save/load."""

import doctest
import json

import numpy as np
import pytest

from nbmodels import data
from nbmodels.data.text import _tokenizer, tokenizers
from nbmodels.data.text.tokenizers import UNKNOWN_TOKEN, CharTokenizer, Tokenizer


def test_round_trip_on_the_embedded_corpus():
    text = data.text_corpus()
    tokenizer = CharTokenizer.from_text(text)
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert ids.min() == 0 and ids.max() == tokenizer.vocabulary_size - 1
    assert tokenizer.decode(ids) == text


def test_vocabulary_matches_the_char_window_datasets():
    # Ids from the tokenizer are the ids in python_docs / text_file, so a model trained on
    # those datasets can be used with the tokenizer.
    ds = data.load("python_docs", context=32)
    tokenizer = CharTokenizer.from_text(data.text_corpus())
    assert tokenizer.vocabulary == ds.extras["vocab"]
    assert tokenizer.vocabulary_size == ds.num_classes
    first_window = data.text_corpus()[:32]
    np.testing.assert_array_equal(tokenizer.encode(first_window), ds.train[0][0])


def test_lookups_and_vocabulary():
    tokenizer = CharTokenizer.from_text("banana")
    assert tokenizer.vocabulary == ["a", "b", "n"]
    assert (tokenizer.token_to_id("n"), tokenizer.id_to_token(1)) == (2, "b")
    assert tokenizer.unknown_id is None
    tokenizer.vocabulary.append("z")  # a copy: the tokenizer is unchanged
    assert tokenizer.vocabulary_size == 3


def test_a_given_vocabulary_keeps_its_order():
    tokenizer = CharTokenizer(["z", "a", "é"])
    assert tokenizer.encode("aéz").tolist() == [1, 2, 0]
    assert tokenizer.decode([2, 0]) == "éz"


def test_unknown_error_names_the_characters_their_positions_and_the_fix():
    tokenizer = CharTokenizer.from_text("hello world")
    with pytest.raises(ValueError) as error:
        tokenizer.encode("hello, world!")
    message = str(error.value)
    assert "2 character(s)" in message
    assert "',' (U+002C) at position 5" in message
    assert "'!' (U+0021) at position 12" in message
    assert "Build the tokenizer from text that contains them or use unknown='token'" in message


def test_unknown_error_lists_only_the_first_few():
    tokenizer = CharTokenizer(["a"])
    with pytest.raises(ValueError, match=r"8 character\(s\).*at position 5 and 3 more\."):
        tokenizer.encode("a" + "xyzuvwqr")
    with pytest.raises(ValueError, match="'q'"):
        tokenizer.token_to_id("q")


def test_unknown_token_is_id_zero_and_decodes_to_the_replacement_character():
    tokenizer = CharTokenizer.from_text("abc", unknown="token")
    assert tokenizer.vocabulary == [UNKNOWN_TOKEN, "a", "b", "c"]
    assert tokenizer.unknown_id == 0
    ids = tokenizer.encode("aXc€")
    assert ids.tolist() == [1, 0, 3, 0]
    assert tokenizer.decode(ids) == f"a{UNKNOWN_TOKEN}c{UNKNOWN_TOKEN}"
    assert tokenizer.token_to_id("?") == 0


def test_unknown_token_stays_first_when_the_text_contains_it():
    tokenizer = CharTokenizer.from_text(f"b{UNKNOWN_TOKEN}a", unknown="token")
    assert tokenizer.vocabulary == [UNKNOWN_TOKEN, "a", "b"]
    with pytest.raises(ValueError, match="must be id 0"):
        CharTokenizer(["a", UNKNOWN_TOKEN], unknown="token")


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: CharTokenizer(["a", "bc"]), r"vocabulary\[1\]='bc'"),
        (lambda: CharTokenizer(["a", "b", "a"]), "'a' more than once"),
        (lambda: CharTokenizer([]), r"vocabulary=\[\] is not allowed: a tokenizer needs at least one character"),
        (lambda: CharTokenizer(["a"], unknown="skip"), "unknown='skip'"),
        (lambda: CharTokenizer.from_text(""), "non-empty string"),
        (lambda: CharTokenizer(["a"]).decode([0, 1]), "id 1 at position 1 is outside the vocabulary"),
        (lambda: CharTokenizer(["a"]).encode(["a"]), "use encode_batch"),
    ],
)
def test_bad_arguments_are_value_errors(build, fragment):
    with pytest.raises(ValueError, match=fragment):
        build()


def test_encode_batch_pads_right_and_reports_lengths():
    tokenizer = CharTokenizer.from_text("abc")
    ids, lengths = tokenizer.encode_batch(["abc", "", "ca"])
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.tolist() == [[0, 1, 2], [0, 0, 0], [2, 0, 0]]
    assert lengths.tolist() == [3, 0, 2]
    assert tokenizer.decode_batch(ids, lengths) == ["abc", "", "ca"]

    ids, _ = tokenizer.encode_batch(["ab"], pad_to=5, padding_id=2)
    assert ids.tolist() == [[0, 1, 2, 2, 2]]
    assert tokenizer.decode_batch(ids) == ["abccc"]  # without lengths the padding decodes too
    assert tokenizer.encode_batch([])[0].shape == (0, 0)


def test_encode_batch_refuses_to_cut_a_long_text():
    tokenizer = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"texts\[1\] has 3 tokens, more than pad_to=2"):
        tokenizer.encode_batch(["a", "abc"], pad_to=2)
    with pytest.raises(ValueError, match="pad_to=-1"):
        tokenizer.encode_batch(["a"], pad_to=-1)
    with pytest.raises(ValueError, match="lengths has shape"):
        tokenizer.decode_batch([[0, 1]], lengths=[1, 2])


@pytest.mark.parametrize("unknown", ["error", "token"])
def test_save_load_and_config_round_trip(tmp_path, unknown):
    text = "naïve café ☕ \ud800 tab\tnewline\n"  # non-ASCII and a lone surrogate survive JSON
    tokenizer = CharTokenizer.from_text(text, unknown=unknown)
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = CharTokenizer.load(path)
    assert loaded == tokenizer and loaded.vocabulary == tokenizer.vocabulary
    assert loaded.decode(loaded.encode(text)) == text
    assert CharTokenizer.from_config(json.loads(json.dumps(tokenizer.get_config()))) == tokenizer


def test_load_refuses_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"class_name": "WordPiece", "config": {}}')
    with pytest.raises(ValueError, match="does not hold a saved tokenizer"):
        CharTokenizer.load(path)


def test_any_tokenizer_subclass_is_saved_and_loaded_by_its_class_name(tmp_path):
    class ReversedCharTokenizer(CharTokenizer):
        def encode(self, text):
            return super().encode(text[::-1])

    tokenizer = ReversedCharTokenizer(["a", "b"])
    tokenizer.save(tmp_path / "reversed.json")
    for reader in (Tokenizer.load, CharTokenizer.load, ReversedCharTokenizer.load, tokenizers.load_tokenizer):
        loaded = reader(tmp_path / "reversed.json")
        assert type(loaded) is ReversedCharTokenizer and loaded == tokenizer
    CharTokenizer(["a"]).save(tmp_path / "char.json")
    with pytest.raises(ValueError, match="holds a CharTokenizer, not a ReversedCharTokenizer"):
        ReversedCharTokenizer.load(tmp_path / "char.json")


def test_a_second_tokenizer_class_of_the_same_name_is_refused():
    with pytest.raises(ValueError, match="Tokenizer class name 'CharTokenizer' is taken by nbmodels.data.text"):
        type("CharTokenizer", (Tokenizer,), {})


@pytest.mark.parametrize("module", [tokenizers, _tokenizer])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
