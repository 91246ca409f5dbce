"""How training steps execute: with XLA or not, and several per compiled call.

`use_xla` decides what `TrainConfig(xla="auto")` means for a model on this device: on for GPUs
and TPUs; on a CPU, on for the transformer families when the run is long enough to pay back
XLA's compile (bench/results/xla_auto-cpu.txt: XLA halves a transformer's CPU step but costs
4-12 s before step 1; it slows convolutions, the two-tower model and transfer backbones), and
off wherever XLA cannot compile the augmentation layers.

Keras runs `steps_per_execution` steps in one call of its compiled train function: one
dispatch instead of N (about 4 ms a step saved for the baby GPT on a CPU, where a step is
28 ms). But it calls callbacks once per call, and its logs are running means over the epoch.
`StepValues` wraps the model's train step so that each step also writes its own metric values
(the metrics evaluated on what this step alone added to their state) to a small buffer on the
device; the `RunCallback` reads a call's rows after it returns, so the Run still records every
step exactly, and Keras's own logs are left as they were.

`steps_per_execution` decides how many steps a call takes: as many as keep a call under
`GROUP_SECONDS` by an estimate of the step's cost, so that Stop, the live charts and Ctrl-C
stay responsive; one where a group would not be safe (several replicas, a callback with
per-batch hooks).

Example:
>>> from nbmodels.training.execution import estimated_step_flops
>>> import keras
>>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
>>> estimated_step_flops(model, batch_size=32, tokens_per_sample=None)  # 6 x 650 weights x 32 samples
124800
"""

from __future__ import annotations

import math
import os

import keras

from nbmodels.checks import fail

# XLA on a CPU pays back its compile (~4-12 s) after ~60-2,700 steps (bench/results/xla_auto-cpu.txt):
# after few steps of a big model or many of a small one, whose steps are mostly per-op overhead.
XLA_PAYS_AFTER_SECONDS = 10.0  # of estimated compute
XLA_PAYS_AFTER_STEPS = 1000
MAX_STEPS = 32  # beyond this the saving is under a tenth of a millisecond a step
GROUP_SECONDS = 0.3  # a compiled call at most this long (estimated): Stop and the charts stay live
# Conservative sustained training throughput, FLOP/s: low estimates make groups smaller, never
# unresponsive. Measured here: the baby GPT trains at ~130 GFLOP/s on 2 CPU cores with XLA.
_CPU_FLOPS_PER_CORE = 50e9
_ACCELERATOR_FLOPS = 20e12
_CONV_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D,
                keras.layers.SeparableConv2D, keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                keras.layers.Conv3DTranspose)


class KerasRetracingNotice:
    """A logging filter for TensorFlow's "triggered tf.function retracing" warning about Keras's
    own multi-step train function: Keras makes a new one for every run and fine-tuning phase and
    traces it again on its second call under steps_per_execution > 1 (its while loop's output
    spec is set by the first), so in a notebook that trains a few models the warning fires for
    traces that are by design. Every other message passes."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and "multi_step_on_iterator" in message)


def quiet_keras_retracing() -> None:
    """Install `KerasRetracingNotice` on TensorFlow's logger, once."""
    import logging

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, KerasRetracingNotice) for f in logger.filters):
        logger.addFilter(KerasRetracingNotice())


def use_xla(config, model, *, accelerated: bool, total_steps: int, tokens_per_sample: int | None,
            augment=None, example_features=None) -> bool:
    """Whether the train step compiles with XLA, for `config.xla` on this device.

    "off": never. "on": always, unless the augmentation cannot compile (a ConfigError naming the
    operation, before step 1). "auto": on for GPUs and TPUs; on a CPU, for models that say XLA
    pays there (`xla_pays_on_cpu`: the transformers) and runs of at least XLA_PAYS_AFTER_STEPS
    steps or XLA_PAYS_AFTER_SECONDS of estimated compute; never with augmentation XLA cannot
    compile.
    """
    if config.xla == "off":
        return False
    if config.xla == "auto" and not accelerated:
        if not getattr(model, "xla_pays_on_cpu", False):
            return False
        flops = estimated_step_flops(model, config.batch_size, tokens_per_sample)
        seconds = (flops or 0) * total_steps / (_CPU_FLOPS_PER_CORE * _cpu_count())
        if total_steps < XLA_PAYS_AFTER_STEPS and seconds < XLA_PAYS_AFTER_SECONDS:
            return False
    if augment is not None:
        from nbmodels.training import augment as augmentation

        why = augmentation.xla_cannot_compile(augment, example_features)
        if why is not None:
            if config.xla == "on":
                fail(config, "xla", "on", (
                    f"the augmentation uses an operation XLA cannot compile ({why}); use xla='auto' (which "
                    "leaves XLA off for it) or 'off', or train without those layers (augmentation='none')"
                ))
            return False
    return True


def records_every_step(runtime) -> bool:
    """Whether `StepValues` can record each step: one replica (several would each keep a buffer)."""
    return runtime.strategy_name in ("default", "one_device")


def steps_per_execution(config, model, *, intervals: dict[str, int], tokens_per_sample: int | None, runtime,
                        callbacks=()) -> int:
    """How many steps each compiled call runs.

    `intervals`: step counts, by what they are, that calls must not straddle (the validation
    round, the checkpoint interval): a group always ends on their multiples, so validations and
    checkpoints land on the same steps as with one step a call.
    """
    one_replica = records_every_step(runtime)
    chosen = config.steps_per_execution
    if chosen is not None:
        if chosen > 1 and not one_replica:
            fail(config, "steps_per_execution", chosen, (
                f"the Run records every step's values from a buffer that a {runtime.strategy_name!r} strategy "
                "would keep per replica; leave it blank (auto) or 1 when training on several devices"
            ))
        straddled = {name: steps for name, steps in intervals.items() if steps % chosen}
        if straddled:
            fail(config, "steps_per_execution", chosen, (
                "it must divide " + " and ".join(f"{name} ({steps} steps)" for name, steps in straddled.items())
                + f", so that a call never runs past them; e.g. {_largest_divisor(intervals.values(), chosen)}, "
                "or leave it blank (auto)"
            ))
        return chosen
    if not one_replica or any(_has_batch_hooks(callback) for callback in callbacks):
        return 1  # a callback's per-batch hooks would run once per call, not once per step
    flops = estimated_step_flops(model, config.batch_size, tokens_per_sample)
    if flops is None:
        return 1
    rate = _ACCELERATOR_FLOPS if runtime.accelerated else _CPU_FLOPS_PER_CORE * _cpu_count()
    fits = max(1, int(GROUP_SECONDS * rate / max(flops, 1)))
    return _largest_divisor(intervals.values(), min(MAX_STEPS, fits))


def estimated_step_flops(model, batch_size: int, tokens_per_sample: int | None) -> int | None:
    """A training step's floating-point operations, roughly: 6 per weight per position it meets
    (forward 2, backward 4). A dense weight meets every position of its input (every token of a
    sequence, every patch of a ViT), a convolution kernel every output position, an embedding
    row only its lookups. None when a convolution's output size is unknown (not built yet)."""
    flops = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        own = sum(math.prod(v.shape) for v in layer._trainable_variables)
        if not own:
            continue
        input_shape = _input_shape(layer)
        if isinstance(layer, _CONV_LAYERS):
            positions = _conv_output_positions(layer, input_shape)
            if positions is None:
                return None
        elif isinstance(layer, keras.layers.Embedding):
            own = layer.output_dim  # a lookup reads (and updates) one row
            positions = math.prod(input_shape[1:]) if _known(input_shape) else tokens_per_sample or 1
        else:
            positions = math.prod(input_shape[1:-1]) if _known(input_shape) else tokens_per_sample or 1
        flops += 6 * own * positions * batch_size
    # A model whose output multiplies by its token embedding (GPT's tied head) says how many weights.
    tied = getattr(model, "tied_output_weights", 0)
    return flops + 6 * tied * (tokens_per_sample or 1) * batch_size


def _input_shape(layer):
    """The shape a layer was built for (Keras records it), else None."""
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    shape = next(iter(shapes.values()), None) if len(shapes) == 1 else shapes.get("input_shape")
    return tuple(shape) if isinstance(shape, (tuple, list)) and all(isinstance(d, (int, type(None))) for d in shape) \
        else None


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape[1:])


def _conv_output_positions(layer, input_shape) -> int | None:
    if input_shape is None:
        return None
    shape = layer.compute_output_shape(input_shape)
    spatial = shape[1:-1] if layer.data_format == "channels_last" else shape[2:]
    return None if any(d is None for d in spatial) else math.prod(spatial)


def _largest_divisor(intervals, most: int) -> int:
    """The largest number <= `most` that divides every interval (1 divides all)."""
    common = math.gcd(*intervals)
    return max(n for n in range(1, max(1, most) + 1) if common % n == 0)


def _has_batch_hooks(callback) -> bool:
    """Whether `callback` does something per batch (a method overridden, or a LambdaCallback's)."""
    base = keras.callbacks.Callback
    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    return any(getattr(getattr(callback, hook), "__func__", None) is not getattr(base, hook) for hook in hooks)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class StepValues:
    """Every training step's own metric values, kept on the device for the `RunCallback`.

    `install(model)` wraps `model.train_step`. Inside the compiled step, after Keras's own
    step has updated the metrics, the wrapper evaluates each metric on what this step added to
    its variables (after - before; Keras's `stateless_result`, no assignments): the step's own
    value for every metric whose state adds up over batches (sums and counts: every Keras
    metric that averages or counts). Rows are written round-robin to a
    (rows, WIDTH + 1) buffer, the last column numbering the step, so that `take()` finds the
    rows written since its last call in one read of one variable.
    """

    WIDTH = 64  # the most scalar logs a step can record
    _NUMBERS = 2**24  # steps are numbered modulo this in the float32 column (exact below it)

    def __init__(self, rows: int):
        import tensorflow as tf

        self.rows = rows
        self.keys: tuple[str, ...] = ()  # the columns, set when the step is traced
        self._buffer = tf.Variable(tf.zeros((rows, self.WIDTH + 1), tf.float32), trainable=False,
                                   name="nbmodels_step_values")
        self._written = tf.Variable(0, dtype=tf.int64, trainable=False, name="nbmodels_steps_written")
        self._taken = 0

    def install(self, model) -> None:
        import tensorflow as tf

        train_step = model.train_step

        def recording_train_step(data):
            metrics = model.metrics
            before = [[tf.identity(v.value) for v in metric.variables] for metric in metrics]
            logs = train_step(data)
            own = {}
            for metric, old in zip(metrics, before):  # as Keras's get_metrics_result, on this step's state
                if not getattr(metric, "built", True):  # compile metrics a custom train_step never updated
                    continue
                if len(old) != len(metric.variables):  # built inside this step (the first trace): all its own
                    result = metric.result()
                else:
                    added = [v.value - value for v, value in zip(metric.variables, old)]
                    result = metric.stateless_result(added)  # no assignments: a result of the given values
                own.update(result if isinstance(result, dict) else {metric.name: result})
            own = {k: v for k, v in own.items() if _is_scalar(v)}
            # A custom train_step may log values no metric holds: those are the step's as returned.
            own.update({k: v for k, v in logs.items() if k not in own and _is_scalar(v)})
            keys = tuple(own)[: self.WIDTH]
            self.keys = keys
            row = tf.stack([tf.cast(own[k], tf.float32) for k in keys]) if keys else tf.zeros((0,), tf.float32)
            number = tf.cast((self._written + 1) % self._NUMBERS, tf.float32)
            row = tf.concat([tf.pad(row, [[0, self.WIDTH - len(keys)]]), number[None]], 0)
            self._buffer.scatter_nd_update([[self._written % self.rows]], [row])
            self._written.assign_add(1)
            return logs

        model.train_step = recording_train_step

    def take(self) -> list[dict[str, float]]:
        """The values of each step run since the last call, in order (at most `rows`): the rows
        numbered taken + 1, taken + 2, ... (one read of the buffer, not of a counter too)."""
        buffer = self._buffer.numpy()
        keys, steps = self.keys, []
        for number in range(self._taken + 1, self._taken + self.rows + 1):
            row = buffer[(number - 1) % self.rows]
            if row[-1] != number % self._NUMBERS:
                break
            steps.append(dict(zip(keys, row[: len(keys)].tolist())))
        self._taken += len(steps)
        return steps


def _is_scalar(value) -> bool:
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) == 0
