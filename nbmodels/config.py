"""`TrainConfig`: every knob of a training run, validated on construction.

A config is the one thing a dashboard form, a notebook cell, the CLI and a run directory
(`config.json`) all agree on, so a typo must fail here with a message a person can act on,
never deep inside TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from nbmodels.checks import ConfigError, Fields

OPTIMIZERS = ("adamw", "adam", "sgd")
LR_SCHEDULES = ("constant", "cosine", "warmup_cosine")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
XLA_MODES = ("auto", "on", "off")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
# Which weights AdamW decays: "matrices" = those with 2+ dimensions (kernels, embedding
# tables), as nanoGPT does; "all" = every trainable weight, Keras's default.
WEIGHT_DECAY_ON = ("matrices", "all")

# "/cpu:0", "GPU:1", "/job:worker/replica:0/task:1/device:GPU:0", ...
_DEVICE_NAME = re.compile(r"^/?(job:\w+/(replica:\d+/)?(task:\d+/)?)?(device:)?(cpu|gpu|tpu):\d+$", re.I)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: length, batch, optimizer, schedule, precision, devices, bookkeeping.

    Every field is checked when the config is made; a bad value raises `ConfigError` (a
    `ValueError`) naming the field, the value and what is allowed, and carrying the field's
    name as `.field` (a combination of fields is filed under the field to change).

    AdamW decays only weights with 2+ dimensions (kernels, embedding tables), never biases
    or LayerNorm scales, as nanoGPT does; `weight_decay_on="all"` decays every weight.

    Example:
    >>> from nbmodels import TrainConfig
    >>> config = TrainConfig(steps=200, batch_size=64, lr_schedule="warmup_cosine", warmup_steps=20)
    >>> config.per_replica_batch_size(2)
    32
    >>> TrainConfig.from_json(config.to_json()) == config
    True
    >>> TrainConfig(optimizer="adagrad")
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: TrainConfig.optimizer='adagrad' is not allowed: choose one of 'adamw', 'adam', 'sgd'.
    """

    # Length: give either whole passes over the data or a number of optimizer steps.
    # With neither, one epoch; with both, training ends at whichever comes first.
    epochs: int | None = None
    steps: int | None = None
    # The global batch: what one optimizer step sees across all replicas. Each replica gets
    # batch_size / replicas, so the result does not change with the number of GPUs.
    batch_size: int = 32

    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    # warmup_cosine is nanoGPT's: linear warmup for `warmup_steps`, then cosine decay to
    # learning_rate * min_lr_ratio at the last step.
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01  # decoupled (AdamW); ignored by adam and sgd
    # Which weights AdamW decays. "matrices": only those with 2+ dimensions (dense and conv
    # kernels, embedding tables), never biases or LayerNorm scales, as nanoGPT and minGPT do:
    # decay pulling a LayerNorm scale towards 0 fights the normalization. "all": every
    # trainable weight (what keras.optimizers.AdamW does on its own).
    weight_decay_on: str = "matrices"
    clip_norm: float | None = None  # clip the global gradient norm; None = no clipping
    # Accumulate gradients over this many batches before one update: a larger effective
    # batch on a GPU that cannot hold it. 1 = update every batch.
    grad_accum_steps: int = 1

    # auto: bfloat16 on compute capability >= 8, float16 with loss scaling on 7.x, float32 on CPU.
    precision: str = "auto"
    # auto = on for GPU/TPU; on a CPU, on for transformer runs long enough to pay back the compile,
    # off for the families it slows there (training/execution.py: use_xla)
    xla: str = "auto"
    # Training steps per compiled call: one dispatch for several steps (the Run still records
    # each step). None = auto: as many as keep a call under ~0.3 s by an estimate of the step's
    # cost, 1 with several replicas or a callback with per-batch hooks. A number must divide
    # validate_every (or the epoch) and checkpoint_every.
    steps_per_execution: int | None = None
    # Which devices to train on: GPU indices (0, 1) or TensorFlow names ("/cpu:0", "/gpu:1").
    # None = every GPU, or the CPU when there is none.
    devices: tuple[int | str, ...] | None = None
    # auto: multi_worker when TF_CONFIG names several workers, mirrored for several devices,
    # tpu on a TPU, else one device.
    strategy: str = "auto"
    seed: int = 0

    # Bookkeeping. A checkpoint is always written when a run stops, is interrupted or ends.
    checkpoint_every: int | None = None  # steps; None = after each validation
    validate_every: int | None = None  # steps; None = after each pass over the data
    record_every: int = 1  # keep metrics of every Nth step (1 = every step; it is cheap)
    keep_checkpoints: int = 2  # older ones are deleted; the last good one always stays

    def __post_init__(self):
        fields = Fields(self)
        fields.int("epochs", minimum=1, optional=True)
        fields.int("steps", minimum=1, optional=True)
        if self.epochs is None and self.steps is None:
            object.__setattr__(self, "epochs", 1)
        fields.int("batch_size", minimum=1)
        fields.choice("optimizer", OPTIMIZERS)
        fields.float("learning_rate", low=0.0, low_open=True)
        fields.choice("lr_schedule", LR_SCHEDULES)
        fields.int("warmup_steps", minimum=0)
        fields.float("min_lr_ratio", low=0.0, high=1.0)
        fields.float("weight_decay", low=0.0)
        fields.choice("weight_decay_on", WEIGHT_DECAY_ON)
        fields.float("clip_norm", low=0.0, low_open=True, optional=True)
        fields.int("grad_accum_steps", minimum=1)
        fields.choice("precision", PRECISIONS)
        fields.choice("xla", XLA_MODES)
        fields.int("steps_per_execution", minimum=1, optional=True)
        _check_devices(self)
        fields.choice("strategy", STRATEGIES)
        fields.int("seed", minimum=0, maximum=2**31 - 1)
        fields.int("checkpoint_every", minimum=1, optional=True)
        fields.int("validate_every", minimum=1, optional=True)
        fields.int("record_every", minimum=1)
        fields.int("keep_checkpoints", minimum=1)
        self._check_combinations()

    def _check_combinations(self):
        # Each error is filed under the field to change, whichever field its message names first.
        if self.lr_schedule == "warmup_cosine" and self.steps is not None and self.warmup_steps >= self.steps:
            self._combination_error("warmup_steps", (
                f"TrainConfig.warmup_steps={self.warmup_steps} must be smaller than "
                f"steps={self.steps}: the cosine decay needs steps left after the warmup."
            ))
        if self.warmup_steps and self.lr_schedule != "warmup_cosine":
            self._combination_error("warmup_steps", (
                f"TrainConfig.lr_schedule={self.lr_schedule!r} has no warmup: warmup_steps={self.warmup_steps} "
                "only applies to lr_schedule='warmup_cosine'. Set lr_schedule='warmup_cosine' or warmup_steps=0."
            ))
        if self.strategy == "one_device" and self.devices is not None and len(self.devices) != 1:
            self._combination_error("devices", (
                f"TrainConfig.devices={self.devices!r} names {len(self.devices)} devices but "
                "strategy='one_device' uses one: name a single device or use strategy='mirrored'."
            ))
        per_call = self.steps_per_execution
        for name in ("validate_every", "checkpoint_every"):
            every = getattr(self, name)
            if per_call and every and every % per_call:
                self._combination_error("steps_per_execution", (
                    f"TrainConfig.steps_per_execution={per_call} must divide {name}={every}: a compiled call "
                    f"of several steps cannot stop in the middle for it. Use a divisor of {every} or leave it "
                    "blank (auto)."
                ))

    def _combination_error(self, field: str, message: str):
        raise ConfigError(self, field, getattr(self, field), message.split(": ", 1)[-1], message=message)

    # ---- derived values -------------------------------------------------------------

    def per_replica_batch_size(self, replicas: int) -> int:
        """The batch each replica computes; the global batch must split evenly."""
        if self.batch_size % replicas:
            fix = f"use a multiple of {replicas}, e.g. {max(replicas, self.batch_size // replicas * replicas)}"
            raise ConfigError(self, "batch_size", self.batch_size, fix, message=(
                f"TrainConfig.batch_size={self.batch_size} does not split evenly over {replicas} replicas: {fix}."
            ))
        return self.batch_size // replicas

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps the run takes when a pass over the data is `steps_per_epoch`."""
        by_epochs = self.epochs * steps_per_epoch if self.epochs is not None else math.inf
        by_steps = self.steps if self.steps is not None else math.inf
        return int(min(by_epochs, by_steps))

    # ---- serialization --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if values["devices"] is not None:
            values["devices"] = list(values["devices"])
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        if not isinstance(values, dict):
            raise ValueError(
                f"TrainConfig.from_dict expects a dict of TrainConfig fields such as {_EXAMPLE}; "
                f"got {_shorten(values)} ({type(values).__name__})."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"TrainConfig has no field {unknown[0]!r}; the fields are: {', '.join(sorted(known))}."
            )
        values = dict(values)
        if isinstance(values.get("devices"), list):
            values["devices"] = tuple(values["devices"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The config `to_json()` wrote: a JSON object of fields; missing fields take their defaults."""
        expected = f"TrainConfig.from_json expects a JSON object of TrainConfig fields such as {_EXAMPLE}"
        try:
            values = json.loads(text)
        except (TypeError, ValueError) as error:  # not text at all, or not JSON (JSONDecodeError)
            raise ValueError(f"{expected}; got {_shorten(text)}, which is not JSON ({error}).") from None
        if not isinstance(values, dict):
            kind = {list: "array", str: "string", type(None): "null", bool: "boolean"}.get(type(values), "number")
            raise ValueError(
                f"{expected}; got {_shorten(text)}, a JSON {kind}. Pass the text TrainConfig.to_json() wrote."
            )
        return cls.from_dict(values)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated like a new config)."""
        return self.from_dict({**self.to_dict(), **changes})


FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))
_EXAMPLE = '{"steps": 200, "batch_size": 64}'


def _shorten(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- checks particular to TrainConfig ------------------------------------------------


def _check_devices(config):
    devices = config.devices
    if devices is None:
        return
    if isinstance(devices, (str, int)) and not isinstance(devices, bool):
        devices = (devices,)  # devices=0 or devices="/gpu:0" means that one device
    allowed = "give GPU indices like (0, 1) or device names like ('/cpu:0', '/gpu:1'), or None for all GPUs"
    fields = Fields(config)
    if not isinstance(devices, (tuple, list)) or not devices:
        fields.fail("devices", allowed)
    for device in devices:
        ok = (isinstance(device, int) and not isinstance(device, bool) and device >= 0) or (isinstance(device, str) and _DEVICE_NAME.match(device))
        if not ok:
            fields.fail("devices", f"{device!r} is not a device; {allowed}")
    if len(set(devices)) != len(devices):
        fields.fail("devices", f"it names a device twice; {allowed}")
    object.__setattr__(config, "devices", tuple(devices))
