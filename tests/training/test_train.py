"""train() end to end on real (tiny) Keras models: outcomes, stop, divergence, resume."""

import json
import signal
import threading

import keras
import numpy as np
import pytest

from nbmodels import Run, TrainConfig, resume, train
from nbmodels.runs import rundir
from tests.conftest import kernel_interrupt_at, make_mlp


def weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def test_train_learns_and_records_everything(runs_root, xor_data):
    run = train(make_mlp, xor_data, TrainConfig(epochs=30, batch_size=32, learning_rate=1e-2), verbose=False)
    assert run.status == "finished"
    assert run.step == run.total_steps == 30 * (448 // 32)
    assert [e["step"] for e in run.history] == list(range(1, run.step + 1))
    assert run.validation_history[-1]["metrics"]["val_accuracy"] > 0.85
    first = np.mean([e["metrics"]["loss"] for e in run.history[:14]])
    last = np.mean([e["metrics"]["loss"] for e in run.history[-14:]])
    assert last < first / 2
    # The same story from disk, as another process sees it.
    again = Run.load(run.id)
    assert again.status == "finished" and again.step == run.step
    assert [e["step"] for e in again.history] == [e["step"] for e in run.history]
    assert again.config == run.config and again.model_name == "mlp"
    assert json.loads((run.path / "status.json").read_text())["status"] == "finished"
    assert run.latest_checkpoint().name == f"step-{run.step:09d}"
    assert run.samples_per_second and run.samples_per_second > 0
    assert run.memory["device"] == "CPU" and run.memory["current_bytes"] > 0


def test_per_batch_values_are_recovered_from_running_means(runs_root, xor_data):
    # Keras logs running means; the recorded value must be each batch's own loss.
    class Truth(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.means = []

        def on_train_batch_end(self, batch, logs=None):
            self.means.append(logs["loss"])

    truth = Truth()
    run = train(make_mlp, xor_data, TrainConfig(epochs=1, batch_size=32), callbacks=[truth], verbose=False)
    batch_losses = [e["metrics"]["loss"] for e in run.history]
    running = np.cumsum(batch_losses) / np.arange(1, len(batch_losses) + 1)
    np.testing.assert_allclose(running, truth.means, rtol=1e-5)


@pytest.mark.parametrize("where", ["same process", "loaded from disk"])
def test_interrupt_then_resume_equals_uninterrupted_run(runs_root, xor_data, where):
    config = TrainConfig(steps=60, batch_size=32, validate_every=25, checkpoint_every=10, seed=3)
    builder = lambda: make_mlp(dropout=0.2)  # noqa: E731 - dropout: the RNG state must resume too
    reference = train(builder, xor_data, config, verbose=False)

    stop_at = int(np.random.default_rng(7).integers(5, 55))

    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = train(builder, xor_data, config, callbacks=[kernel_interrupt_at(stop_at)], verbose=False)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert run.status == "interrupted", (run.status, run.message, stop_at, handler)
    assert run.step == stop_at and run.latest_checkpoint().name == f"step-{stop_at:09d}"
    if where == "same process":  # the run remembers its builder and data (run.job)
        resume(run, callbacks=(), verbose=False)  # without the interrupter
    else:  # as another process would: a Run read from disk, given its builder and data
        run = resume(Run.load(run.id), builder, xor_data, verbose=False)
    assert run.status == "finished"
    for got, want in zip(weights(run.model), weights(reference.model), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    steps = [e["step"] for e in Run.load(run.id).history]
    assert steps == list(range(1, 61))  # no gap, no duplicate, same count as the reference
    assert len(steps) == len(reference.history)


def test_stop_request_from_another_thread_stops_with_checkpoint(runs_root, xor_data):
    run = train(make_mlp, xor_data, TrainConfig(steps=100_000, batch_size=32), background=True)
    deadline = threading.Event()
    while run.step < 20 and not deadline.wait(0.05):
        pass
    run.request_stop()
    assert run.wait(timeout=60) == "stopped"
    assert run.latest_checkpoint() is not None
    assert run.latest_checkpoint().name == f"step-{run.step:09d}"
    assert "resume" in run.message
    # and it resumes: the stop file no longer stops it
    run.config = run.config.replace(steps=run.step + 30)
    resume(run, verbose=False)
    assert run.status == "finished" and run.step == run.history[-1]["step"]


def test_nan_loss_marks_run_diverged_and_keeps_last_good_checkpoint(runs_root, xor_data):
    # The NaN enters through the output layer's bias, after which no op can turn it back into a
    # number. (Poisoning an input row is CPU-dependent: oneDNN on AVX-512/AMX fuses matmul + ReLU
    # and maps a NaN row to 0.) The assertions read the step from what the run recorded.
    poison_at = 7

    class PoisonOutputBias(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == poison_at - 1:
                bias = self.model.layers[-1].bias
                bias.assign(np.full(bias.shape, np.nan, bias.dtype))

    config = TrainConfig(epochs=3, batch_size=32, checkpoint_every=2, seed=1)
    run = train(make_mlp, xor_data, config, callbacks=[PoisonOutputBias()], verbose=False)
    assert run.status == "diverged"
    losses = {e["step"]: e["metrics"]["loss"] for e in Run.load(run.id).history}
    first_bad = min(step for step, loss in losses.items() if not np.isfinite(loss))
    assert first_bad >= poison_at and all(np.isfinite(losses[s]) for s in range(1, first_bad))
    last_good = (first_bad - 1) // 2 * 2
    assert "NaN" in run.message and f"step {first_bad};" in run.message
    assert f"step-{last_good:09d}" in run.message and run.latest_checkpoint().name == f"step-{last_good:09d}"
    with np.load(run.latest_checkpoint() / "variables.npz") as saved:
        assert all(np.isfinite(saved[k]).all() for k in saved.files)


def test_exploding_weights_are_never_checkpointed(runs_root, xor_data):
    config = TrainConfig(steps=200, batch_size=32, optimizer="sgd", learning_rate=1e12, checkpoint_every=1)
    run = train(make_mlp, xor_data, config, verbose=False)
    assert run.status == "diverged"
    for kept in run.checkpoints():
        with np.load(kept / "variables.npz") as saved:
            assert all(np.isfinite(saved[k]).all() for k in saved.files)


def test_bad_inputs_fail_before_a_run_is_made(runs_root, xor_data):
    with pytest.raises(ValueError, match="builder"):
        train(make_mlp(), xor_data)
    with pytest.raises(ValueError, match="batch_size=1000"):
        train(make_mlp, xor_data, TrainConfig(batch_size=1000), verbose=False)
    with pytest.raises(ValueError, match="does not have"):
        train(make_mlp, xor_data, TrainConfig(devices=(3,)))
    with pytest.raises(ValueError, match="needs a loss"):
        train(lambda: keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)]), xor_data, verbose=False)


def test_resume_of_a_loaded_run_needs_its_builder_and_data(runs_root, xor_data):
    run = train(make_mlp, xor_data, TrainConfig(steps=5, batch_size=32), verbose=False)
    loaded = Run.load(run.id)
    with pytest.raises(ValueError, match="nothing to resume"):
        resume(loaded)
    rundir.write_json_atomic(run.path / "status.json", {"status": "stopped"})
    with pytest.raises(ValueError, match="builder, data"):
        resume(Run.load(run.id))
