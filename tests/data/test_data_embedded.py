"""Embedded datasets: scikit-learn digits and Python's own help text."""

import numpy as np
import pytest

from nbmodels import data


def test_digits_shapes_dtypes_and_ranges():
    ds = data.load("digits")
    (x, y), (x_val, y_val) = ds.train, ds.validation
    assert (x.shape, y.shape, x_val.shape, y_val.shape) == ((1438, 64), (1438,), (359, 64), (359,))
    assert (x.dtype, y.dtype) == (np.float32, np.int32)
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(y_val))
    assert (ds.num_classes, ds.input_shape, ds.task, ds.source) == (10, (64,), "classification", "embedded")
    assert ds.extras["class_names"] == [str(d) for d in range(10)]


def test_digits_unflattened_are_images_with_a_channel_axis():
    flat, images = data.load("digits"), data.load("digits", flatten=False)
    assert images.train[0].shape == (1438, 8, 8, 1) and images.input_shape == (8, 8, 1)
    np.testing.assert_array_equal(images.train[0].reshape(-1, 64), flat.train[0])


def test_digits_split_is_deterministic_for_a_seed_and_changes_with_it():
    a, b, c = data.load("digits", seed=7), data.load("digits", seed=7), data.load("digits", seed=8)
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.validation[1], b.validation[1])
    assert not np.array_equal(a.train[1], c.train[1])
    assert a.summary() == b.summary()


@pytest.mark.parametrize("split, n_val", [(0.2, 359), (0.5, 898), (0.1, 180)])
def test_digits_split_sizes_partition_the_whole_set(split, n_val):
    ds = data.load("digits", validation_split=split)
    assert len(ds.validation[0]) == n_val
    assert len(ds.train[0]) + n_val == 1797
    # Train and validation together are exactly the original examples, each once.
    from sklearn.datasets import load_digits

    everything = np.concatenate([ds.train[0], ds.validation[0]])
    original = (load_digits().data / 16.0).astype(np.float32)
    np.testing.assert_array_equal(np.unique(everything, axis=0), np.unique(original, axis=0))


def test_text_corpus_is_python_help_text_joined_deterministically():
    from pydoc_data.topics import topics

    text = data.text_corpus()
    assert len(text) > 100_000
    assert text.startswith(topics[sorted(topics)[0]])
    assert "for" in text and "lambda" in text


def _decode(ids, vocab):
    return "".join(vocab[i] for i in ids)


def test_python_docs_windows_are_next_char_pairs_split_by_position():
    context, stride = 32, 16
    ds = data.load("python_docs", context=context, stride=stride)
    text, vocab = data.text_corpus(), ds.extras["vocab"]
    (x, y), (x_val, y_val) = ds.train, ds.validation
    split_at = int(len(text) * 0.9)

    assert (x.dtype, y.dtype) == (np.int32, np.int32)
    assert x.shape[1] == y.shape[1] == context == ds.tokens_per_sample
    assert ds.input_shape == (context,)
    # Targets are the inputs shifted one character ahead.
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert _decode(x[0], vocab) == text[:context]
    assert _decode(y[0], vocab) == text[1 : context + 1]
    assert _decode(x[1], vocab) == text[stride : stride + context]
    # The first 90% of the text trains, the last 10% validates; no window crosses.
    assert len(x) == (split_at - context - 1) // stride + 1
    assert _decode(x_val[0], vocab) == text[split_at : split_at + context]
    assert _decode(y_val[-1], vocab) in text[split_at:]


def test_python_docs_vocab_covers_the_text_exactly():
    ds = data.load("python_docs")
    assert ds.extras["vocab"] == sorted(set(data.text_corpus()))
    assert ds.num_classes == len(ds.extras["vocab"])
    assert ds.train[0].max() < ds.num_classes and ds.train[0].min() >= 0
    assert (ds.loss, ds.metrics) == ("sparse_categorical_crossentropy", ("accuracy",))


def test_python_docs_default_stride_is_the_context():
    ds = data.load("python_docs", context=100)
    text = data.text_corpus()
    assert len(ds.train[0]) == (int(len(text) * 0.9) - 101) // 100 + 1
