"""keras.datasets wrappers. Nothing is downloaded."""

import os
import socket
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nbmodels import data


def _fake_keras(monkeypatch, keras_name, load_data):
    """Put a stand-in `keras` whose datasets.<keras_name>.load_data is `load_data`."""
    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(**{keras_name: types.SimpleNamespace(load_data=load_data)})
    monkeypatch.setitem(sys.modules, "keras", fake)


def test_grayscale_images_get_a_channel_axis_and_unit_range(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[0, 0, 1] = 0, 255
    y = np.arange(6, dtype=np.uint8)
    _fake_keras(monkeypatch, "fashion_mnist", lambda: ((x, y), (x[:2], y[:2])))
    ds = data.load("fashion_mnist")
    (x_train, y_train), (x_test, y_test) = ds.train, ds.validation
    assert (x_train.shape, x_test.shape, ds.input_shape) == ((6, 28, 28, 1), (2, 28, 28, 1), (28, 28, 1))
    assert (x_train.dtype, y_train.dtype) == (np.float32, np.int32)
    assert (x_train.min(), x_train.max()) == (0.0, 1.0)
    np.testing.assert_allclose(x_train[..., 0], x / 255.0, rtol=1e-6)
    assert ds.extras["class_names"][9] == "Ankle boot" and ds.num_classes == 10
    assert ds.summary().endswith("validation 2, 10 classes, source download")


def test_colour_images_keep_channels_and_labels_are_flattened(monkeypatch):
    x = np.full((4, 32, 32, 3), 51, np.uint8)
    y = np.array([[3], [1], [4], [1]], np.uint8)  # cifar10 labels come as (N, 1)
    _fake_keras(monkeypatch, "cifar10", lambda: ((x, y), (x, y)))
    ds = data.load("cifar10")
    assert ds.train[0].shape == (4, 32, 32, 3) and np.allclose(ds.train[0], 0.2)
    assert ds.train[1].tolist() == [3, 1, 4, 1] and ds.validation[1].shape == (4,)


def test_a_keras_fetch_failure_becomes_a_download_error_naming_digits(monkeypatch):
    def offline():
        # What keras.utils.get_file raises when the name cannot be resolved.
        raise Exception("URL fetch failure on https://example/mnist.npz: None -- [Errno -3] Temporary failure")

    _fake_keras(monkeypatch, "mnist", offline)
    with pytest.raises(data.DownloadError) as error:
        data.load("mnist")
    message = str(error.value)
    assert message.startswith("Could not download mnist: URL fetch failure")
    assert "You seem to be offline" in message
    assert "nbmodels.data.load('digits') is an embedded 8x8 digits set that works offline." in message


def test_a_keras_failure_that_is_not_the_network_passes_through(monkeypatch):
    def corrupt():
        raise ValueError("Incomplete or corrupted file detected.")

    _fake_keras(monkeypatch, "mnist", corrupt)
    with pytest.raises(ValueError, match="corrupted") as error:
        data.load("mnist")
    assert not isinstance(error.value, data.DownloadError)


def test_real_keras_offline_raises_download_error(monkeypatch):
    # Real keras and urllib, with name resolution failing as it does offline.
    cached = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets" / "mnist.npz"
    if cached.exists():
        pytest.skip(f"{cached} exists, so keras would not try the network")
    pytest.importorskip("keras")

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(data.DownloadError, match="Could not download mnist: .*Name or service not known.*digits"):
        data.load("mnist")



def test_imdb_reviews_are_cut_or_padded_to_the_sequence_length(monkeypatch):
    reviews = np.array([list(range(1, 12)), [1, 5, 2]], dtype=object)  # keras gives ragged id lists
    labels = np.array([1, 0])
    _fake_keras(monkeypatch, "imdb", lambda num_words: ((reviews, labels), (reviews[:1], labels[:1])))
    ds = data.load("imdb", num_words=50, sequence_length=8)
    x, y = ds.train
    assert x.dtype == np.int32 and x.tolist() == [list(range(1, 9)), [1, 5, 2, 0, 0, 0, 0, 0]]
    assert y.tolist() == [1, 0] and ds.num_classes == 2 and ds.tokens_per_sample == 8
    assert ds.extras["vocabulary_size"] == 50 and ds.extras["class_names"] == ["negative", "positive"]
    with pytest.raises(ValueError, match="num_words=2 is not allowed"):
        data.load("imdb", num_words=2)


def test_imdb_offline_names_the_generated_alternative(monkeypatch):
    def offline(num_words):
        raise Exception("URL fetch failure on https://example/imdb.npz: None -- [Errno -3] Temporary failure")

    _fake_keras(monkeypatch, "imdb", offline)
    with pytest.raises(data.DownloadError, match=r"data.load\('key_token'\) is a generated text-classification"):
        data.load("imdb")
