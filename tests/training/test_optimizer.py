"""AdamW decays what nanoGPT decays: weights with 2+ dimensions, never biases or LayerNorm
scales, unless TrainConfig.weight_decay_on="all".

Weights whose gradient is exactly zero isolate the decay: Adam's own update of a zero gradient
is zero, so after n steps at a constant learning rate a decayed weight is (1 - lr * wd) ** n
times its start and an excluded one has not moved at all.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from nbmodels import TrainConfig, train
from nbmodels.training.optimizer import make_optimizer

LR, DECAY, STEPS = 0.1, 0.5, 4
SHRUNK = (1 - LR * DECAY) ** STEPS  # what decay leaves of a weight that has no gradient


def config(**changes):
    return TrainConfig(steps=STEPS, batch_size=32, optimizer="adamw", learning_rate=LR, weight_decay=DECAY, **changes)


@pytest.mark.parametrize("decay_on, vector_left", [("matrices", 1.0), ("all", SHRUNK)])
def test_optimizer_decays_matrices_and_vectors_as_configured(decay_on, vector_left):
    optimizer = make_optimizer(config(weight_decay_on=decay_on), total_steps=STEPS)
    vector, matrix = keras.Variable(np.ones(4, "float32")), keras.Variable(np.ones((4, 4), "float32"))
    for _ in range(STEPS):
        optimizer.apply_gradients([(np.zeros(4, "float32"), vector), (np.zeros((4, 4), "float32"), matrix)])
    np.testing.assert_allclose(matrix.numpy(), SHRUNK, rtol=1e-5)
    np.testing.assert_allclose(vector.numpy(), vector_left, rtol=1e-5)


class Idle(keras.layers.Layer):
    """A 1-D and a 2-D weight the loss does not depend on: their gradient is exactly zero."""

    def build(self, input_shape):
        self.vector = self.add_weight(shape=(4,), initializer="ones", name="vector")
        self.matrix = self.add_weight(shape=(4, 4), initializer="ones", name="matrix")

    def call(self, x):
        return x + 0.0 * (keras.ops.sum(self.vector) + keras.ops.sum(self.matrix))


def idle_model():
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2), Idle()]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def idle_weights(train_config, data):
    run = train(idle_model, data, train_config, verbose=False)
    assert run.status == "finished"
    idle = run.model.layers[-1]
    return float(np.mean(idle.vector.numpy())), float(np.mean(idle.matrix.numpy()))


def test_train_with_adamw_decays_only_matrices_by_default(runs_root, xor_data):
    vector, matrix = idle_weights(config(), xor_data)
    assert vector == 1.0
    assert matrix == pytest.approx(SHRUNK, rel=1e-5)
    vector, matrix = idle_weights(config(weight_decay_on="all"), xor_data)
    assert vector == pytest.approx(SHRUNK, rel=1e-5) and matrix == pytest.approx(SHRUNK, rel=1e-5)


def test_mirrored_strategy_decays_only_matrices(tmp_path):
    """Under MirroredStrategy the optimizer is built for mirrored variables; the exclusion
    must still find them (two logical CPUs, in a child process: they must be set up before
    TensorFlow starts)."""
    child = subprocess.run(
        [sys.executable, "-m", "tests.training.test_optimizer", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, child.stdout[-2000:] + child.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["replicas"] == 2
    assert result["vector"] == 1.0
    assert result["matrix"] == pytest.approx(SHRUNK, rel=1e-5)


def _mirrored(root):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tests.training.scripts import xor_data

    run = train(idle_model, xor_data(), config(strategy="mirrored", devices=("/cpu:0", "/cpu:1")),
                root=root, verbose=False)
    start = next(e for e in run.events if e["type"] == "start")
    idle = run.model.layers[-1]
    print("RESULT " + json.dumps({"replicas": start["replicas"], "vector": float(np.mean(idle.vector.numpy())),
                                  "matrix": float(np.mean(idle.matrix.numpy()))}), flush=True)


if __name__ == "__main__":
    _mirrored(sys.argv[1])
