"""How training steps execute: with XLA or not, and several per compiled call.

`use_xla` decides what `TrainConfig(xla="auto")` means for a model on this device: on for GPUs
and TPUs; on a CPU, on for the transformer families when the run is long enough to pay back
XLA's compile (bench/results/xla_auto-cpu.txt: XLA halves a transformer's CPU step but costs
4-12 s before step 1; it slows convolutions, the two-tower model and transfer backbones), and
off wherever XLA cannot compile the augmentation layers.

Keras runs `steps_per_execution` steps in one call of its compiled train function: one
dispatch instead of N (about 4 ms a step saved for the baby GPT on a CPU, where a step is
28 ms). But it calls callbacks once per call, and its logs are running means over the epoch.
`StepValues` wraps the model's train step so that each step also writes a row to a small buffer
on the device (its metrics' running sums, or values computed in the step); the `RunCallback`
reads a call's rows after it returns and recovers each step's own values from them, so the Run
still records every step exactly, and Keras's own logs are left as they were.

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
import numpy as np

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

    `install(model)` wraps `model.train_step`. After Keras's own step has updated the metrics,
    the wrapper writes one row to a (rows, 1 + WIDTH) buffer, round-robin: the step's number,
    then its columns (so that `take()` finds the rows written since its last call in one read
    of one variable). Most metrics are running sums: Keras's Mean family (the loss, accuracy,
    every MeanMetricWrapper) is total / count, Sum is total. For those the row holds the raw
    variables (reads, no arithmetic: every op in the step costs about half a microsecond on a
    CPU) and `take()` finishes on the host: the step's own value is (total - previous total) /
    (count - previous count), the sums before an epoch's first step being zero (`epoch_begins`:
    Keras resets its metrics then). Any other metric is evaluated in the step on what this step
    alone added to its variables (after - before, Keras's `stateless_result`; exact for every
    metric whose state adds up over batches) and written as a value, as are the scalar logs of
    a custom train_step that no metric holds.
    """

    WIDTH = 128  # the most columns a step can write (a running mean takes two)
    _EXACT = 2**24  # the float32 number column holds step numbers exactly below this

    def __init__(self, rows: int):
        import tensorflow as tf

        self.rows = rows
        self.keys: tuple[str, ...] = ()  # the logs a row holds, set when the step is traced
        # How `take()` turns rows into values (set with keys): value i is column numerators[i]
        # of its table over column denominators[i].
        self._numerators = self._denominators = np.zeros(0, np.int64)
        self._columns = 0
        self._table = np.zeros((rows + 1, 1))
        self._buffer = tf.Variable(tf.zeros((rows, 1 + self.WIDTH), tf.float32), trainable=False,
                                   name="nbmodels_step_values")
        self._written = tf.Variable(0, dtype=tf.int64, trainable=False, name="nbmodels_steps_written")
        self._taken = 0

    def install(self, model) -> None:
        import tensorflow as tf

        train_step = model.train_step

        def recording_train_step(data):
            metrics = model.metrics
            before = [None if _running_sums(m) is not None else [tf.identity(v.value) for v in m.variables]
                      for m in metrics]
            logs = train_step(data)
            columns, keys, numerators, denominators = [], [], [], []  # (what, column) pairs

            def column(value) -> int:
                columns.append(tf.cast(value, tf.float32))
                return len(columns) - 1

            own = {}  # computed in the step: key -> value
            for metric, old in zip(metrics, before):  # as Keras's get_metrics_result, on this step's state
                if not getattr(metric, "built", True):  # compile metrics a custom train_step never updated
                    continue
                summed = _running_sums(metric)
                if summed is not None:
                    for key, variables in summed.items():
                        if key not in keys and len(columns) + len(variables) <= self.WIDTH:
                            keys.append(key)
                            at = [("difference", column(v.value)) for v in variables]
                            numerators.append(at[0])
                            denominators.append(at[1] if len(at) == 2 else ("one", 0))
                    continue
                if old is None or len(old) != len(metric.variables):  # built inside this step: all its own
                    result = metric.result()
                else:
                    added = [v.value - value for v, value in zip(metric.variables, old)]
                    result = metric.stateless_result(added)  # no assignments: a result of the given values
                own.update(result if isinstance(result, dict) else {metric.name: result})
            # A custom train_step may log values no metric holds: those are the step's as returned.
            own.update({k: v for k, v in logs.items() if k not in own})
            for key, value in own.items():
                if key not in keys and _is_scalar(value) and len(columns) < self.WIDTH:
                    keys.append(key)
                    numerators.append(("value", column(value)))
                    denominators.append(("one", 0))
            # One row, in few ops: the step's number, the columns, zeros up to the width.
            number = self._written.assign_add(1)
            row = tf.concat([tf.stack([tf.cast(number, tf.float32)] + columns),
                             tf.zeros((self.WIDTH - len(columns),), tf.float32)], 0)
            tf.raw_ops.ResourceScatterUpdate(resource=self._buffer.handle, indices=number % self.rows, updates=row)
            n = len(columns)
            table = {"value": 0, "difference": n, "one": 2 * n}  # where each kind starts in take()'s table
            self.keys, self._columns = tuple(keys), n
            if self._table.shape[1] != 2 * n + 1:  # a new layout (Keras traces a step more than once)
                self._table = np.zeros((self.rows + 1, 2 * n + 1))
                self._table[:, -1] = 1
            self._numerators, self._denominators = (np.array([table[what] + i for what, i in places], np.int64)
                                                    for places in (numerators, denominators))
            return logs

        model.train_step = recording_train_step

    def epoch_begins(self) -> None:
        """Keras has reset its metrics (it does before every epoch): the sums before the next
        step are zero. Call it before the epoch's first step."""
        self._table[0] = 0

    def take(self) -> list[dict[str, float]]:
        """The values of each step run since the last call, in order (at most `rows`): the rows
        numbered taken + 1, taken + 2, ... (one read of the buffer, not of a counter too).

        Few numpy operations, whatever the number of steps: right after a compiled call each
        costs several microseconds on a busy CPU."""
        buffer = self._buffer.value().numpy()  # value(): without read_value()'s extra copy op
        first, rows = self._taken + 1, self.rows
        # A call writes its steps' rows in order, so when the last one a call could have run is
        # there, so are the others (the fast path); else count them.
        count = rows
        if buffer[(first + rows - 1) % rows, 0] != _float32(first + rows - 1):
            count = 0
            while count < rows and buffer[(first + count) % rows, 0] == _float32(first + count):
                count += 1
            if not count:
                return []
        self._taken += count
        # The table: row 0 the last row taken (zero sums at an epoch's start), then the new
        # rows; for each, [its columns, their differences from the row above, 1].
        table, n = self._table, self._columns
        table[1 : count + 1, :n] = buffer[np.arange(first, first + count) % rows, 1 : n + 1]
        np.subtract(table[1 : count + 1, :n], table[:count, :n], out=table[1 : count + 1, n : 2 * n])
        over = table[1 : count + 1, self._denominators]
        # A step that added no samples (all weights zero) gets 0, as Keras's divide_no_nan.
        values = np.divide(table[1 : count + 1, self._numerators], over, out=np.zeros(over.shape), where=over != 0)
        table[0] = table[count]
        keys = self.keys
        return [dict(zip(keys, step)) for step in values.tolist()]


def _float32(number: int) -> float:
    """A step number as the buffer's float32 column holds it."""
    return number if number < StepValues._EXACT else float(np.float32(number))


def _running_sums(metric) -> dict | None:
    """The metric's logs as running sums the host can finish, {key: (total, count)} for a mean
    (total / count) or {key: (total,)} for a sum; None for any other metric (or one not built).

    A leaf is Keras's Mean or Sum (or a subclass that keeps their result): float32 variables, reset
    to zero. A container (Keras's CompileMetrics: every metric given to compile) qualifies when
    each of its metrics does; which log is which metric comes from its result on markers (metric
    i's total i + 1, its count 1), computed once, eagerly, when the step is traced.
    """
    leaf = _leaf_sums(metric)
    if leaf is not None:
        return {metric.name: leaf}
    parts = getattr(metric, "metrics", None)
    if not getattr(metric, "built", True) or not isinstance(parts, list) or not parts:
        return None
    leaves = [_leaf_sums(part) for part in parts]
    if any(leaf is None for leaf in leaves):
        return None
    markers = {}
    for i, leaf in enumerate(leaves):
        markers[id(leaf[0])] = i + 1.0
        markers.update({id(count): 1.0 for count in leaf[1:]})
    variables = metric.variables
    if len(variables) != len(markers) or any(id(v) not in markers for v in variables):
        return None
    import tensorflow as tf

    with tf.init_scope():  # eagerly: no ops in the step
        result = metric.stateless_result([tf.constant(markers[id(v)], tf.float32) for v in variables])
    if not isinstance(result, dict):
        return None
    which = {key: round(float(value)) - 1 for key, value in result.items()}
    if sorted(which.values()) != list(range(len(leaves))):
        return None
    return {key: leaves[i] for key, i in which.items()}


def _leaf_sums(metric) -> tuple | None:
    kind = type(metric)
    mean, total = keras.metrics.Mean, keras.metrics.Sum
    if kind.stateless_result is not keras.metrics.Metric.stateless_result:
        return None
    if isinstance(metric, mean) and kind.result is mean.result:
        variables = (metric.total, metric.count)
    elif isinstance(metric, total) and kind.result is total.result:
        variables = (metric.total,)
    else:
        return None
    own = metric.variables
    if len(own) != len(variables) or any(a is not b for a, b in zip(own, variables)) \
            or any(v.dtype != "float32" for v in variables):
        return None
    return variables


def _is_scalar(value) -> bool:
    shape = getattr(value, "shape", None)
    return shape is not None and len(shape) == 0
