"""What the side-by-side benchmarks share: alternating timed calls, and naming the device."""

from __future__ import annotations

import os
import platform
import statistics
import time


def alternate(first, second, repeats: int) -> tuple[float, float]:
    """Median seconds of `first()` and `second()`: one untimed call each (compilation), then
    `repeats` timed calls each, alternating A B, B A, ... so drift on a busy machine hits both."""
    first(), second()
    times = {first: [], second: []}
    for index in range(repeats):
        for function in ((first, second) if index % 2 == 0 else (second, first)):
            started = time.perf_counter()
            function()
            times[function].append(time.perf_counter() - started)
    return statistics.median(times[first]), statistics.median(times[second])


def device_name() -> str:
    """The first GPU's name, or "CPU"."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return "CPU"


def cpu_name() -> str:
    """The processor's model name, for the machine a result came from."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(**extra) -> dict:
    """What a result file records about the machine it came from (plus `extra` entries)."""
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **extra,
    }


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    """PASS or MISS, the word every bench's last lines end with."""
    return "PASS" if (value >= target if higher_is_better else value <= target) else "MISS"


def add_gpt_dimensions(parser, *, sequence_flag: str, sequence_default: int) -> None:
    """The model-size flags both keras-hub comparisons take (GPT-2's architecture, small sizes)."""
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--vocabulary", type=int, default=8192)
    parser.add_argument(sequence_flag, type=int, default=sequence_default)


def import_keras_hub():
    """keras_hub, or None (with the install command printed) when the `bench` extra is missing."""
    try:
        import keras_hub
    except ImportError:
        print('keras-hub is not installed: pip install -e ".[bench]"')
        return None
    return keras_hub
