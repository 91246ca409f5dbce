"""The Keras callback that feeds a Run.

After each compiled call (one step, or several: `training/execution.py`) it records each
step's own values, read from the model's `StepValues` buffer; with several replicas, where
each call is one step, it recovers them from Keras's running means. Everything that costs
more (writing events, reading the learning rate and device memory, updating traits that
views observe) happens at most every `flush_interval` seconds.
"""

from __future__ import annotations

import math
import time

import keras

from nbmodels.devices import memory_usage
from nbmodels.training import checkpoint


class RunCallback(keras.callbacks.Callback):
    def __init__(
        self,
        run,
        *,
        start_step: int,
        total_steps: int,
        steps_per_epoch: int,
        batch_size: int,
        tokens_per_sample: int | None,
        record_every: int = 1,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 2,
        flush_interval: float = 0.5,
        memory_device: str | None = None,
        step_values=None,
    ):
        super().__init__()
        self.run = run
        self.step = start_step
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.tokens_per_sample = tokens_per_sample
        self.record_every = record_every
        self.checkpoint_every = checkpoint_every
        self.keep_checkpoints = keep_checkpoints
        self.flush_interval = flush_interval
        self.memory_device = memory_device
        self.step_values = step_values  # execution.StepValues, or None: one step a call, running means
        self.diverged_at: int | None = None
        self.stop_seen = False
        self._pending: list[dict] = []
        self._means: dict[str, float] = {}
        self._epoch_base = self._start_step = start_step
        self._last_flush = (time.monotonic(), start_step)
        self._steps_per_second: float | None = None
        self._call_started = time.time()

    # ---- keras hooks -----------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_base = self.step
        self._means = {}  # Keras resets its running means every epoch
        if self.step_values is not None:
            self.step_values.epoch_begins()  # and with them the sums the buffer's rows hold

    def on_train_batch_begin(self, batch, logs=None):
        self._call_started = time.time()

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last step of the call (Keras may overcount a short last call): the
        # buffer knows how many steps ran.
        before = self.step
        if self.step_values is None:
            self._record(self._epoch_base + batch + 1, self._batch_values(batch, logs or {}))
        else:
            self._record_call(self.step_values.take())
        if self.diverged_at is not None:
            self.model.stop_training = True
            self.flush()
            return
        now = time.monotonic()
        if now - self._last_flush[0] >= self.flush_interval:
            self.flush(now)
        if self.step >= self.total_steps or self.stop_seen:
            self.model.stop_training = True
        elif self.checkpoint_every and self.step // self.checkpoint_every > before // self.checkpoint_every:
            self.save_checkpoint()  # on the multiple itself, unless a resumed run's calls straddle it

    def on_epoch_end(self, epoch, logs=None):
        validation = {k: v for k, v in (logs or {}).items() if k.startswith("val_")}
        if validation:
            self._pending.append(
                {"type": "validation", "step": self.step, "epoch": self.epoch, "metrics": validation}
            )
        self.flush()
        if self.diverged_at is None and self.checkpoint_every is None and not self.model.stop_training:
            self.save_checkpoint()

    # ---- recording -------------------------------------------------------------------

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    def _record_call(self, steps: list[dict]) -> None:
        """Keep the values of a compiled call's steps, timed evenly across the call."""
        started, now = self._call_started, time.time()
        for i, values in enumerate(steps):
            if not self._record(self.step + 1, values, started + (now - started) * (i + 1) / len(steps)):
                break
        self._call_started = now

    def _record(self, step: int, values: dict, when: float | None = None) -> bool:
        """Keep step `step`'s values; False when its loss is not finite (the run diverged)."""
        self.step = step
        if not math.isfinite(values.get("loss", 0.0)):
            self.diverged_at = step
            self._pending.append(self._step_event(values, when))
            return False
        if step % self.record_every == 0 or step == self.total_steps:
            self._pending.append(self._step_event(values, when))
        return True

    def catch_up(self) -> None:
        """Record the steps of a compiled call whose callback never ran (an interrupt landed
        between them): their updates happened."""
        if self.step_values is not None:
            self._record_call(self.step_values.take())
            return
        # optimizer.iterations counts updates; it counts batches only without accumulation.
        done = int(self.model.optimizer.iterations.numpy())
        if not self.model.optimizer.gradient_accumulation_steps and done == self.step + 1:
            self.record_step_without_metrics(done)  # its logs are lost; no gap in the history

    def _batch_values(self, batch: int, logs: dict) -> dict:
        # Keras logs each metric as its running mean over the epoch so far; the value of
        # this batch alone is n*mean_n - (n-1)*mean_(n-1) (batches have equal size).
        values = {}
        for key, mean in logs.items():
            if not isinstance(mean, float):
                continue
            previous = self._means.get(key)
            values[key] = mean if previous is None else (batch + 1) * mean - batch * previous
            self._means[key] = mean
        return values

    def _step_event(self, values: dict, when: float | None = None) -> dict:
        # No rounding here: round() alone was half this hook's per-batch cost. The step's own
        # time (not the flush's) gives views a throughput for every step.
        return {"type": "step", "step": self.step, "epoch": self.step / self.steps_per_epoch, "metrics": values,
                "time": time.time() if when is None else when}

    def record_step_without_metrics(self, step: int) -> None:
        """A step whose update happened but whose logs were lost (an interrupt between them)."""
        self.step = step
        self._pending.append(self._step_event({}))

    def flush(self, now: float | None = None) -> None:
        """Write pending events plus one progress event; update the Run's traits."""
        now = time.monotonic() if now is None else now
        last_time, last_step = self._last_flush
        events, self._pending = self._pending, []
        # The first interval includes tracing and compiling: no rate from it.
        if self.step > last_step > self._start_step and now > last_time:
            rate = (self.step - last_step) / (now - last_time)
            # Smooth the rate so the ETA does not jump with every validation pause.
            self._steps_per_second = rate if self._steps_per_second is None else 0.7 * self._steps_per_second + 0.3 * rate
            samples = self._steps_per_second * self.batch_size
            events.append(
                {
                    "type": "progress",
                    "step": self.step,
                    "samples_per_second": samples,
                    "tokens_per_second": samples * self.tokens_per_sample if self.tokens_per_sample else None,
                    "eta_seconds": (self.total_steps - self.step) / self._steps_per_second,
                    "learning_rate": self._learning_rate(),
                    "memory": memory_usage(self.memory_device),
                }
            )
        self._last_flush = (now, self.step)
        self.run.record(events)
        if self.run.stop_requested:  # a file check, so only at flush time
            self.stop_seen = True
            self.model.stop_training = True

    def _learning_rate(self) -> float | None:
        try:
            return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        except Exception:  # an optimizer without a readable rate must not stop training
            return None

    def save_checkpoint(self):
        self.flush()
        saved = checkpoint.save(self.run, self.model, self.step, self.epoch, self.keep_checkpoints)
        if saved is None:  # the weights went NaN in this step's update
            self.diverged_at = self.step
            self.model.stop_training = True
        return saved
