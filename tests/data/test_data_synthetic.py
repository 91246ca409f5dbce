"""Generated datasets: the recorded ground truth is what the data really follows."""

import numpy as np

from nbmodels import data


def test_least_squares_on_linear_regression_recovers_the_true_weights():
    ds = data.load("linear_regression", n=4000, features=5, noise=0.1, seed=2)
    x, y = ds.train
    truth = ds.ground_truth
    design = np.hstack([x, np.ones((len(x), 1), np.float32)])
    solution, *_ = np.linalg.lstsq(design.astype(np.float64), y.astype(np.float64), rcond=None)
    np.testing.assert_allclose(solution[:-1], truth["weights"], atol=0.01)
    np.testing.assert_allclose(solution[-1], truth["bias"], atol=0.01)
    residual_std = np.std(y - design @ solution)
    np.testing.assert_allclose(residual_std, truth["noise"], rtol=0.1)


def test_linear_regression_fields_and_dtypes():
    ds = data.load("linear_regression")
    (x, y), (x_val, y_val) = ds.train, ds.validation
    assert (x.shape, y.shape, x_val.shape) == ((410, 4), (410,), (102, 4))
    assert (x.dtype, y.dtype) == (np.float32, np.float32)
    assert (ds.task, ds.loss, ds.metrics, ds.num_classes) == ("regression", "mse", ("mae",), None)
    assert set(ds.ground_truth) == {"weights", "bias", "noise"}


def test_blob_centers_are_the_cluster_means():
    ds = data.load("blobs", n=3000, classes=4, features=3, spread=0.5, seed=5)
    x, y = ds.train
    centers = ds.ground_truth["centers"]
    assert centers.shape == (4, 3)
    means = np.stack([x[y == label].mean(axis=0) for label in range(4)])
    np.testing.assert_allclose(means, centers, atol=0.1)
    # Within-cluster spread is the recorded one.
    np.testing.assert_allclose((x - centers[y]).std(), 0.5, rtol=0.05)


def test_blobs_are_balanced_and_typed():
    ds = data.load("blobs", n=600, classes=3)
    x, y = ds.train
    assert (x.dtype, y.dtype, ds.num_classes) == (np.float32, np.int32, 3)
    _, counts = np.unique(np.concatenate([y, ds.validation[1]]), return_counts=True)
    assert counts.tolist() == [200, 200, 200]


def test_generators_are_deterministic_for_a_seed():
    for name in ("linear_regression", "blobs"):
        a, b, c = data.load(name, seed=11), data.load(name, seed=11), data.load(name, seed=12)
        np.testing.assert_array_equal(a.train[0], b.train[0])
        np.testing.assert_array_equal(a.validation[1], b.validation[1])
        assert not np.array_equal(a.train[0], c.train[0])
