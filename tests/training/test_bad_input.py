"""Bad training data is one ValueError before the first step, never a TensorFlow error or a
run that trains on garbage.

Which runs exist afterwards is part of the contract: a problem the arrays show on their own
(no examples, NaN or infinite values, text targets) is refused before a run is made; a problem
that needs the model (labels outside its classes, examples of another shape, text where it
takes numbers) is found when the model is built, and that run ends 'failed' with the message.
"""

import keras
import numpy as np
import pytest

from nbmodels import TrainConfig, list_runs, train
from tests.conftest import make_mlp

CONFIG = TrainConfig(steps=3, batch_size=32)


def xor(n=96):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(n, 8)).astype("float32")
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int32")
    return x, y


def refused(runs_root, builder, data, *expected, run_made: bool):
    """Train, expect one ValueError whose message holds every `expected` piece, then check
    the runs folder: a failed run with that message, or no run at all."""
    with pytest.raises(ValueError) as caught:
        train(builder, data, CONFIG, verbose=False)
    message = str(caught.value)
    for piece in expected:
        assert piece in message, message
    runs = list_runs(runs_root)
    assert all(run["status"] != "running" for run in runs)
    if run_made:
        assert [run["status"] for run in runs] == ["failed"]
        assert message in runs[0]["message"]
        assert runs[0]["step"] == 0  # refused before the first step
    else:
        assert runs == []
    return message


def test_labels_outside_the_models_classes(runs_root):
    x, y = xor()
    y[3] = 5
    refused(runs_root, make_mlp, (x, y), "train y[3] = 5", "2 classes", "[0, 2)", "at least 6 outputs",
            run_made=True)


def test_validation_labels_outside_the_classes_are_found_before_training_not_after_an_epoch(runs_root):
    x, y = xor()
    y_val = y[:32].copy()
    y_val[7] = -1
    refused(runs_root, make_mlp, {"train": (x, y), "validation": (x[:32], y_val)},
            "validation y[7] = -1", "[0, 2)", run_made=True)


class Subclassed(keras.Model):
    """No static input or output shape: the check learns them from one example."""

    def __init__(self):
        super().__init__()
        self.hidden, self.logits = keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)

    def call(self, x):
        return self.logits(self.hidden(x))


def test_labels_outside_the_classes_of_a_subclassed_model(runs_root):
    x, y = xor()
    y[10] = 3

    def builder():
        model = Subclassed()
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    refused(runs_root, builder, (x, y), "train y[10] = 3", "3 classes", run_made=True)


def test_string_features(runs_root):
    x, y = xor()
    refused(runs_root, make_mlp, (x.astype(str), y), "train x[0, 0] = '", "not a number", "encode text",
            run_made=True)


def test_features_of_the_wrong_width(runs_root):
    x, y = xor()
    refused(runs_root, make_mlp, (x[:, :5], y), "train x has shape (96, 5)", "(8,)", "keras.Input((5,))",
            run_made=True)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "mse"])
def test_nan_labels(runs_root, loss):
    x, y = xor()
    y = y.astype("float32")
    y[7] = np.nan

    def builder():
        model = make_mlp(classes=2 if loss != "mse" else 1)
        model.compile(loss=loss)
        return model

    refused(runs_root, builder, (x, y), "train y[7] = nan", "finite", "np.nan_to_num", run_made=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_features(runs_root, bad):
    x, y = xor()
    x[10, 2] = bad
    refused(runs_root, make_mlp, (x, y), f"train x[10, 2] = {bad}", "finite", "np.nan_to_num", run_made=False)


def test_empty_dataset(runs_root):
    x, y = xor()
    refused(runs_root, make_mlp, (x[:0], y[:0]), "no examples", "train x has shape (0, 8)", "pass at least",
            run_made=False)


def test_good_data_still_trains(runs_root):
    """The checks refuse nothing that trains: integer labels, float labels holding class ids."""
    x, y = xor()
    assert train(make_mlp, (x, y), CONFIG, verbose=False).status == "finished"
    assert train(make_mlp, (x, y.astype("float32")), CONFIG, verbose=False).status == "finished"
