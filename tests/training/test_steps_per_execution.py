"""Several steps per compiled call (training/execution.py): the Run still records every step's
own values, stops, checkpoints, validations and resumes land on the same steps, and `auto`
chooses a group size that is safe."""

import types

import keras
import numpy as np
import pytest

from nbmodels import ConfigError, Run, TrainConfig, resume, train
from nbmodels.training import execution
from nbmodels.training.callback import RunCallback
from tests.conftest import kernel_interrupt_at, make_mlp


def weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def start_event(run):
    return next(e for e in run.events if e["type"] == "start")


def losses(run):
    return [e["metrics"]["loss"] for e in Run.load(run.id).history]


@pytest.mark.parametrize("xla", ["off", "on"])
def test_each_steps_own_values_are_recorded_exactly(runs_root, xor_data, xla):
    config = TrainConfig(steps=56, batch_size=32, validate_every=28, checkpoint_every=8, seed=3, xla=xla)
    builder = lambda: make_mlp(dropout=0.2)  # noqa: E731 - dropout: the RNG must advance per step alike

    class EpochLogs(keras.callbacks.Callback):  # no batch hooks: auto may group steps
        def __init__(self):
            super().__init__()
            self.logs = []

        def on_epoch_end(self, epoch, logs=None):
            self.logs.append(dict(logs))

    one = train(builder, xor_data, config.replace(steps_per_execution=1), verbose=False)
    seen = EpochLogs()
    four = train(builder, xor_data, config.replace(steps_per_execution=4), callbacks=[seen], verbose=False)
    assert start_event(one)["steps_per_execution"] == 1 and start_event(four)["steps_per_execution"] == 4
    assert [e["step"] for e in Run.load(four.id).history] == list(range(1, 57))
    times = [e["time"] for e in four.history]  # spread over each call, so views get a rate per step
    assert all(later > earlier for earlier, later in zip(times, times[1:]))
    np.testing.assert_allclose(losses(four), losses(one), rtol=1e-5)
    accuracy = [e["metrics"]["accuracy"] for e in four.history]
    assert all(a * 32 == pytest.approx(round(a * 32), abs=1e-4) for a in accuracy)  # one batch's own: k/32
    # Keras's own logs are untouched: an epoch's training loss is the mean of its steps.
    np.testing.assert_allclose([logs["loss"] for logs in seen.logs],
                               [np.mean(losses(four)[:28]), np.mean(losses(four)[28:])], rtol=1e-4)
    assert [e["step"] for e in four.validation_history] == [28, 56]
    for got, want in zip(weights(four.model), weights(one.model), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_auto_groups_steps_of_a_small_model_on_the_intervals(runs_root, xor_data):
    run = train(make_mlp, xor_data, TrainConfig(steps=56, batch_size=32, validate_every=28, checkpoint_every=8),
                verbose=False)
    assert start_event(run)["steps_per_execution"] == 4  # the largest divisor of 28 and 8 (<= 32)
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir())[-1] == "step-000000056"
    assert [e["step"] for e in run.history] == list(range(1, 57))


def test_interrupt_lands_on_a_call_boundary_and_resumes_exactly(runs_root, xor_data):
    config = TrainConfig(steps=48, batch_size=32, validate_every=24, checkpoint_every=12, seed=5,
                         steps_per_execution=4)
    builder = lambda: make_mlp(dropout=0.2)  # noqa: E731
    reference = train(builder, xor_data, config, verbose=False)
    import signal

    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = train(builder, xor_data, config, callbacks=[kernel_interrupt_at(20)], verbose=False)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert run.status == "interrupted" and run.step == 20
    assert run.latest_checkpoint().name == "step-000000020"
    resume(run, callbacks=(), verbose=False)
    assert run.status == "finished"
    assert [e["step"] for e in Run.load(run.id).history] == list(range(1, 49))
    np.testing.assert_allclose(losses(run), losses(reference), rtol=1e-5)
    for got, want in zip(weights(run.model), weights(reference.model), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_interrupt_between_a_call_and_its_callback_keeps_the_calls_steps(runs_root, xor_data, monkeypatch):
    # The steps ran (weights updated) but the callback did not: their values come from the buffer.
    original = RunCallback.on_train_batch_end
    calls = []

    def interrupted_on_third_call(self, batch, logs=None):
        calls.append(batch)
        if len(calls) == 3:
            raise KeyboardInterrupt
        original(self, batch, logs)

    monkeypatch.setattr(RunCallback, "on_train_batch_end", interrupted_on_third_call)
    config = TrainConfig(steps=40, batch_size=32, validate_every=20, steps_per_execution=4, seed=1)
    run = train(make_mlp, xor_data, config, verbose=False)
    assert run.status == "interrupted" and run.step == 12
    history = Run.load(run.id).history
    assert [e["step"] for e in history] == list(range(1, 13))
    assert all(np.isfinite(e["metrics"]["loss"]) for e in history)
    assert run.latest_checkpoint().name == "step-000000012"
    monkeypatch.setattr(RunCallback, "on_train_batch_end", original)
    resume(run, verbose=False)
    assert run.status == "finished" and [e["step"] for e in Run.load(run.id).history] == list(range(1, 41))


def test_stop_request_stops_on_a_call_boundary(runs_root, xor_data):
    run = train(make_mlp, xor_data, TrainConfig(steps=100_000, batch_size=32, steps_per_execution=7),
                background=True, verbose=False)
    import time

    deadline = time.monotonic() + 60
    while run.step < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.request_stop()
    assert run.wait(timeout=60) == "stopped"
    assert run.step % 7 == 0 and run.latest_checkpoint().name == f"step-{run.step:09d}"
    assert [e["step"] for e in Run.load(run.id).history] == list(range(1, run.step + 1))


def test_divergence_inside_a_call_records_steps_up_to_the_first_bad_one(runs_root, xor_data):
    class PoisonOutputBias(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 4:
                bias = self.model.layers[-1].bias
                bias.assign(np.full(bias.shape, np.nan, bias.dtype))

    config = TrainConfig(steps=40, batch_size=32, validate_every=20, checkpoint_every=4, steps_per_execution=4,
                         seed=1)
    run = train(make_mlp, xor_data, config, callbacks=[PoisonOutputBias()], verbose=False)
    assert run.status == "diverged"
    recorded = {e["step"]: e["metrics"]["loss"] for e in Run.load(run.id).history}
    first_bad = min(step for step, loss in recorded.items() if not np.isfinite(loss))
    assert max(recorded) == first_bad and sorted(recorded) == list(range(1, first_bad + 1))
    assert first_bad >= 5 and run.latest_checkpoint().name == "step-000000004"


class CountingModel(keras.Sequential):
    """A custom train step that also counts its samples in a Sum and logs a value no metric holds."""

    def __init__(self, layers):
        super().__init__(layers)
        self.seen = keras.metrics.Sum(name="seen")

    def train_step(self, data):
        logs = super().train_step(data)
        self.seen.update_state(keras.ops.cast(keras.ops.shape(data[0])[0], "float32"))
        return {**logs, "seen": self.seen.result(), "twice_loss": 2 * logs["loss"]}


class DoubledAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Not a plain running mean (its result is not total / count): evaluated in the step."""

    def result(self):
        return 2 * super().result()


@pytest.mark.parametrize("metrics", [["accuracy"], ["accuracy", DoubledAccuracy(name="doubled")]])
def test_step_values_are_each_batchs_own_across_epochs(xor_data, metrics):
    # Weights that never change (learning rate 0): each step's values are its batch's evaluation,
    # and the second epoch repeats the first, so its first steps show the sums restart at zero.
    keras.utils.set_random_seed(0)
    model = CountingModel([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), metrics=metrics, steps_per_execution=4,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step_values = execution.StepValues(4)
    step_values.install(model)

    class Take(keras.callbacks.Callback):
        steps = []

        def on_epoch_begin(self, epoch, logs=None):
            step_values.epoch_begins()

        def on_train_batch_end(self, batch, logs=None):
            self.steps.extend(step_values.take())

    x, y = (array[:32 * 12] for array in xor_data["train"])
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, callbacks=[Take()], verbose=0)
    assert len(Take.steps) == 24 and step_values.take() == []
    batches = [model.evaluate(x[32 * i:32 * (i + 1)], y[32 * i:32 * (i + 1)], return_dict=True, verbose=0)
               for i in range(12)]
    for i, values in enumerate(Take.steps):
        want = batches[i % 12]
        assert set(values) == {"loss", "seen", "twice_loss", *(m if isinstance(m, str) else m.name for m in metrics)}
        assert values["seen"] == 32
        for key in ("loss", *want.keys() - {"loss", "seen"}):
            assert values[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), (i, key)
        # A log no metric holds is the step's as the train step returned it: here twice Keras's
        # running mean of the epoch's losses.
        so_far = [batch["loss"] for batch in batches[: i % 12 + 1]]
        assert values["twice_loss"] == pytest.approx(2 * np.mean(so_far), rel=1e-5)


# ---- the choice ------------------------------------------------------------------------

def runtime(strategy="default", devices=("/cpu:0",)):
    return types.SimpleNamespace(strategy_name=strategy, devices=devices, accelerated=False)


def choose(config, model=None, intervals=(28, 8), tokens=None, callbacks=(), **kwargs):
    intervals = {f"interval {i}": steps for i, steps in enumerate(intervals)}
    return execution.steps_per_execution(config, model or make_mlp(), intervals=intervals,
                                         tokens_per_sample=tokens, runtime=runtime(**kwargs), callbacks=callbacks)


def test_auto_choice():
    config = TrainConfig(batch_size=32)
    assert choose(config) == 4  # quick steps: as many as the intervals allow
    assert choose(config, intervals=(250,)) == 25  # nanoGPT's eval interval: 25 steps a call (<= 32)
    assert choose(config, intervals=(64,)) == 32  # never more than MAX_STEPS
    assert choose(config, intervals=(29,)) == 29  # a prime interval: the whole round in one call
    assert choose(config, intervals=(31, 29)) == 1
    # A step estimated at about a second on 2 cores: one step a call, so Stop stays responsive.
    big = keras.Sequential([keras.Input((2048,)), keras.layers.Dense(4096), keras.layers.Dense(2048)])
    assert choose(TrainConfig(batch_size=512), model=big, intervals=(64,)) == 1
    # A dense weight meets every position of its input: a sequence's tokens multiply its cost.
    per_vector = keras.Sequential([keras.Input((256,)), keras.layers.Dense(256)])
    per_sequence = keras.Sequential([keras.Input((4096, 256)), keras.layers.Dense(256)])
    assert execution.estimated_step_flops(per_sequence, 8, None) == 4096 * execution.estimated_step_flops(
        per_vector, 8, None)
    assert choose(config, model=per_sequence, intervals=(64,)) < choose(config, model=per_vector, intervals=(64,))
    # Several replicas keep metrics per replica; a batch hook would run once per call.
    assert choose(config, strategy="mirrored", devices=("/cpu:0", "/cpu:1")) == 1

    class Hook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    assert choose(config, callbacks=[Hook()]) == 1
    assert choose(config, callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, l: None)]) == 1
    assert choose(config, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, l: None)]) == 4
    assert choose(config, callbacks=[keras.callbacks.Callback()]) == 4


def test_convolutions_count_per_output_position():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3), keras.layers.Flatten(),
                             keras.layers.Dense(10)])
    kernel = 3 * 3 * 32 + 32
    dense = 26 * 26 * 32 * 10 + 10
    assert execution.estimated_step_flops(model, 8, None) == 6 * kernel * 26 * 26 * 8 + 6 * dense * 8

    class Unbuilt(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3)
            self.conv.build((None, None, None, 1))  # spatial size unknown

        def call(self, x):
            return self.conv(x)

    assert execution.estimated_step_flops(Unbuilt(), 8, None) is None
    assert choose(TrainConfig(), model=Unbuilt()) == 1


def test_a_given_number_must_fit_the_intervals_and_one_replica():
    with pytest.raises(ConfigError, match="steps_per_execution=3 must divide validate_every=10") as error:
        TrainConfig(steps_per_execution=3, validate_every=10)
    assert error.value.field == "steps_per_execution"
    with pytest.raises(ConfigError, match="checkpoint_every=10"):
        TrainConfig(steps_per_execution=4, checkpoint_every=10)
    with pytest.raises(ConfigError, match=r"steps_per_execution=4 .* interval 0 \(14 steps\), .* e\.g\. 2"):
        choose(TrainConfig(steps_per_execution=4), intervals=(14,))
    with pytest.raises(ConfigError, match="several devices"):
        choose(TrainConfig(steps_per_execution=4), strategy="mirrored", devices=("/cpu:0", "/cpu:1"))
    assert choose(TrainConfig(steps_per_execution=7), intervals=(14,)) == 7


def test_an_epoch_that_the_given_number_does_not_divide_fails_before_a_step(runs_root, xor_data):
    with pytest.raises(ConfigError, match="steps_per_execution"):
        train(make_mlp, xor_data, TrainConfig(epochs=1, batch_size=32, steps_per_execution=4), verbose=False)


# ---- XLA -------------------------------------------------------------------------------

def test_auto_xla_on_a_cpu_is_for_long_transformer_runs():
    from nbmodels.models.text import GPT, GPTConfig

    gpt = GPT(GPTConfig(vocabulary_size=65, sequence_length=64, num_layers=4, num_heads=4, hidden_dim=128))
    gpt(np.zeros((1, 64), "int32"))
    mlp = make_mlp()

    def xla(config, model, steps, accelerated=False, tokens=64):
        return execution.use_xla(config, model, accelerated=accelerated, total_steps=steps, tokens_per_sample=tokens)

    auto = TrainConfig(batch_size=12)
    assert xla(auto, gpt, 2000) is True  # the baby GPT of bench/shakespeare.py: a minute of compute
    assert xla(auto, gpt, 50) is False  # a few seconds of compute: compiling would not pay back
    assert xla(auto, gpt, 400, tokens=64 * 16) is True  # longer sequences: more compute a step
    assert xla(auto, mlp, 100_000, tokens=None) is False  # not a model XLA pays for on a CPU
    assert xla(auto, mlp, 10, accelerated=True, tokens=None) is True  # GPUs and TPUs: always
    assert xla(TrainConfig(xla="on"), mlp, 10, tokens=None) is True
    assert xla(TrainConfig(xla="off"), gpt, 10**6, accelerated=True) is False


def test_augmentation_that_xla_cannot_compile_turns_auto_off_and_on_into_an_error():
    images = np.random.default_rng(0).uniform(size=(1, 16, 16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    rotate = keras.Sequential([keras.layers.RandomRotation(0.1)])
    flip = keras.Sequential([keras.layers.RandomFlip("horizontal")])

    def xla(config, augment, accelerated=True):
        return execution.use_xla(config, model, accelerated=accelerated, total_steps=100, tokens_per_sample=None,
                                 augment=augment, example_features=images)

    assert xla(TrainConfig(), rotate) is False
    assert xla(TrainConfig(), flip) is True
    with pytest.raises(ConfigError, match="ImageProjectiveTransformV3 has no XLA kernel.*xla='auto'") as error:
        xla(TrainConfig(xla="on"), rotate)
    assert error.value.field == "xla"


def test_a_runs_start_event_says_what_xla_and_grouping_it_chose(runs_root):
    from nbmodels import recipes

    gpt = recipes.get_recipe("char_gpt")
    data = gpt.data("python_docs", "tiny")  # noqa: F841 - as a notebook loads it
    config = gpt.config.replace(epochs=None, steps=64, validate_every=32, checkpoint_every=64, warmup_steps=8)
    run = gpt.train("tiny", data=data, config=config,
                    verbose=False)
    start = start_event(run)
    assert start["xla"] is False and start["steps_per_execution"] == 32  # short and quick: no compile, grouped


def test_a_tied_output_head_counts_per_position():
    from nbmodels.models.text import GPT, GPTConfig

    sizes = dict(vocabulary_size=5000, sequence_length=64, num_layers=1, num_heads=2, hidden_dim=32)
    tied, untied = GPT(GPTConfig(**sizes)), GPT(GPTConfig(**sizes, tie_weights=False))
    # The untied head is a Dense over every position; tied, the embedding does the same work.
    assert execution.estimated_step_flops(tied, 4, 64) == execution.estimated_step_flops(untied, 4, 64)


def test_only_tensorflows_retracing_warning_about_keras_train_function_is_dropped(runs_root, xor_data, caplog):
    import logging

    train(make_mlp, xor_data, TrainConfig(steps=14, batch_size=32), verbose=False)  # installs the filter
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning("5 out of the last 13 calls to <function TensorFlowTrainer._make_function.<locals>."
                       "multi_step_on_iterator at 0x1> triggered tf.function retracing. Tracing is expensive")
        logger.warning("5 out of the last 5 calls to <function my_step at 0x2> triggered tf.function retracing.")
        logger.warning("something else")
    assert [r.getMessage()[:30] for r in caplog.records] == ["5 out of the last 5 calls to <", "something else"]
