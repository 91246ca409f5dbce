"""From a TrainConfig to a distribution strategy, a precision policy and an XLA choice.

The model must be built inside the strategy's scope after the precision policy is set,
which is why `train()` takes a builder rather than a built model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading

from nbmodels.checks import fail
from nbmodels.config import TrainConfig

_strategies: dict = {}  # one strategy per device set: TensorFlow allows one multi-worker strategy a process
_policy_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Runtime:
    """What a config resolved to on this machine."""

    strategy: object  # tf.distribute.Strategy
    strategy_name: str
    replicas: int
    precision: str
    xla: bool  # before the model: `execution.use_xla` settles "auto" on a CPU per model
    accelerated: bool  # GPUs or a TPU
    devices: tuple[str, ...]
    is_chief: bool  # the worker that writes the run directory

    def describe(self) -> dict:
        return {
            "strategy": self.strategy_name,
            "replicas": self.replicas,
            "precision": self.precision,
            "xla": self.xla,
            "devices": list(self.devices),
        }


def resolve(config: TrainConfig) -> Runtime:
    import tensorflow as tf

    from nbmodels.devices import devices as list_devices
    from nbmodels.devices import recommended_precision

    name = config.strategy
    if name == "auto" and _tf_config_workers() > 1:
        name = "multi_worker"
    if name == "multi_worker":
        # Collective ops are configured when the strategy is made, which TensorFlow allows
        # only before its runtime starts: make it before anything below touches devices.
        _strategy(name, (), tf)

    gpus = list_devices("GPU")
    if config.devices is None:
        names = tuple(f"/gpu:{d.index}" for d in gpus) or ("/cpu:0",)
    else:
        names = tuple(f"/gpu:{d}" if isinstance(d, int) else d.lower() for d in config.devices)
    if name != "multi_worker":  # a worker's devices are named per job once the cluster is up
        _check_devices_exist(config, names, tf)

    if name == "auto":
        if tf.config.list_logical_devices("TPU"):
            name = "tpu"
        elif len(names) > 1:
            name = "mirrored"
        else:
            name = "one_device" if names[0] != "/cpu:0" else "default"
    if name in ("default", "one_device") and len(names) > 1:
        fail(config, "strategy", config.strategy,
             f"it trains on one device but devices={names!r}; use strategy='mirrored' (or 'auto') for several")

    strategy = _strategy(name, () if name == "multi_worker" else names, tf)
    used_gpus = [d for d in gpus if f"/gpu:{d.index}" in names]
    precision = config.precision
    if precision == "auto":
        precision = "mixed_bfloat16" if name == "tpu" else recommended_precision(used_gpus or None)
    accelerated = bool(used_gpus) or name == "tpu"
    xla = {"on": True, "off": False}.get(config.xla, accelerated)
    resolver = getattr(strategy, "cluster_resolver", None)
    is_chief = True
    if name == "multi_worker" and resolver is not None:
        is_chief = resolver.task_type in (None, "chief") or (
            resolver.task_type == "worker" and resolver.task_id == 0 and not _has_chief()
        )
    return Runtime(
        strategy=strategy,
        strategy_name=name,
        replicas=strategy.num_replicas_in_sync,
        precision=precision,
        xla=xla,
        accelerated=accelerated,
        devices=names,
        is_chief=is_chief,
    )


def _strategy(name, devices, tf):
    key = (name, devices)
    if key in _strategies:
        return _strategies[key]
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(devices[0])
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(list(devices))
    elif name == "multi_worker":
        if _tf_config_workers() < 1:
            fail(TrainConfig, "strategy", "multi_worker", (
                "it needs the TF_CONFIG environment variable to describe the cluster (every worker's "
                "address and this worker's index), set before the kernel starts; see "
                "https://www.tensorflow.org/guide/distributed_training"
            ))
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise ValueError(
                "TrainConfig.strategy='multi_worker' must be set up before TensorFlow runs anything in "
                f"this process ({error}): restart the kernel and call train() before other TensorFlow work."
            ) from None
    elif name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    else:  # TrainConfig validated it; this is a programming error
        raise AssertionError(name)
    _strategies[key] = strategy
    return strategy


def _check_devices_exist(config, names, tf):
    logical = {d.name.lower().replace("/job:localhost/replica:0/task:0", "").replace("device:", "")
               for d in tf.config.list_logical_devices()}
    missing = [n for n in names if "job:" not in n and n.replace("device:", "") not in logical]
    if missing:
        have = ", ".join(sorted(logical)) or "none"
        fail(config, "devices", config.devices, (
            f"this machine does not have {', '.join(missing)} (it has {have}); `nbmodels devices` lists them"
        ))


def _tf_config():
    try:
        return json.loads(os.environ.get("TF_CONFIG") or "{}")
    except ValueError as error:
        raise ValueError(f"The TF_CONFIG environment variable is not valid JSON ({error}).") from None


def _tf_config_workers() -> int:
    cluster = _tf_config().get("cluster", {})
    return sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))


def _has_chief() -> bool:
    return bool(_tf_config().get("cluster", {}).get("chief"))


@contextlib.contextmanager
def precision_policy(precision: str):
    """Build under `precision`, then put the global policy back: the layers keep theirs."""
    import keras

    with _policy_lock:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(precision)
        try:
            yield
        finally:
            keras.mixed_precision.set_global_policy(previous)
