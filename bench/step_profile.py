"""Where a training step's time goes: nanoGPT's baby GPT, from a bare compiled step up to `nbmodels.train`.

The model is nbmodels' `GPT(GPTConfig.preset("baby"))` (4 layers, 4 heads, 128 wide, context
64, vocabulary 65, dropout 0), batch 12, float32, AdamW built by `make_optimizer` from the
`char_gpt` recipe's TrainConfig (lr 1e-3, warmup 100 + cosine, weight decay 0.1 on matrices,
global clipping at 1.0) - what `bench/shakespeare.py` trains. The data are Tiny Shakespeare
windows (stride 1), the batches nbmodels' own stream serves.

A ladder of rungs, each adding one layer of what `nbmodels.train` does, measured in one
process, interleaved (every round runs every rung once, the order reversed every other
round), medians over rounds:

  raw    a `tf.function` of our own over fixed, pre-made batches (tensors on the device):
         grads      forward + backward only (the gradients summed so they are not pruned)
         step       + the optimizer's apply (AdamW, clipping, schedule)
         keras_step Keras's own `model.train_step` (+ the loss tracker, accuracy, logs dict)
         each without and with `jit_compile=True` (XLA)
  fit    `model.fit` (Keras's loop: iterator, Optional, callbacks, logs to floats) over the
         same pre-made batches as a tf.data pipeline, steps_per_execution 1, 8, 32, XLA
         off / on; and over a numpy array (Keras's array adapter)
  stream `model.fit` over `TrainingData.stream` (nbmodels' step-addressed stream: index_shuffle
         + gather in tf.data), then + `RunCallback` (the Run's recorder, set up as train() does)
  train  `nbmodels.train` itself (verbose=False, no validation split): defaults (`xla="auto"`,
         off on CPU), `xla="on"`, and `record_every=50`

ms/step is the steady state: for the fit, stream and train rungs the time between the first
and the last `on_train_batch_end` of a fit over the steps between them (tracing, the first
execution and the per-fit start-up excluded; the per-fit start-up is printed apart); for the raw
rungs a loop of calls, each reading its loss as a Python float as the fit loop does. The difference
between adjacent rungs is the cost of the layer the upper one adds.

Then one more `nbmodels.train` run with timers on Keras's compiled train function, Keras's
CallbackList batch hooks (which turn the logs into floats) and RunCallback's hooks, and one under
`cProfile` (enabled from step 10 to the end of training, so building and tracing stay out).

Peer: nanoGPT on torch CPU, 30.2-30.6 ms/iteration on these machines (issue 13, stored, not run
here). Target: `nbmodels.train` with defaults <= 1.0x of that.

    python bench/step_profile.py [--steps 64] [--rounds 3] [--train-steps 130] [--json out.json]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nbmodels import recipes  # noqa: E402
from nbmodels import train as nb_train  # noqa: E402
from nbmodels.data.text.corpus import char_windows  # noqa: E402
from nbmodels.models import GPT, GPTConfig  # noqa: E402
from nbmodels.runs.run import Run  # noqa: E402
from nbmodels.training import callback as callback_module  # noqa: E402
from nbmodels.training.callback import RunCallback  # noqa: E402
from nbmodels.training.inputs import as_training_data  # noqa: E402
from nbmodels.training.optimizer import make_optimizer  # noqa: E402
from _common import machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

PEER = {"ms_per_iteration": [30.2, 30.6], "what": "nanoGPT baby GPT, torch 2.14 CPU, these machines (issue 13)"}
TARGET = 1.0  # nbmodels.train defaults / nanoGPT
DEFAULT_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"
BATCH, SEED = 12, 1337


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=64, help="steps per timed chunk (a multiple of 32, >= 64)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every rung once")
    parser.add_argument("--train-steps", type=int, default=130, help="steps per nbmodels.train call (> 100)")
    parser.add_argument("--skip", nargs="*", default=[], help="rung names to leave out")
    parser.add_argument("--only", nargs="*", default=[], help="run only these rungs (names as printed)")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile-top", type=int, default=30)
    args = parser.parse_args(argv)
    if not args.text.is_file():
        print(f"No Tiny Shakespeare at {args.text}; pass --text PATH (nanoGPT's input.txt).")
        return 0
    if args.steps % 32 or args.steps < 64:
        parser.error("--steps must be a multiple of 32, at least 64 (steps_per_execution 32 needs two calls)")
    root = tempfile.mkdtemp(prefix="step-profile-runs-")
    load_before = os.getloadavg()

    bench = _Bench(args, root)
    rungs = [r for r in bench.rungs() if r.name not in args.skip and (not args.only or r.name in args.only)]
    print(f"step profile: baby GPT ({bench.parameters:,} parameters), batch {BATCH}, context 64, float32; "
          f"{args.steps} steps a chunk, {args.rounds} rounds; load average {_load()}", flush=True)
    for rung in rungs:  # untimed: tracing, XLA compiling, the first pass of each pipeline
        started = time.perf_counter()
        rung.warm()
        rung.warm_seconds = time.perf_counter() - started
        print(f"  warmed {rung.name:<24} {rung.warm_seconds:6.1f} s", flush=True)
    loads = []
    for index in range(args.rounds):
        order = rungs if index % 2 == 0 else rungs[::-1]
        for rung in order:
            rung.measure()
        loads.append(os.getloadavg()[0])
        print(f"  round {index + 1}/{args.rounds} done; load average {_load()}", flush=True)

    timers = [bench.timed_train(), bench.timed_train({"xla": "on"})]
    profile = bench.profiled_train(args.profile_top)
    results = _results(args, bench, rungs, timers, profile, load_before, loads)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# ---- timing helpers ------------------------------------------------------------------


class _Stamps(keras.callbacks.Callback):
    """perf_counter at on_train_begin / each on_train_batch_end / on_train_end; no other work."""

    def on_train_begin(self, logs=None):
        self.begin, self.ends, self.steps = time.perf_counter(), [], []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())
        self.steps.append(batch + 1)

    def on_train_end(self, logs=None):
        self.end = time.perf_counter()

    def window(self, skip_steps: int = 0) -> tuple[float, int]:
        """Seconds and steps between the first batch end at or after `skip_steps` and the last."""
        first = next(i for i, s in enumerate(self.steps) if s >= max(skip_steps, self.steps[0]))
        return self.ends[-1] - self.ends[first], self.steps[-1] - self.steps[first]

    def intervals_ms(self, skip_steps: int = 0) -> list[float]:
        out = []
        for i in range(1, len(self.ends)):
            if self.steps[i - 1] >= skip_steps:
                out.append(1e3 * (self.ends[i] - self.ends[i - 1]) / (self.steps[i] - self.steps[i - 1]))
        return out


@dataclasses.dataclass
class Rung:
    name: str
    group: str
    what: str
    warm: object  # () -> None
    chunk: object  # () -> (seconds, steps, extra dict)
    ms: list = dataclasses.field(default_factory=list)
    extra: list = dataclasses.field(default_factory=list)
    warm_seconds: float = 0.0

    def measure(self):
        seconds, steps, extra = self.chunk()
        self.ms.append(1e3 * seconds / steps)
        self.extra.append(extra)

    @property
    def median(self) -> float:
        return statistics.median(self.ms)


# ---- the bench -----------------------------------------------------------------------


class _Bench:
    def __init__(self, args, root: str):
        self.args, self.root = args, root
        text = args.text.read_text(encoding="utf-8")
        dataset = char_windows(text, context=64, stride=1, validation_split=0.1)
        self.dataset = dataclasses.replace(dataset, validation=None)  # no validation in the timed runs
        self.data = as_training_data(self.dataset)
        self.recipe = recipes.get_recipe("char_gpt")
        self.config = self.recipe.config.replace(steps=args.train_steps, seed=SEED)
        self.model_config = GPTConfig.preset("baby", vocabulary_size=self.dataset.num_classes)
        # The pre-made batches: the first `steps` of nbmodels' own stream, as numpy and as tensors.
        batches = list(self.data.stream(BATCH, SEED, 0, args.steps).as_numpy_iterator())
        self.x = np.stack([b[0] for b in batches])
        self.y = np.stack([b[1] for b in batches])
        self.tx, self.ty = tf.constant(self.x), tf.constant(self.y)
        keras.utils.set_random_seed(SEED)
        self.initial = GPT(self.model_config).get_weights()
        self.parameters = int(sum(w.size for w in self.initial))
        self.op_counts = {}

    def new_model(self) -> GPT:
        model = GPT(self.model_config)
        model.set_weights(self.initial)
        return model

    def optimizer(self):
        return make_optimizer(self.config, self.config.steps)

    # ---- rungs ---------------------------------------------------------------------

    def rungs(self) -> list[Rung]:
        out = [self._matmuls(False), self._matmuls(True)]
        for kind in ("grads", "step", "keras_step"):
            for xla in (False, True):
                out.append(self._raw(kind, xla))
        for spe in (1, 8, 32):
            for xla in (False, True):
                out.append(self._fit_cached(spe, xla))
        out.append(self._fit_numpy())
        for recording in (False, True):
            for xla in (False, True):
                out.append(self._fit_stream(recording, xla))
        out.append(self._train("train_default", {}, "nbmodels.train, defaults (xla auto = off on CPU)"))
        out.append(self._train("train_xla", {"xla": "on"}, 'nbmodels.train, TrainConfig(xla="on")'))
        out.append(self._train("train_record50", {"record_every": 50}, "nbmodels.train, record_every=50"))
        return out

    def _raw(self, kind: str, xla: bool) -> Rung:
        model = self.new_model()
        optimizer = self.optimizer()
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        variables = model.trainable_variables

        if kind == "keras_step":
            model.compile(optimizer=optimizer, loss=loss_fn, metrics=["accuracy"], jit_compile=False)

            def step(x, y):
                return model.train_step((x, y))["loss"]
        else:
            optimizer.build(variables)

            def step(x, y):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                grads = tape.gradient(loss, variables)
                if kind == "grads":  # keep the gradients alive without updating anything
                    return loss + 0.0 * tf.add_n([tf.reduce_sum(g) for g in grads])
                optimizer.apply(grads, variables)
                return loss

        function = tf.function(step, jit_compile=xla)
        name = f"raw_{kind}_{'xla' if xla else 'graph'}"
        steps = self.args.steps

        def run(n):
            started = time.perf_counter()
            for i in range(n):
                float(function(self.tx[i % steps], self.ty[i % steps]))
            return time.perf_counter() - started

        def warm():
            if kind == "keras_step":  # one fit step builds the metrics and the optimizer
                model.fit(self.x[0], self.y[0], batch_size=BATCH, epochs=1, verbose=0)
            run(2)
            self.op_counts[name] = _op_count(function.get_concrete_function(self.tx[0], self.ty[0]))

        what = {"grads": "forward + backward, no update", "step": "+ optimizer.apply (AdamW, clip)",
                "keras_step": "Keras model.train_step (+ loss tracker, accuracy)"}[kind]
        return Rung(name, "raw", f"tf.function{' XLA' if xla else ''}: {what}", warm,
                    lambda: (run(steps), steps, {}))

    def matmul_shapes(self) -> list[tuple[tuple, tuple]]:
        """The matrix products of one forward pass, as (A shape, B shape) (batched for attention)."""
        c = self.model_config
        tokens, width, heads = BATCH * c.sequence_length, c.hidden_dim, c.num_heads
        head_dim, length = width // heads, c.sequence_length
        per_layer = [((tokens, width), (width, 3 * width)), ((tokens, width), (width, width)),
                     ((tokens, width), (width, 4 * width)), ((tokens, 4 * width), (4 * width, width)),
                     ((BATCH * heads, length, head_dim), (BATCH * heads, head_dim, length)),  # Q K^T
                     ((BATCH * heads, length, length), (BATCH * heads, length, head_dim))]  # P V
        return per_layer * c.num_layers + [((tokens, width), (width, c.vocabulary_size))]

    def step_flops(self) -> int:
        """Multiply-adds x 2 of the step's matrix products: forward, and two of the same size backward."""
        total = 0
        for a, b in self.matmul_shapes():
            total += 2 * int(np.prod(a)) * b[-1]
        return 3 * total

    def _matmuls(self, xla: bool) -> Rung:
        """The floor: only the step's matrix products (forward, and dA, dB backward) in one tf.function."""
        rng = np.random.default_rng(0)
        pairs = [(tf.constant(rng.standard_normal(a, dtype=np.float32)), tf.constant(rng.standard_normal(b, dtype=np.float32)))
                 for a, b in self.matmul_shapes()]

        def products(scale):
            total = 0.0
            for a, b in pairs:
                out = tf.matmul(a * scale, b)  # forward
                grad_a = tf.matmul(out, b, transpose_b=True)  # backward: dA = dC B^T
                grad_b = tf.matmul(a, out, transpose_a=True)  # backward: dB = A^T dC
                total += tf.reduce_sum(out[..., :1]) + tf.reduce_sum(grad_a[..., :1]) + tf.reduce_sum(grad_b[..., :1])
            return total

        function = tf.function(products, jit_compile=xla)
        scale = tf.constant(1.0)
        steps = self.args.steps
        name = f"matmuls_{'xla' if xla else 'graph'}"

        def run(n):
            started = time.perf_counter()
            for _ in range(n):
                float(function(scale))
            return time.perf_counter() - started

        def warm():
            run(2)
            self.op_counts[name] = _op_count(function.get_concrete_function(scale))

        return Rung(name, "raw", f"only the step's matrix products ({self.step_flops() / 1e9:.2f} GFLOP)"
                    f"{', XLA' if xla else ''}: the math floor in TensorFlow", warm, lambda: (run(steps), steps, {}))

    def _compiled(self, xla: bool, spe: int = 1) -> GPT:
        model = self.new_model()
        model.compile(optimizer=self.optimizer(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=xla, steps_per_execution=spe)
        return model

    def _fit_rung(self, name, group, what, model, make_data, callbacks=(), fit_kwargs=None) -> Rung:
        stamps = _Stamps()

        def fit():
            extra_callbacks = [c() if callable(c) and not isinstance(c, keras.callbacks.Callback) else c
                               for c in callbacks]
            started = time.perf_counter()
            model.fit(*make_data(), callbacks=[*extra_callbacks, stamps], verbose=0, shuffle=False,
                      **(fit_kwargs or {}))
            wall = time.perf_counter() - started
            for c in extra_callbacks:
                if isinstance(c, RunCallback):
                    c.flush()
                    c.run.set_status("finished")
            seconds, steps = stamps.window()
            # Start-up: fit's call to its first batch end, less the steps that execution ran, plus
            # what follows the last batch end (on_train_end, history); at the window's rate.
            startup = (stamps.ends[0] - started) - seconds / steps * stamps.steps[0] + (wall - (stamps.ends[-1] - started))
            return seconds, steps, {"fit_wall_ms_per_step": 1e3 * wall / self.args.steps,
                                    "per_fit_overhead_ms": 1e3 * startup,
                                    "first_execution_ms": 1e3 * (stamps.ends[0] - started),
                                    "first_execution_steps": stamps.steps[0],
                                    "interval_median_ms": statistics.median(stamps.intervals_ms())}

        return Rung(name, group, what, fit, fit)

    def _fit_cached(self, spe: int, xla: bool) -> Rung:
        model = self._compiled(xla, spe)
        dataset = tf.data.Dataset.from_tensor_slices((self.x, self.y)).cache()
        name = f"fit_cached_spe{spe}_{'xla' if xla else 'graph'}"
        return self._fit_rung(name, "fit", f"model.fit, pre-made batches (tf.data), steps_per_execution={spe}"
                              f"{', XLA' if xla else ''}", model, lambda: (dataset,),
                              fit_kwargs={"steps_per_epoch": self.args.steps})

    def _fit_numpy(self) -> Rung:
        model = self._compiled(False)
        x, y = self.x.reshape(-1, 64), self.y.reshape(-1, 64)
        return self._fit_rung("fit_numpy_spe1_graph", "fit", "model.fit, numpy arrays (Keras's array adapter)",
                              model, lambda: (x, y), fit_kwargs={"batch_size": BATCH})

    def _fit_stream(self, recording: bool, xla: bool) -> Rung:
        model = self._compiled(xla)
        steps = self.args.steps
        callbacks = (lambda: self._recorder(steps),) if recording else ()
        name = f"stream{'_callback' if recording else ''}_{'xla' if xla else 'graph'}"
        what = f"model.fit, nbmodels' stream{' + RunCallback' if recording else ''}{', XLA' if xla else ''}"
        return self._fit_rung(name, "stream", what, model,
                              lambda: (self.data.stream(BATCH, SEED, 0, steps),), callbacks,
                              fit_kwargs={"steps_per_epoch": steps})

    def _recorder(self, steps: int) -> RunCallback:
        """A Run and its callback, set up as train() sets them up."""
        run = Run.create(self.config, name="bench", root=self.root)
        run.set_status("running")
        run.record([{"type": "start", "step": 0, "total_steps": steps, "steps_per_epoch": steps}])
        return RunCallback(run, start_step=0, total_steps=steps, steps_per_epoch=self.data.steps_per_epoch(BATCH),
                           batch_size=BATCH, tokens_per_sample=64, record_every=self.config.record_every,
                           checkpoint_every=self.config.checkpoint_every, keep_checkpoints=2, memory_device="CPU")

    def builder(self):
        return GPT(self.model_config)

    def _train(self, name: str, changes: dict, what: str) -> Rung:
        config = self.config.replace(**changes)
        skip = 10  # step 1 traces (and compiles); steady state from step 10

        def run():
            stamps = _Stamps()
            started = time.perf_counter()
            result = nb_train(self.builder, self.dataset, config, name=name, root=self.root, verbose=False,
                              callbacks=[stamps])
            wall = time.perf_counter() - started
            seconds, steps = stamps.window(skip)
            start = next(e for e in result.events if e.get("type") == "start")
            return seconds, steps, {"train_wall_s": wall, "before_first_step_s": stamps.ends[0] - started,
                                    "interval_median_ms": statistics.median(stamps.intervals_ms(skip)),
                                    "precision": start.get("precision"), "xla": start.get("xla"),
                                    "run_ms_per_step": 1e3 * BATCH / result.samples_per_second
                                    if result.samples_per_second else None}

        return Rung(name, "train", what, lambda: None, run)

    # ---- attribution -------------------------------------------------------------------

    def timed_train(self, changes: dict | None = None) -> dict:
        """One nbmodels.train run (defaults + `changes`) with timers on the layers of Keras's fit loop."""
        from keras.src.backend.tensorflow import trainer as tf_trainer
        from keras.src.callbacks import callback_list

        spent = {"train_function": [], "callbacks_batch_begin": [], "callbacks_batch_end": [],
                 "RunCallback.on_train_batch_end": [], "RunCallback.flush": []}
        skip = 10
        stamps = _Stamps()

        def timed(method, key):
            def call(*a, **k):
                started = time.perf_counter()
                try:
                    return method(*a, **k)
                finally:
                    if stamps.steps and stamps.steps[-1] >= skip:
                        spent[key].append(time.perf_counter() - started)
            return call

        make_train_function = tf_trainer.TensorFlowTrainer.make_train_function

        def patched_make(model, force=False):
            make_train_function(model, force)
            if not getattr(model.train_function, "_timed", False):
                model.train_function = timed(model.train_function, "train_function")
                model.train_function._timed = True
            return model.train_function

        patches = [
            (tf_trainer.TensorFlowTrainer, "make_train_function", patched_make),
            (callback_list.CallbackList, "on_train_batch_begin",
             timed(callback_list.CallbackList.on_train_batch_begin, "callbacks_batch_begin")),
            (callback_list.CallbackList, "on_train_batch_end",
             timed(callback_list.CallbackList.on_train_batch_end, "callbacks_batch_end")),
            (callback_module.RunCallback, "on_train_batch_end",
             timed(callback_module.RunCallback.on_train_batch_end, "RunCallback.on_train_batch_end")),
            (callback_module.RunCallback, "flush", timed(callback_module.RunCallback.flush, "RunCallback.flush")),
        ]
        originals = [(owner, attr, owner.__dict__[attr]) for owner, attr, _ in patches]
        try:
            for owner, attr, value in patches:
                setattr(owner, attr, value)
            nb_train(self.builder, self.dataset, self.config.replace(**(changes or {})), name="timed",
                     root=self.root, verbose=False, callbacks=[stamps])
        finally:
            for owner, attr, value in originals:
                setattr(owner, attr, value)
        seconds, steps = stamps.window(skip)
        totals = {k: sum(v) for k, v in spent.items()}
        # The batch-end hook of CallbackList includes RunCallback's (and the flushes it makes).
        loop_other = seconds - totals["train_function"] - totals["callbacks_batch_begin"] - totals["callbacks_batch_end"]
        per_step = {k: 1e3 * v / steps for k, v in totals.items()}
        per_step["epoch_iterator_and_loop"] = 1e3 * loop_other / steps
        per_step["window_total"] = 1e3 * seconds / steps
        return {"config_changes": changes or {}, "steps": steps, "ms_per_step": per_step,
                "train_function_median_ms": 1e3 * statistics.median(spent["train_function"]),
                "RunCallback_batch_median_us": 1e6 * statistics.median(spent["RunCallback.on_train_batch_end"]),
                "flushes": len(spent["RunCallback.flush"])}

    def profiled_train(self, top: int) -> dict:
        """cProfile of an nbmodels.train run (defaults), from step 10 to the end of training."""
        profiler = cProfile.Profile()

        class Profile(keras.callbacks.Callback):
            on = False

            def on_train_batch_end(self, batch, logs=None):
                if batch + 1 == 10 and not self.on:
                    self.on = True
                    self.started = time.perf_counter()
                    profiler.enable()

            def on_train_end(self, logs=None):
                if self.on:
                    profiler.disable()
                    self.seconds = time.perf_counter() - self.started

        hook = Profile()
        nb_train(self.builder, self.dataset, self.config, name="profiled", root=self.root, verbose=False,
                 callbacks=[hook])
        steps = self.config.steps - 10
        stats = pstats.Stats(profiler)
        out = {"steps": steps, "seconds": hook.seconds, "ms_per_step_under_profiler": 1e3 * hook.seconds / steps}
        for key in ("cumulative", "tottime"):
            buffer = io.StringIO()
            pstats.Stats(profiler, stream=buffer).sort_stats(key).print_stats(top)
            out[key] = _trim_stats(buffer.getvalue())
        rows = []
        for (filename, line, function), (cc, nc, tt, ct, _) in stats.stats.items():
            rows.append({"function": f"{_short(filename)}:{line}({function})", "calls": nc,
                         "tottime_ms_per_step": 1e3 * tt / steps, "cumtime_ms_per_step": 1e3 * ct / steps})
        out["by_cumulative"] = sorted(rows, key=lambda r: -r["cumtime_ms_per_step"])[:top]
        out["by_tottime"] = sorted(rows, key=lambda r: -r["tottime_ms_per_step"])[:top]
        return out


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _trim_stats(text: str) -> str:
    keep = text[text.find("   ncalls"):] if "   ncalls" in text else text
    return "\n".join(_short_line(line) for line in keep.splitlines() if line.strip())


def _short_line(line: str) -> str:
    for marker in ("/work/main/.venv/lib/python3.11/site-packages/", "/work/main/"):
        line = line.replace(marker, "")
    return line


def _op_count(concrete) -> dict:
    """Nodes in a concrete function's graph and in the functions it calls (a dispatch-cost proxy)."""
    graph_def = concrete.graph.as_graph_def()
    library = sum(len(f.node_def) for f in graph_def.library.function)
    return {"top_level": len(graph_def.node), "in_called_functions": library}


# ---- results -------------------------------------------------------------------------


LADDER = [  # (upper, lower, what the upper adds)
    ("raw_grads_graph", "matmuls_graph", "forward + backward beyond its matrix products, no XLA"),
    ("raw_grads_xla", "matmuls_xla", "forward + backward beyond its matrix products, XLA"),
    ("raw_step_graph", "raw_grads_graph", "optimizer.apply (AdamW + clip), no XLA"),
    ("raw_step_xla", "raw_grads_xla", "optimizer.apply (AdamW + clip), XLA"),
    ("raw_keras_step_graph", "raw_step_graph", "Keras train_step extras (loss tracker, accuracy, logs), no XLA"),
    ("raw_keras_step_xla", "raw_step_xla", "Keras train_step extras, XLA"),
    ("fit_cached_spe1_graph", "raw_keras_step_graph", "Keras fit loop (iterator, Optional, callbacks, floats), no XLA"),
    ("fit_cached_spe1_xla", "raw_keras_step_xla", "Keras fit loop, XLA"),
    ("fit_cached_spe1_graph", "fit_cached_spe8_graph", "steps_per_execution 1 -> 8 saves, no XLA"),
    ("fit_cached_spe1_graph", "fit_cached_spe32_graph", "steps_per_execution 1 -> 32 saves, no XLA"),
    ("fit_cached_spe1_xla", "fit_cached_spe8_xla", "steps_per_execution 1 -> 8 saves, XLA"),
    ("fit_cached_spe1_xla", "fit_cached_spe32_xla", "steps_per_execution 1 -> 32 saves, XLA"),
    ("fit_numpy_spe1_graph", "fit_cached_spe1_graph", "numpy array adapter vs pre-made tf.data"),
    ("stream_graph", "fit_cached_spe1_graph", "nbmodels' stream (index_shuffle + gather) vs pre-made, no XLA"),
    ("stream_xla", "fit_cached_spe1_xla", "nbmodels' stream vs pre-made, XLA"),
    ("stream_callback_graph", "stream_graph", "RunCallback (record_every=1), no XLA"),
    ("stream_callback_xla", "stream_xla", "RunCallback, XLA"),
    ("train_default", "stream_callback_graph", "rest of nbmodels.train (defaults) vs its parts"),
    ("train_xla", "stream_callback_xla", "rest of nbmodels.train (xla on) vs its parts"),
    ("train_default", "train_record50", "record_every 50 -> 1"),
    ("train_default", "train_xla", "no XLA vs XLA (nbmodels.train)"),
    ("train_default", "raw_grads_xla", "everything above forward+backward under XLA"),
]


def _results(args, bench, rungs, timers, profile, load_before, loads) -> dict:
    by_name = {r.name: r for r in rungs}
    ladder = []
    for upper, lower, what in LADDER:
        if upper in by_name and lower in by_name:
            a, b = by_name[upper], by_name[lower]
            paired = [x - y for x, y in zip(a.ms, b.ms)]
            ladder.append({"upper": upper, "lower": lower, "what": what,
                           "delta_ms": a.median - b.median, "paired_delta_median_ms": statistics.median(paired),
                           "min_delta_ms": min(a.ms) - min(b.ms)})
    default = by_name.get("train_default")
    peer = statistics.mean(PEER["ms_per_iteration"])
    ratio = default.median / peer if default else None
    return {
        "benchmark": "step_profile",
        "date": dt.date.today().isoformat(),
        "command": "python bench/step_profile.py " + " ".join(sys.argv[1:]),
        "machine": machine(tensorflow=tf.__version__, keras=keras.__version__,
                           gpus=len(tf.config.list_physical_devices("GPU"))),
        "load_average_before": load_before,
        "load_average_after_each_round": loads,
        "load_average_end": os.getloadavg(),
        "settings": {"model": "GPT baby (4 layers, 4 heads, 128 wide, context 64)", "vocabulary": 65,
                     "parameters": bench.parameters, "batch_size": BATCH, "steps_per_chunk": args.steps,
                     "rounds": args.rounds, "train_steps": args.train_steps, "precision": "float32",
                     "step_gflop": bench.step_flops() / 1e9,
                     "policy": keras.mixed_precision.global_policy().name, "config": bench.config.to_dict()},
        "rungs": [{"name": r.name, "group": r.group, "what": r.what, "median_ms": r.median, "ms": r.ms,
                   "warm_seconds": r.warm_seconds, "extra": r.extra} for r in rungs],
        "ladder": ladder,
        "op_counts": bench.op_counts,
        "timers": timers,
        "profile": profile,
        "peer": PEER,
        "ratio_default_to_peer": ratio,
        "target": TARGET,
    }


def _print(r: dict) -> None:
    m, s = r["machine"], r["settings"]
    print()
    print(f"step profile: {s['model']}, vocabulary {s['vocabulary']}, {s['parameters']:,} parameters, batch "
          f"{s['batch_size']}, {s['precision']}; {s['steps_per_chunk']} steps a chunk, {s['rounds']} rounds, "
          f"nbmodels.train {s['train_steps']} steps a call")
    print(f"machine: {m['processor']}, {m['usable_cpus']} usable CPUs; tensorflow {m['tensorflow']}, keras "
          f"{m['keras']}; load average before {r['load_average_before'][0]:.2f}, after each round "
          f"{', '.join(f'{v:.2f}' for v in r['load_average_after_each_round'])}")
    print()
    print(f"{'rung (ms/step)':<26} {'median':>8} {'min':>7} {'max':>7} {'GFLOP/s':>8} {'warm s':>7}  what")
    for rung in r["rungs"]:
        print(f"{rung['name']:<26} {rung['median_ms']:>8.1f} {min(rung['ms']):>7.1f} {max(rung['ms']):>7.1f} "
              f"{s['step_gflop'] / rung['median_ms'] * 1e3:>8.0f} {rung['warm_seconds']:>7.1f}  {rung['what']}")
    print(f"(GFLOP/s: the step's {s['step_gflop']:.2f} GFLOP of matrix products over the rung's ms/step; "
          f"'warm s': the untimed first chunk - tracing, XLA compiling)")
    print()
    print("per-fit start-up (ms per fit call beyond its first execution's steps; train() makes one fit per fresh run, "
          "all validation rounds being epochs of it, and one more after a mid-round resume or a fine-tuning switch):")
    for rung in r["rungs"]:
        extras = [e.get("per_fit_overhead_ms") for e in rung["extra"] if e.get("per_fit_overhead_ms") is not None]
        if extras:
            print(f"  {rung['name']:<26} median {statistics.median(extras):7.1f} ms, min {min(extras):7.1f} ms")
    for rung in r["rungs"]:
        if rung["group"] == "train":
            e = rung["extra"][len(rung["extra"]) // 2]
            print(f"  {rung['name']:<26} build + trace before step 1 {e['before_first_step_s']:.1f} s, whole call "
                  f"{e['train_wall_s']:.1f} s; precision {e['precision']}, xla {e['xla']}; the Run's own "
                  f"ms/step {e['run_ms_per_step'] or float('nan'):.1f}")
    print()
    print("ladder: upper - lower, in ms/step: of the medians, the median of the paired (same round) differences,")
    print("and of the minima (the quietest chunk of each: on a shared machine the least disturbed estimate)")
    print(f"{'':<52} {'medians':>8} {'paired':>7} {'minima':>7}")
    for step in r["ladder"]:
        print(f"{step['upper'] + ' - ' + step['lower']:<52} {step['delta_ms']:>8.1f} "
              f"{step['paired_delta_median_ms']:>7.1f} {step['min_delta_ms']:>7.1f}  {step['what']}")
    print()
    print("graph nodes per compiled step (top level + inside called functions):")
    for name, counts in r["op_counts"].items():
        print(f"  {name:<26} {counts['top_level']:>6} + {counts['in_called_functions']:>6}")
    print()
    print("timers inside nbmodels.train runs, ms per step (steps 10 to the end):")
    first, *rest = r["timers"]
    heads = ["defaults"] + [", ".join(f"{k}={v!r}" for k, v in t["config_changes"].items()) for t in rest]
    print(f"  {'':<34} " + " ".join(f"{h:>12}" for h in heads))
    for key in first["ms_per_step"]:
        print(f"  {key:<34} " + " ".join(f"{t['ms_per_step'][key]:>12.2f}" for t in r["timers"]))
    for head, t in zip(heads, r["timers"]):
        print(f"  {head}: train_function median {t['train_function_median_ms']:.1f} ms; RunCallback.on_train_batch_end "
              f"median {t['RunCallback_batch_median_us']:.0f} us; {t['flushes']} flushes over {t['steps']} steps")
    p = r["profile"]
    print()
    print(f"cProfile of nbmodels.train (defaults), steps 10..{s['train_steps']}: {p['ms_per_step_under_profiler']:.1f} "
          f"ms/step under the profiler; top by cumulative time, ms per step:")
    for row in p["by_cumulative"][:25]:
        print(f"  {row['cumtime_ms_per_step']:8.2f} cum {row['tottime_ms_per_step']:7.2f} own {row['calls']:>7}  "
              f"{row['function']}")
    print("top by own time, ms per step:")
    for row in p["by_tottime"][:15]:
        print(f"  {row['tottime_ms_per_step']:8.2f} own {row['calls']:>7}  {row['function']}")
    print()
    ratio = r["ratio_default_to_peer"]
    if ratio is not None:
        peer = statistics.mean(r["peer"]["ms_per_iteration"])
        rungs = {x["name"]: x["median_ms"] for x in r["rungs"]}
        minima = {x["name"]: min(x["ms"]) for x in r["rungs"]}
        for name in ("raw_grads_xla", "raw_step_xla", "raw_step_graph", "fit_cached_spe1_xla", "train_xla", "train_default"):
            if name in rungs:
                print(f"{name} / nanoGPT (stored {peer:.1f} ms): median {rungs[name] / peer:.2f}, "
                      f"quietest chunk {minima[name] / peer:.2f}")
        print(f"nbmodels.train defaults ms/step / nanoGPT (stored {peer:.1f} ms, not run here): {ratio:.2f} "
              f"(target <= {r['target']}) {verdict(ratio, r['target'], higher_is_better=False)}")


if __name__ == "__main__":
    sys.exit(main())
