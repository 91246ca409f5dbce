"""Sources: arrays in memory, rows loaded lazily by index, tf.data; and Datasets holding them."""

import doctest
import threading

import numpy as np
import pytest

from nbmodels import data
from nbmodels.data import sources


def pairs(n=12):
    return {"user": np.arange(n, dtype="int32"), "item": (np.arange(n, dtype="int32") * 7) % 5}


class CountingLoader:
    """A per-row loader that records which rows were read and from which threads."""

    def __init__(self, n=50):
        self.table = np.arange(n * 3, dtype="float32").reshape(n, 3)
        self.reads, self.threads = [], set()
        self.lock = threading.Lock()

    def __call__(self, index):
        with self.lock:
            self.reads.append(index)
            self.threads.add(threading.get_ident())
        return self.table[index], np.int32(index % 2)


def test_array_source_returns_the_rows_asked_for_in_order():
    source = sources.ArraySource(pairs(), None)
    features, targets = source.rows([5, 0, 5])
    assert len(source) == 12 and targets is None
    np.testing.assert_array_equal(features["user"], [5, 0, 5])
    np.testing.assert_array_equal(features["item"], [0, 0, 0])
    x, y = sources.ArraySource(np.eye(4, dtype="float32"), np.arange(4)).rows(np.array([3]))
    np.testing.assert_array_equal(x, [[0, 0, 0, 1]])
    np.testing.assert_array_equal(y, [3])


def test_lazy_source_reads_only_the_rows_asked_for_with_its_threads():
    loader = CountingLoader()
    source = data.LazySource(50, load_row=loader, threads=4)
    features, targets = source.rows(np.arange(40, 48))
    assert sorted(loader.reads) == list(range(40, 48))
    np.testing.assert_array_equal(features, loader.table[40:48])
    np.testing.assert_array_equal(targets, np.arange(40, 48) % 2)
    assert threading.get_ident() not in loader.threads  # read by the pool, not the caller


def test_lazy_source_with_a_batch_loader_and_dict_features_without_targets():
    table = pairs(20)
    calls = []

    def load_batch(indices):
        calls.append(list(indices))
        return {key: value[indices] for key, value in table.items()}, None

    source = data.LazySource(20, load_batch=load_batch)
    features, targets = source.rows([19, 2])
    assert calls == [[19, 2]] and targets is None
    np.testing.assert_array_equal(features["user"], [19, 2])


def test_lazy_source_reads_its_first_example_once():
    loader = CountingLoader()
    source = data.LazySource(50, load_row=loader)
    dataset = data.Dataset(task="classification", train=source, num_classes=2)
    assert dataset.input_shape == (3,)
    dataset.summary(), repr(dataset), sources.first_rows(source)
    assert loader.reads == [0]  # shapes and dtypes came from row 0, read once; nothing else


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"length": -1, "load_row": print}, "length=-1"),
        ({"length": 5}, "exactly one loader"),
        ({"length": 5, "load_row": print, "load_batch": print}, "exactly one loader"),
        ({"length": 5, "load_row": "f"}, "must be a function"),
        ({"length": 5, "load_row": print, "threads": 0}, "threads=0"),
        ({"length": 5, "load_row": print, "prefetch": 0}, "prefetch=0"),
    ],
)
def test_lazy_source_checks_its_arguments(kwargs, fragment):
    length = kwargs.pop("length")
    with pytest.raises(ValueError, match=fragment):
        data.LazySource(length, **kwargs)


def test_a_loader_must_return_features_and_targets():
    source = data.LazySource(3, load_row=lambda i: np.zeros(2))
    with pytest.raises(ValueError, match=r"load_row must return a \(features, targets\) pair"):
        source.rows([0])


def test_tf_data_source_knows_its_length_and_is_not_indexable():
    import tensorflow as tf

    x, y = np.zeros((10, 2), "float32"), np.arange(10)
    source = sources.as_source(tf.data.Dataset.from_tensor_slices((x, y)))
    assert isinstance(source, data.TFDataSource) and len(source) == 10 and source.has_targets
    features, targets = sources.first_rows(source)
    assert features.shape == (1, 2) and targets.tolist() == [0]
    with pytest.raises(TypeError, match="cannot be read by index"):
        source.rows([0])
    filtered = tf.data.Dataset.from_tensor_slices(x).filter(lambda row: True)
    with pytest.raises(ValueError, match="pass length="):
        data.TFDataSource(filtered)
    features_only = data.TFDataSource(filtered, length=10)
    assert not features_only.has_targets and sources.first_rows(features_only)[1] is None


def test_dataset_with_dict_features_and_no_targets():
    dataset = data.Dataset(task="retrieval", train=(pairs(), None), validation=(pairs(4), None))
    assert dataset.input_shape == {"user": (), "item": ()}
    assert dataset.loss == "" and dataset.metrics == () and dataset.num_classes is None
    assert dataset.summary() == (
        "dataset: retrieval, train x {user: () int32, item: () int32} -> no y, 12 examples, "
        "validation 4, source unregistered"
    )
    x, y = dataset.train  # in memory it stays an (x, y) pair
    assert y is None and set(x) == {"user", "item"}


def test_dataset_summary_of_a_lazy_source():
    source = data.LazySource(50, load_row=CountingLoader())
    dataset = data.Dataset(task="classification", train=source, num_classes=2)
    assert dataset.summary() == (
        "dataset: classification, train x (3,) float32 -> y () int32, 50 examples (LazySource), "
        "no validation, 2 classes, source unregistered"
    )


def test_dataset_checks_features_targets_and_task_together():
    with pytest.raises(ValueError, match="A classification Dataset has no targets"):
        data.Dataset(task="classification", train=(pairs(), None), num_classes=2)
    with pytest.raises(ValueError, match="A retrieval Dataset takes no targets"):
        data.Dataset(task="retrieval", train=(pairs(), np.zeros(12)))
    with pytest.raises(ValueError, match="x has 12 examples but y has 3"):
        data.Dataset(task="regression", train=(pairs(), np.zeros(3)))
    with pytest.raises(ValueError, match="one row per example"):
        data.Dataset(task="retrieval", train=({"user": np.arange(3), "item": np.arange(4)}, None))
    with pytest.raises(ValueError, match="must hold numpy arrays"):
        data.Dataset(task="retrieval", train=({"user": [1, 2]}, None))
    with pytest.raises(ValueError, match="a Source"):
        data.Dataset(task="regression", train="data.csv")


def test_docstring_examples_run():
    assert doctest.testmod(sources, optionflags=doctest.ELLIPSIS).failed == 0
