"""Shared fixtures: tiny real data and models, and a private runs folder per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("NBMODELS_RUNS_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def xor_data():
    """A small nonlinear task a 2-layer MLP learns in a few hundred steps."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(512, 8)).astype("float32")
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int32")
    return {"train": (x[:448], y[:448]), "validation": (x[448:], y[448:])}


def make_mlp(inputs=8, classes=2, dropout=0.0):
    import keras

    layers = [keras.Input((inputs,)), keras.layers.Dense(32, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(classes))
    model = keras.Sequential(layers, name="mlp")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def kernel_interrupt_at(step: int):
    """A callback delivering a real SIGINT, as Jupyter's interrupt button does, before `step`.

    Kernel interrupts arrive as KeyboardInterrupt through Python's own handler (ipykernel keeps
    it); train under `default_int_handler` in case an earlier test left another one behind.
    """
    import signal

    import keras

    class KernelInterrupt(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == step:
                signal.raise_signal(signal.SIGINT)

    return KernelInterrupt()
