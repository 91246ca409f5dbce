"""Fine-tuning in one run: freeze -> train -> unfreeze -> resume equals an uninterrupted run."""

import doctest
import json
import signal

import keras
import numpy as np
import pytest

from nbmodels import FineTune, Run, TrainConfig, data, list_runs, resume, train
from nbmodels.checks import ConfigError
from nbmodels.models import TransferClassifier, TransferConfig
from nbmodels.training import fine_tune as fine_tune_module
from tests.conftest import kernel_interrupt_at, make_mlp

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
# 6 steps a round; the switch at step 5 falls mid-round, the harder case for exact resume.
CONFIG = TrainConfig(steps=12, batch_size=8, seed=3, learning_rate=3e-3)
FINE_TUNE = FineTune(after_steps=5, unfreeze=12, learning_rate=1e-3)


@pytest.fixture(scope="module")
def digits():
    """A few dozen 8x8 digits images: 48 to train on (6 steps of 8), 16 to validate."""
    loaded = data.load("digits", flatten=False)
    (x, y), (vx, vy) = loaded.train, loaded.validation
    return {"train": (x[:48], y[:48]), "validation": (vx[:16], vy[:16])}


def tiny_transfer():
    # A quarter-width minimalistic MobileNetV3Small at 32 px, untrained: seconds on a CPU.
    model = TransferClassifier(TransferConfig.preset("tiny", input_shape=(8, 8, 1)), name="transfer")
    model.compile(loss=LOSS)  # the loss travels with the builder, to another process too
    return model


def weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def losses(run):
    return [e["metrics"]["loss"] for e in Run.load(run.id, root=run.root).history]


def train_interrupted(digits, stop_at):
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return train(tiny_transfer, digits, CONFIG, fine_tune=FINE_TUNE,
                     callbacks=[kernel_interrupt_at(stop_at)], verbose=False)
    finally:
        signal.signal(signal.SIGINT, handler)


@pytest.fixture(scope="module")
def reference(digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    return train(tiny_transfer, digits, CONFIG, fine_tune=FINE_TUNE, root=root, verbose=False)


def test_the_switch_unfreezes_recompiles_and_is_recorded(reference):
    run = reference
    assert run.status == "finished", run.message
    assert [e["step"] for e in run.history] == list(range(1, 13))
    switches = [e for e in run.events if e["type"] == "fine_tune"]
    assert len(switches) == 1 and switches[0]["step"] == 5 and switches[0]["unfreeze"] == 12
    model = run.model
    assert model.unfrozen == 12 and switches[0]["trainable_parameters"] > 144 * 10 + 10  # more than the head
    norms = [layer for layer in model.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # Untrained weights: BatchNorm trains throughout (TransferConfig.train_batchnorm's default).
    assert norms and all(layer.trainable == model.config.trains_batchnorm for layer in norms)
    # The new optimizer continued the step counter and trains at the fine-tuning rate.
    assert int(model.optimizer.iterations.numpy()) == 12
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    # Validation stays on its round (step 6, 12), not at the switch.
    assert [e["step"] for e in run.validation_history] == [6, 12]
    stored = json.loads((run.path / "config.json").read_text())
    assert FineTune.from_dict(stored["fine_tune"]) == FINE_TUNE


def test_interrupts_before_at_and_after_the_switch_resume_to_the_uninterrupted_run(runs_root, digits, reference):
    run = train_interrupted(digits, 3)  # before the switch
    assert run.status == "interrupted" and run.step == 3, (run.status, run.message)
    # Each resume as another process would: a Run read from disk, with its builder and data; the
    # fine-tuning comes from the run's config.json. Interrupted again at the switch, then after it.
    for stop_at in (5, 9, None):
        callbacks = [kernel_interrupt_at(stop_at)] if stop_at else []
        handler = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            run = resume(Run.load(run.id), tiny_transfer, digits, callbacks=callbacks, verbose=False)
        finally:
            signal.signal(signal.SIGINT, handler)
        if stop_at:
            assert run.status == "interrupted" and run.step == stop_at, (run.status, run.message)
    assert run.status == "finished", run.message
    assert run.model.unfrozen == 12 and int(run.model.optimizer.iterations.numpy()) == 12
    for got, want in zip(weights(run.model), weights(reference.model), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert [e["step"] for e in Run.load(run.id).history] == list(range(1, 13))
    np.testing.assert_allclose(losses(run), losses(reference), rtol=1e-5, atol=1e-6)
    assert [e["step"] for e in Run.load(run.id).events if e["type"] == "fine_tune"] == [5]


def test_a_model_without_unfreeze_fails_before_any_step(runs_root):
    x = np.zeros((16, 8), "float32")
    y = np.zeros(16, "int32")
    with pytest.raises(ConfigError, match=r"has no unfreeze\(top\) method .*train without fine_tune") as error:
        train(make_mlp, (x, y), TrainConfig(steps=4, batch_size=8), fine_tune=FineTune(after_steps=2),
              verbose=False)
    assert error.value.field == "fine_tune"
    (summary,) = list_runs(runs_root)
    run = Run.load(summary["id"], root=runs_root)
    assert run.status == "failed" and run.history == [] and "unfreeze" in run.message


def test_fine_tune_checks_its_fields():
    with pytest.raises(ConfigError, match="give when to unfreeze"):
        FineTune()
    with pytest.raises(ConfigError, match="FineTune.unfreeze=0"):
        FineTune(after_epochs=1, unfreeze=0)
    with pytest.raises(ConfigError, match="FineTune.learning_rate=0"):
        FineTune(after_steps=3, learning_rate=0)
    with pytest.raises(ConfigError, match="train.fine_tune"):
        train(make_mlp, (np.zeros((8, 8), "float32"), np.zeros(8, "int32")), fine_tune="after 5 epochs")
    assert FineTune(after_epochs=0.5).switch_step(7) == 4 and FineTune(after_epochs=1, unfreeze=None).unfreeze is None


def test_doctests():
    assert doctest.testmod(fine_tune_module, optionflags=doctest.ELLIPSIS).failed == 0
