"""Checkpoints restore by variable path: freezing or unfreezing layers between save and restore
(transfer learning) keeps working, and a model that does not match is named precisely."""

import json

import keras
import numpy as np
import pytest

from nbmodels import Run, TrainConfig, resume, train
from nbmodels.training import checkpoint

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 8)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


def backbone_and_head(frozen: bool, widths=(16, 16), extra=None, learning_rate=1e-2):
    """A compiled model whose "backbone_*" layers are frozen when `frozen`; its Dense layers get
    auto names (dense, dense_1, ...) that count up per process, as users' models do."""
    layers = [keras.Input((8,))]
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, activation="relu", name=f"backbone_{i}", trainable=not frozen))
    if extra:
        layers.append(keras.layers.Dense(extra, name="extra"))
    layers += [keras.layers.Dropout(0.1), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    model = keras.Sequential(layers, name="finetune")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def trained_checkpoint(model, steps=3):
    """`model` after `steps` updates (so its optimizer slots are not zero), and its checkpoint."""
    model.fit(X, Y, batch_size=16, steps_per_epoch=steps, epochs=1, verbose=0)
    run = Run.create(TrainConfig(), name="checkpoint")
    return checkpoint.save(run, model, step=steps, epoch=0.0, keep=2)


def values(variables):
    return {v.path: np.array(v.numpy()) for v in variables}


def slots_of(optimizer, variable):
    """The optimizer's slots (momentum, velocity) of one model variable, by Keras' naming."""
    prefix = variable.path.replace("/", "_") + "_"
    return {v.name[len(prefix):]: np.array(v.numpy()) for v in optimizer.variables if v.name.startswith(prefix)}


@pytest.mark.parametrize("frozen_then", [True, False], ids=["unfreeze after", "freeze after"])
def test_freeze_checkpoint_unfreeze_restore_gives_the_saved_weights(runs_root, frozen_then):
    saved_model = backbone_and_head(frozen=frozen_then)
    path = trained_checkpoint(saved_model)
    model = backbone_and_head(frozen=not frozen_then)  # new auto names: dense_3, ... not dense, ...
    assert checkpoint.restore(path, model) == 3

    for got, want in zip(model.variables, saved_model.variables, strict=True):  # weights and RNG states
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert int(model.optimizer.iterations.numpy()) == int(saved_model.optimizer.iterations.numpy()) == 3
    saved_by_position = dict(zip([v.path for v in model.variables], saved_model.variables))
    for variable in model.trainable_variables:
        slots = slots_of(model.optimizer, variable)
        assert set(slots) == {"momentum", "velocity"}
        saved = saved_by_position[variable.path]
        if saved.trainable:  # trained then and now: its optimizer state comes back
            for name, value in slots_of(saved_model.optimizer, saved).items():
                np.testing.assert_array_equal(slots[name], value)
                assert np.any(value != 0)
        else:  # frozen then: it starts with fresh slots, as after keras.io's recompile
            assert all(not np.any(value) for value in slots.values()), variable.path


def test_mixed_float16_loss_scaling_state_is_restored_across_unfreezing(runs_root):
    # fit() builds the loss-scale optimizer's inner one under its own scope, restore() does not:
    # the slots' paths differ (loss_scale_optimizer/adam/... vs adam/...), their keys must not.
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        saved_model = backbone_and_head(frozen=True)
        path = trained_checkpoint(saved_model)
        model = backbone_and_head(frozen=False)
        checkpoint.restore(path, model)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for got, want in zip(model.variables, saved_model.variables, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    slots = slots_of(model.optimizer, model.layers[-1].kernel)
    saved_slots = slots_of(saved_model.optimizer, saved_model.layers[-1].kernel)
    assert slots.keys() == saved_slots.keys() == {"momentum", "velocity"}
    for name, value in saved_slots.items():
        np.testing.assert_array_equal(slots[name], value)
    assert model.optimizer.step_counter.numpy() == saved_model.optimizer.step_counter.numpy() == 3


def test_a_model_that_does_not_match_names_what_is_missing_unexpected_and_reshaped(runs_root):
    path = trained_checkpoint(backbone_and_head(frozen=False, widths=(16, 16)))
    with pytest.raises(ValueError) as info:
        checkpoint.restore(path, backbone_and_head(frozen=False, widths=(16, 32), extra=16))
    message = str(info.value)
    assert "does not fit the model the builder made" in message
    assert "not in the checkpoint: finetune/extra/kernel, finetune/extra/bias;" in message
    assert (
        "another shape: finetune/backbone_1/kernel [16, 32] vs [16, 16] saved, "
        "finetune/backbone_1/bias [32] vs [16] saved." in message
    )  # the slots of these variables have their shapes too, and go unsaid
    assert "freezing or unfreezing layers is fine" in message

    unexpected = "in the checkpoint but not in the model: finetune/backbone_1/kernel, finetune/backbone_1/bias[.]"
    with pytest.raises(ValueError, match=unexpected):
        checkpoint.restore(path, backbone_and_head(frozen=False, widths=(16,)))


def test_another_optimizer_is_a_mismatch_too(runs_root):
    path = trained_checkpoint(backbone_and_head(frozen=False))
    model = backbone_and_head(frozen=False)
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    with pytest.raises(ValueError, match=r"not in the checkpoint: sgd\S*/iteration.*in the checkpoint but not"):
        checkpoint.restore(path, model)


def test_the_learning_rate_comes_from_the_resumed_configuration(runs_root):
    path = trained_checkpoint(backbone_and_head(frozen=False, learning_rate=1e-2))
    model = backbone_and_head(frozen=False, learning_rate=1e-4)  # fine-tuning: a lower rate
    checkpoint.restore(path, model)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)


def test_checkpoints_written_before_the_model_count_was_recorded_still_restore(runs_root):
    saved_model = backbone_and_head(frozen=False)
    path = trained_checkpoint(saved_model)
    progress = json.loads((path / "progress.json").read_text())
    del progress["model_variables"]
    (path / "progress.json").write_text(json.dumps(progress))
    model = backbone_and_head(frozen=False)
    checkpoint.restore(path, model)
    for got, want in zip(model.variables + model.optimizer.variables,
                         saved_model.variables + saved_model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_fine_tuning_flow_trains_the_head_then_resumes_with_the_backbone_unfrozen(runs_root, xor_data):
    def builder(frozen):
        return lambda: backbone_and_head(frozen=frozen)

    class SwitchAt(keras.callbacks.Callback):
        """Ends the head's phase at step 20 of the run's 40."""

        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 20:
                self.model.stop_training = True

    config = TrainConfig(steps=40, batch_size=32, seed=1)
    run = train(builder(frozen=True), xor_data, config, callbacks=[SwitchAt()], verbose=False)
    assert run.status == "stopped" and run.step == 20
    after_head = values(run.model.variables)

    class StartingWeights(keras.callbacks.Callback):
        weights = None

        def on_train_begin(self, logs=None):  # once per fit; a resumed run may fit twice
            if self.weights is None:
                self.weights = values(self.model.variables)

    start = StartingWeights()
    run.config = run.config.replace(learning_rate=1e-4)
    resume(run, builder(frozen=False), xor_data, callbacks=[start], verbose=False)
    assert run.status == "finished" and run.step == 40
    # Phase two started from phase one's weights, under new auto names (new models each phase).
    for (got_path, got), (want_path, want) in zip(start.weights.items(), after_head.items(), strict=True):
        assert got_path.split("/")[-1] == want_path.split("/")[-1]
        np.testing.assert_array_equal(got, want)
    backbone = run.model.get_layer("backbone_0").kernel.numpy()
    assert np.any(backbone != after_head["finetune/backbone_0/kernel"])  # frozen in phase one, trained in two
    assert float(run.model.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    steps = [e["step"] for e in Run.load(run.id).history]
    assert steps == list(range(1, 41))
