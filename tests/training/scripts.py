"""Entry points the multi-process tests run in child processes.

    python -m tests.training.scripts long_run ROOT      # trains until killed
    python -m tests.training.scripts strategies         # prints final losses as JSON
    python -m tests.training.scripts worker             # one worker of a TF_CONFIG cluster
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def xor_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(512, 8)).astype("float32")
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype("int32")
    return {"train": (x[:448], y[:448]), "validation": (x[448:], y[448:])}


def builder():
    from tests.conftest import make_mlp

    return make_mlp()


STRATEGY_CONFIG = dict(steps=140, batch_size=32, learning_rate=1e-2, seed=0)


def long_run(root):
    from nbmodels import TrainConfig, train

    config = TrainConfig(steps=1_000_000, batch_size=32, checkpoint_every=20, validate_every=1000)
    train(builder, xor_data(), config, name="killme", root=root, verbose=False)


def final_loss(run):
    losses = [e["metrics"]["loss"] for e in run.history[-14:]]
    return float(np.mean(losses))


def summary(run):
    start = next(e for e in run.events if e["type"] == "start")
    return {"loss": final_loss(run), "status": run.status, "strategy": start["strategy"],
            "replicas": start["replicas"], "steps": run.step, "root": str(run.root)}


def strategies():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from nbmodels import TrainConfig, train

    results = {}
    for name, extra in {
        "single": dict(strategy="default", devices=("/cpu:0",)),
        "mirrored": dict(strategy="mirrored", devices=("/cpu:0", "/cpu:1")),
    }.items():
        run = train(builder, xor_data(), TrainConfig(**STRATEGY_CONFIG, **extra), verbose=False)
        results[name] = summary(run)
    print("RESULT " + json.dumps(results), flush=True)


def worker():
    from nbmodels import TrainConfig, train

    run = train(builder, xor_data(), TrainConfig(**STRATEGY_CONFIG), verbose=False)
    print("RESULT " + json.dumps(summary(run)), flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "long_run":
        long_run(sys.argv[2])
    else:
        globals()[command]()
