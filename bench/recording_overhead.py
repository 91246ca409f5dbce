"""What recording a Run costs: the same fit with and without nbmodels' recording of every step.

Design target (DESIGN.md, "Throttle, don't drop"): recording every batch costs a few percent of
step time at most; here, a time ratio <= 1.02 on a fast model (>= 200 steps/s), where a
per-batch cost shows most.

One model, one data stream, one process. Both variants run `model.fit(stream, steps_per_epoch=N,
epochs=1, verbose=0)` over the same N batches of the step-addressed stream `train()` uses (cached
after its first pass); the recording variant adds a `RunCallback` feeding a real `Run` in a
temporary folder, set up as `train()` sets it up (record_every=1, a flush every 0.5 s with
progress events, status heartbeats), and its model records each step's values on the device
(`training/execution.StepValues`, as `train()` installs it). Both compile with the same
`steps_per_execution`: by default what `train()` would choose for this model (auto); pass
--steps-per-execution 1 for one step a call, where a per-step cost shows most. Both fit once untimed first (tracing, the first flush,
filling the cache). Then they alternate (A B, B A, ...) for --repeats pairs, so drift on a busy
machine hits both alike. A fit is timed from on_train_begin to on_train_end, by a callback both
variants carry that overrides no batch hook.

The ratio is median time with recording / median time without. On a noisy machine that ratio
moves by a few percent between runs, so the script also times the callback's own hooks inside
--hook-fits more recorded fits: the share of the fit spent in recording, a low-noise lower bound
of the same ratio (it misses indirect costs such as cache pollution). Exit code 0 either way:
benchmarks report, they do not fail CI.

Both variants pay Keras' per-batch conversion of the logs to Python floats: on the TensorFlow
backend (`IS_THREAD_SAFE = False`) `CallbackList` calls `pythonify_logs` for every batch whether
or not any callback overrides `on_train_batch_end`, so the baseline is not flattered.

    python bench/recording_overhead.py [--steps 400] [--repeats 25] [--steps-per-execution N] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nbmodels import TrainConfig, data  # noqa: E402
from nbmodels.models import mlp  # noqa: E402
from nbmodels.training import execution  # noqa: E402
from nbmodels.training.callback import RunCallback  # noqa: E402
from nbmodels.training.inputs import as_training_data  # noqa: E402
from nbmodels.runs.run import Run  # noqa: E402
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)

TARGET = 1.02
FAST_ENOUGH = 200  # steps/s: below this a per-batch cost is diluted and the bench says little


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="batches per timed fit")
    parser.add_argument("--repeats", type=int, default=25, help="timed fits of each variant")
    parser.add_argument("--hook-fits", type=int, default=3, help="recorded fits with the callback's hooks timed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64], help="MLP hidden widths")
    parser.add_argument("--steps-per-execution", type=int, default=None,
                        help="steps per compiled call, both variants (default: what train() chooses)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nbmodels-bench-") as root:
        bench = _Bench(args.steps, args.batch_size, tuple(args.hidden), root, args.steps_per_execution)
        args.steps_per_execution = bench.steps_per_execution
        bench.fit()  # untimed: tracing, the first flush, and the pass that fills the stream's cache
        bench.fit(recording=True)

        plain, recorded = [], []
        for repeat in range(args.repeats):
            for recording in (False, True) if repeat % 2 == 0 else (True, False):
                (recorded if recording else plain).append(bench.fit(recording=recording))
        hooks = [bench.fit_with_timed_hooks() for _ in range(args.hook_fits)]

    results = _results(args, plain, recorded, hooks)
    _print(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


class _Clock(keras.callbacks.Callback):
    """Times a fit from on_train_begin to on_train_end; adds no per-batch work."""

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_end(self, logs=None):
        self.elapsed = time.perf_counter() - self.started


class _Bench:
    def __init__(self, steps: int, batch_size: int, hidden: tuple[int, ...], root: str,
                 steps_per_execution: int | None):
        self.steps, self.batch_size = steps, batch_size
        digits = as_training_data(data.load("digits"))
        # The batches train() would feed; cached after the first (untimed) pass so the input
        # pipeline's threads add as little noise, and as little step time, as they can.
        self.stream = digits.stream(batch_size, 0, 0, steps).cache()
        self.plain, self.recorded = (self._model(hidden) for _ in range(2))
        config = TrainConfig(steps=steps, batch_size=batch_size, validate_every=steps,
                             steps_per_execution=steps_per_execution)
        cpu = type("Runtime", (), {"strategy_name": "default", "devices": ("/cpu:0",), "accelerated": False})
        self.steps_per_execution = execution.steps_per_execution(
            config, self.plain, intervals={"the fit": steps}, tokens_per_sample=None, runtime=cpu)
        for model in (self.plain, self.recorded):
            # What train() compiles on a CPU: AdamW, a logits loss, accuracy, no XLA.
            model.compile(
                optimizer=keras.optimizers.AdamW(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
                jit_compile=False,
                steps_per_execution=self.steps_per_execution,
            )
        self.step_values = execution.StepValues(self.steps_per_execution)
        self.step_values.install(self.recorded)
        self.root = root  # the runs folder, deleted when the bench ends
        self.clock = _Clock()

    @staticmethod
    def _model(hidden):
        keras.utils.set_random_seed(0)  # both variants start from the same weights
        model = mlp((64,), 10, hidden=hidden)
        model.build((None, 64))
        return model

    def recorder(self) -> RunCallback:
        """A Run and its callback, set up as train() sets them up (outside the timing)."""
        config = TrainConfig(steps=self.steps, batch_size=self.batch_size, record_every=1)
        run = Run.create(config, name="bench", root=self.root)
        run.set_status("running")
        run.record([{"type": "start", "step": 0, "total_steps": self.steps, "steps_per_epoch": self.steps}])
        return RunCallback(
            run, start_step=0, total_steps=self.steps, steps_per_epoch=self.steps,
            batch_size=self.batch_size, tokens_per_sample=None, record_every=1, memory_device="CPU",
            step_values=self.step_values,
        )

    def fit(self, recording: bool = False, recorder: RunCallback | None = None) -> float:
        """Seconds of one fit over the stream, with or without a Run recording it."""
        recorder = recorder or (self.recorder() if recording else None)
        callbacks = [self.clock] + ([recorder] if recorder else [])
        model = self.recorded if recorder else self.plain
        model.fit(self.stream, steps_per_epoch=self.steps, epochs=1, callbacks=callbacks,
                       shuffle=False, verbose=0)
        if recorder:
            recorder.flush()  # what train() does after the fit, outside the timing
            recorder.run.set_status("finished")
            if recorder.step != self.steps:
                raise RuntimeError(f"the recorded run saw {recorder.step} of {self.steps} steps")
        return self.clock.elapsed

    def fit_with_timed_hooks(self) -> dict:
        """A recorded fit with the callback's hooks timed: recording's own share of the fit."""
        recorder = self.recorder()
        per_batch, epoch_hooks, flushes = [], [], []

        def timed(method, into):
            def call(*args, **kwargs):
                started = time.perf_counter()
                result = method(*args, **kwargs)
                into.append(time.perf_counter() - started)
                return result

            return call

        recorder.flush = timed(recorder.flush, flushes)  # called from the hooks below
        recorder.on_train_batch_end = timed(recorder.on_train_batch_end, per_batch)
        recorder.on_epoch_begin = timed(recorder.on_epoch_begin, epoch_hooks)
        recorder.on_epoch_end = timed(recorder.on_epoch_end, epoch_hooks)
        elapsed = self.fit(recorder=recorder)
        flushes.pop()  # the one after the fit, outside the timing
        spent = sum(per_batch) + sum(epoch_hooks)
        return {
            "fit_seconds": elapsed,
            "callback_seconds": spent,
            "callback_share": spent / elapsed,
            "batch_hook_median_us": statistics.median(per_batch) * 1e6,
            "batch_hook_max_ms": max(per_batch) * 1e3,
            "flushes": len(flushes),
            "flush_seconds": sum(flushes),
        }


def _results(args, plain, recorded, hooks) -> dict:
    plain_median, recorded_median = statistics.median(plain), statistics.median(recorded)
    ratio = recorded_median / plain_median
    paired = [r / p for r, p in zip(recorded, plain)]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
    # Standard error of a median from the spread (normal approximation: sigma ~ IQR / 1.349).
    spread = (quartiles[2] - quartiles[0]) / 1.349 * 1.2533 / math.sqrt(len(paired))
    hook = sorted(hooks, key=lambda h: h["callback_share"])[len(hooks) // 2]  # the median fit
    share = hook["callback_share"]
    return {
        "benchmark": "recording_overhead",
        "date": dt.date.today().isoformat(),
        "machine": machine(tensorflow=tf.__version__, keras=keras.__version__,
                           gpus=len(tf.config.list_physical_devices("GPU"))),
        "settings": {
            "model": f"mlp 64 -> {' -> '.join(map(str, args.hidden))} -> 10 (digits)",
            "batch_size": args.batch_size,
            "steps_per_fit": args.steps,
            "repeats": args.repeats,
            "hook_fits": args.hook_fits,
            "record_every": 1,
            "steps_per_execution": args.steps_per_execution,
        },
        "plain_seconds": plain,
        "recorded_seconds": recorded,
        "plain_steps_per_second": args.steps / plain_median,
        "recorded_steps_per_second": args.steps / recorded_median,
        "ratio": ratio,
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_quartiles": [quartiles[0], quartiles[2]],
        "paired_ratio_standard_error": spread,
        "per_step_overhead_us": (recorded_median - plain_median) / args.steps * 1e6,
        "hooks": hooks,
        "callback_share": share,
        "accounted_ratio": 1 / (1 - share),  # the fit's time over the same fit minus recording's time
        "median_hook_fit": hook,
        "target": TARGET,
        "fast_enough": args.steps / plain_median >= FAST_ENOUGH,
        "passed": ratio <= TARGET,
    }


def _print(r: dict) -> None:
    m, s, h = r["machine"], r["settings"], r["median_hook_fit"]
    print(f"recording overhead: {s['model']}, batch {s['batch_size']}, {s['steps_per_fit']} steps a fit, "
          f"{s['steps_per_execution']} a compiled call, {s['repeats']} fits each, interleaved")
    print(f"machine: {m['processor']}, {m['cpu_count']} CPUs, {m['gpus']} GPUs; "
          f"tensorflow {m['tensorflow']}, keras {m['keras']}, python {m['python']}")
    print()
    print(f"{'variant':<28} {'median s':>9} {'steps/s':>9} {'min s':>8} {'max s':>8}")
    for label, times in (("model.fit", r["plain_seconds"]), ("+ StepValues + RunCallback", r["recorded_seconds"])):
        median = statistics.median(times)
        print(f"{label:<28} {median:>9.3f} {s['steps_per_fit'] / median:>9.0f} {min(times):>8.3f} {max(times):>8.3f}")
    print()
    low, high = r["paired_ratio_quartiles"]
    print(f"paired ratios (each pair back to back): median {r['paired_ratio_median']:.3f} "
          f"+- {r['paired_ratio_standard_error']:.3f} (standard error), quartiles {low:.3f} .. {high:.3f}")
    print(f"extra time per step (difference of medians): {r['per_step_overhead_us']:.0f} us")
    print(f"RunCallback's own hooks, timed in {s['hook_fits']} more fit{'s' if s['hook_fits'] != 1 else ''}: {r['callback_share']:.1%} of the fit "
          f"-> accounted ratio {r['accounted_ratio']:.3f}")
    print(f"  median of those fits: on_train_batch_end median {h['batch_hook_median_us']:.0f} us "
          f"(slowest {h['batch_hook_max_ms']:.1f} ms); {h['flushes']} flushes, {h['flush_seconds'] * 1e3:.1f} ms in all")
    if not r["fast_enough"]:
        print(f"note: the plain fit ran below {FAST_ENOUGH} steps/s, so a per-batch cost is diluted here")
    print()
    verdict = "PASS" if r["passed"] else "MISS"
    if abs(r["ratio"] - r["target"]) < 2 * r["paired_ratio_standard_error"]:
        verdict += f", within this machine's noise (accounted ratio {r['accounted_ratio']:.3f})"
    print(f"recording overhead ratio: {r['ratio']:.3f} (target <= {r['target']}) {verdict}")


if __name__ == "__main__":
    sys.exit(main())
