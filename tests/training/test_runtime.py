"""What a config turns into: precision policy, XLA, schedules, accumulation, strategy choice."""

import functools

import keras
import numpy as np
import pytest

from nbmodels import TrainConfig, train
from nbmodels.models import mlp
from nbmodels.training import distribute
from nbmodels.training.optimizer import learning_rate

builder = functools.partial(mlp, (8,), 2, hidden=(16,))


def xor(xor_data):
    from nbmodels.data import Dataset

    return Dataset(task="classification", train=xor_data["train"], validation=xor_data["validation"], num_classes=2)


def test_auto_on_cpu_is_float32_default_strategy_no_xla():
    runtime = distribute.resolve(TrainConfig())
    assert (runtime.precision, runtime.xla, runtime.strategy_name, runtime.replicas) == ("float32", False, "default", 1)
    assert distribute.resolve(TrainConfig(xla="on")).xla is True


def test_mixed_bfloat16_trains_with_float32_logits(runs_root, xor_data):
    run = train(builder, xor(xor_data), TrainConfig(steps=20, batch_size=32, precision="mixed_bfloat16"), verbose=False)
    assert run.status == "finished"
    start = next(e for e in run.events if e["type"] == "start")
    assert start["precision"] == "mixed_bfloat16"
    assert run.model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert run.model.output.dtype == "float32"
    assert np.isfinite(run.metrics["loss"])


def test_warmup_cosine_schedule_and_accumulation(runs_root, xor_data):
    # The schedule's lengths count batches, as the batch counter Keras evaluates it at (also
    # under accumulation): the peak comes after `warmup_steps` batches, the floor at the last.
    config = TrainConfig(steps=56, batch_size=32, lr_schedule="warmup_cosine", warmup_steps=8,
                         learning_rate=1e-2, min_lr_ratio=0.1, grad_accum_steps=2, record_every=2)

    class ReadRate(keras.callbacks.Callback):
        """The rate Keras itself computes for each batch's update."""

        rates = []

        def on_train_batch_begin(self, batch, logs=None):
            self.rates.append(float(self.model.optimizer.learning_rate))

    run = train(builder, xor(xor_data), config, callbacks=[ReadRate()], verbose=False)
    assert run.status == "finished" and run.step == 56
    rates = np.array(ReadRate.rates)  # rates[k]: the rate of batch k + 1
    assert len(rates) == 56 and rates[0] == 0.0
    assert int(np.argmax(rates)) == 8 and rates[8] == pytest.approx(1e-2)
    assert np.all(np.diff(rates[8:]) < 0)  # decays to the last batch: no stretch at the floor
    assert [e["step"] for e in run.history] == list(range(2, 57, 2))  # record_every=2
    assert int(run.model.optimizer.iterations.numpy()) == 28  # 56 batches, an update every 2


def test_cosine_decays_to_the_floor():
    schedule = learning_rate(TrainConfig(lr_schedule="cosine", learning_rate=1.0, min_lr_ratio=0.1), total_steps=100)
    assert float(schedule(0)) == pytest.approx(1.0) and float(schedule(100)) == pytest.approx(0.1)
    assert learning_rate(TrainConfig(learning_rate=0.5), total_steps=10) == 0.5


def test_sequence_data_reports_tokens_per_second(runs_root):
    import keras

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(256, 12)).astype("int32")

    def tiny_lm():
        inputs = keras.Input((12,), dtype="int32")
        hidden = keras.layers.Embedding(20, 8)(inputs)
        return keras.Model(inputs, keras.layers.Dense(20)(hidden))

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    config = TrainConfig(epochs=6, batch_size=16, validate_every=4)
    run = train(tiny_lm, (tokens, np.roll(tokens, -1, axis=1)),
                config, loss=loss, verbose=False)
    progress = [e for e in run.events if e["type"] == "progress"]
    assert progress, "no progress event"
    for event in progress:
        assert event["tokens_per_second"] == pytest.approx(event["samples_per_second"] * 12)
    assert run.tokens_per_second > 0
