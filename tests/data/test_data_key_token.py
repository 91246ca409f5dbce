"""key_token: the label is set by one key token at a uniform random position."""

import numpy as np
import pytest

from nbmodels import data


def _keys(x, num_classes):
    return (x >= 1) & (x <= num_classes)


def test_fields_shapes_and_dtypes():
    ds = data.load("key_token")
    (x, y), (x_val, y_val) = ds.train, ds.validation
    assert (x.shape, y.shape, x_val.shape, y_val.shape) == ((1600, 16), (1600,), (400, 16), (400,))
    assert (x.dtype, y.dtype) == (np.int32, np.int32)
    assert (ds.task, ds.source, ds.num_classes, ds.tokens_per_sample) == ("classification", "generated", 4, 16)
    assert ds.extras == {"vocabulary_size": 32, "padding_id": 0}
    assert set(ds.ground_truth) == {"key_positions", "validation_key_positions", "key_token_ids"}
    assert x.min() >= 1 and x.max() <= 31  # padding id 0 is never generated


@pytest.mark.parametrize("split", ["train", "validation"])
def test_exactly_one_key_per_row_and_the_label_is_a_function_of_it(split):
    ds = data.load("key_token", n=1000, sequence_length=12, vocabulary_size=20, num_classes=5, seed=3)
    x, y = getattr(ds, split)
    truth = ds.ground_truth
    positions = truth["key_positions" if split == "train" else "validation_key_positions"]
    is_key = _keys(x, 5)
    assert is_key.sum(axis=1).tolist() == [1] * len(x)
    np.testing.assert_array_equal(np.argmax(is_key, axis=1), positions)
    key_ids = x[np.arange(len(x)), positions]
    # Recompute the labels from the key token alone: the index of the key id.
    lookup = {int(token): label for label, token in enumerate(truth["key_token_ids"])}
    np.testing.assert_array_equal([lookup[int(token)] for token in key_ids], y)
    np.testing.assert_array_equal(truth["key_token_ids"], np.arange(1, 6))


def test_key_positions_cover_every_position_roughly_uniformly():
    ds = data.load("key_token", n=4000, sequence_length=8)
    positions = np.concatenate([ds.ground_truth["key_positions"], ds.ground_truth["validation_key_positions"]])
    counts = np.bincount(positions, minlength=8)
    assert len(counts) == 8 and counts.min() > 0
    # 500 expected per position; binomial std ~21, so +-100 is ~5 sigma.
    assert np.all(np.abs(counts - 500) < 100), counts.tolist()


def test_classes_are_balanced_and_filler_is_independent_of_the_label():
    ds = data.load("key_token", n=4000, num_classes=4, vocabulary_size=12)
    x, y = ds.train
    labels = np.concatenate([y, ds.validation[1]])
    assert np.bincount(labels).tolist() == [1000] * 4
    # Filler token frequencies look the same whatever the label.
    filler = [np.bincount(x[y == label][~_keys(x[y == label], 4)], minlength=12)[5:] for label in range(4)]
    shares = np.array([f / f.sum() for f in filler])
    assert np.abs(shares - 1 / 7).max() < 0.02


def test_deterministic_for_a_seed():
    a, b, c = data.load("key_token", seed=7), data.load("key_token", seed=7), data.load("key_token", seed=8)
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.validation[1], b.validation[1])
    np.testing.assert_array_equal(a.ground_truth["key_positions"], b.ground_truth["key_positions"])
    assert not np.array_equal(a.train[0], c.train[0])


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"n": 1}, "n=1"),
        ({"sequence_length": 0}, "sequence_length=0"),
        ({"num_classes": 1}, "num_classes=1"),
        ({"num_classes": 4, "vocabulary_size": 5}, "vocabulary_size=5 is not allowed with num_classes=4"),
        ({"validation_split": 1.0}, "validation_split=1.0"),
        ({"seed": -1}, "seed=-1"),
        ({"sequence_lenght": 8}, "did you mean 'sequence_length'"),
    ],
)
def test_bad_options_name_the_option(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        data.load("key_token", **options)
