"""Device discovery: what this machine can train on, and at which precision.

Every function here is safe on a machine without a GPU, without NVIDIA
drivers and without `pynvml`: missing pieces show up as `None` fields, never
as exceptions. TensorFlow is imported inside the functions so that
`import nbmodels.devices` stays light (the CLI and the Jupyter server
extension list devices without paying for a TensorFlow import up front).

Example:

```python
from nbmodels.devices import devices, recommended_precision

for device in devices():
    print(device.summary())
# CPU 0: AMD EPYC, 23.5 GiB, recommends float32
print(recommended_precision())
# float32
```
"""

import os
import platform
import sys
import types
from dataclasses import asdict
from dataclasses import dataclass

KINDS = ("CPU", "GPU", "TPU")

# Keras dtype policy names, from least to most capable: `recommended_precision`
# picks the least capable one so every accelerator in use can run it.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Device:
    """One device TensorFlow can place work on.

    Args:
        kind: str. `"CPU"`, `"GPU"` or `"TPU"`.
        index: int. The device's index among devices of its kind, as in
            `"/physical_device:GPU:<index>"`.
        name: str. A human name, e.g. `"NVIDIA H100 80GB HBM3"` or the CPU
            model.
        tf_name: str. The name TensorFlow lists the device under.
        memory_total: int or None. Bytes of device memory (system RAM for
            the CPU); `None` when unknown.
        memory_used: int or None. Bytes in use; `None` when unknown.
        compute_capability: tuple of two ints or None. CUDA compute
            capability of a GPU, e.g. `(9, 0)`.
        utilization: float or None. GPU utilization in percent (0-100) as
            NVML reports it; `None` without NVML and for other kinds.
        recommended_precision: str. The Keras dtype policy this device runs
            fastest with: `"mixed_bfloat16"`, `"mixed_float16"` or
            `"float32"`.

    Example:

    ```python
    device = nbmodels.devices.devices("CPU")[0]
    device.summary()
    # 'CPU 0: AMD EPYC, 23.5 GiB, recommends float32'
    json.dumps(device.to_dict())
    ```
    """

    kind: str
    index: int
    name: str
    tf_name: str
    memory_total: int | None = None
    memory_used: int | None = None
    compute_capability: tuple[int, int] | None = None
    utilization: float | None = None
    recommended_precision: str = "float32"

    def to_dict(self):
        """Return a JSON-serializable dict of every field."""
        data = asdict(self)
        if self.compute_capability is not None:
            data["compute_capability"] = list(self.compute_capability)
        return data

    def summary(self):
        """Return a one-line description; unknown values are left out."""
        parts = [f"{self.kind} {self.index}: {self.name}"]
        if self.memory_total is not None:
            parts.append(format_bytes(self.memory_total))
        if self.compute_capability is not None:
            parts.append("compute {}.{}".format(*self.compute_capability))
        parts.append(f"recommends {self.recommended_precision}")
        return ", ".join(parts)


def format_bytes(n):
    """Format a byte count with binary units, e.g. `"1.5 GiB"`.

    Args:
        n: int or None. A number of bytes; `None` formats as `"?"`.

    Example:

    ```python
    format_bytes(1536 * 1024**2)  # '1.5 GiB'
    format_bytes(512)  # '512 B'
    format_bytes(None)  # '?'
    ```
    """
    if n is None:
        return "?"
    if abs(n) < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if abs(value) < 1024:
            break
    else:
        value /= 1024
        unit = "PiB"
    return f"{value:.1f} {unit}"


def precision_for(kind, compute_capability=None):
    """Return the Keras dtype policy a device of this kind runs best with.

    bfloat16 needs no loss scaling and has tensor-core support from Ampere
    (compute capability 8.0) on; Volta and Turing (7.x) have float16 tensor
    cores only, which Keras pairs with loss scaling under `"mixed_float16"`;
    older GPUs gain nothing from half precision. TPUs compute in bfloat16.

    Args:
        kind: str. `"CPU"`, `"GPU"` or `"TPU"` (case-insensitive).
        compute_capability: tuple of two ints or None. The GPU's CUDA compute
            capability; an unknown one gets the safe `"float32"`.

    Example:

    ```python
    precision_for("GPU", (8, 6))  # 'mixed_bfloat16'
    precision_for("GPU", (7, 5))  # 'mixed_float16'
    precision_for("CPU")  # 'float32'
    ```
    """
    kind = _normalize_kind(kind)
    if kind == "TPU":
        return "mixed_bfloat16"
    if kind == "GPU" and compute_capability is not None:
        if tuple(compute_capability) >= (8, 0):
            return "mixed_bfloat16"
        if tuple(compute_capability) >= (7, 0):
            return "mixed_float16"
    return "float32"


def devices(kind=None):
    """List the devices TensorFlow sees: CPUs first, then GPUs, then TPUs.

    Listing uses `tf.config.list_physical_devices`, which, unlike listing
    logical devices, does not create a GPU context (and so does not grab GPU
    memory or freeze device configuration). GPU memory and utilization come
    from NVML when `pynvml` and the NVIDIA driver are present.

    Args:
        kind: str or None. Only list devices of this kind (`"CPU"`, `"GPU"`
            or `"TPU"`, case-insensitive); `None` lists all.

    Returns:
        A list of `Device`.

    Example:

    ```python
    [d.summary() for d in devices()]
    # ['CPU 0: AMD EPYC, 23.5 GiB, recommends float32']
    devices("gpu")  # [] on a machine without GPUs
    ```
    """
    return _list_devices(KINDS if kind is None else (_normalize_kind(kind),))


def recommended_precision(devices=None):
    """Return what `TrainConfig(precision="auto")` resolves to.

    The accelerators (GPUs and TPUs) decide; when they differ, the least
    capable one does, because a distribution strategy runs the same policy
    on every replica. With only CPUs the answer is `"float32"`.

    Args:
        devices: list of `Device` or None. Defaults to all devices of this
            machine.

    Example:

    ```python
    recommended_precision()  # 'float32' on a CPU-only machine
    ```
    """
    if devices is None:
        devices = _list_devices(("GPU", "TPU"))
    accelerators = [d for d in devices if d.kind != "CPU"]
    if not accelerators:
        return "float32"
    return min(
        (d.recommended_precision for d in accelerators),
        key=PRECISIONS.index,
    )


def gpu_count():
    """Return the number of GPUs TensorFlow sees, without initializing them.

    Example:

    ```python
    gpu_count()  # 0 on a CPU-only machine
    ```
    """
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def _list_devices(kinds):
    listers = {"CPU": _cpu_devices, "GPU": _gpu_devices, "TPU": _tpu_devices}
    return [device for kind in kinds for device in listers[kind]()]


def _normalize_kind(kind):
    normalized = kind.upper() if isinstance(kind, str) else kind
    if normalized not in KINDS:
        raise ValueError(
            f"Device kind must be one of {', '.join(KINDS)} "
            f"(case-insensitive); received kind={kind!r}."
        )
    return normalized


def _index(tf_name):
    # "/physical_device:GPU:3" -> 3; keeps TensorFlow's numbering even when
    # `tf.config.set_visible_devices` hides some devices.
    return int(tf_name.rsplit(":", 1)[-1])


def _cpu_devices():
    import tensorflow as tf

    total, available = _system_memory()
    used = None if total is None or available is None else total - available
    name = _cpu_name()
    return [
        Device(
            kind="CPU",
            index=_index(cpu.name),
            name=name,
            tf_name=cpu.name,
            memory_total=total,
            memory_used=used,
            recommended_precision=precision_for("CPU"),
        )
        for cpu in tf.config.list_physical_devices("CPU")
    ]


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _system_memory():
    """Return (total, available) bytes of RAM; either may be None."""
    meminfo = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields = value.split()
                if fields and fields[0].isdigit():
                    meminfo[key] = int(fields[0]) * 1024  # values are in kB
    except OSError:
        pass
    total = meminfo.get("MemTotal")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            total = None
    return total, meminfo.get("MemAvailable")


def _gpu_devices():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return []
    nvml_stats = _nvml_stats(len(gpus))
    result = []
    for position, gpu in enumerate(gpus):
        details = tf.config.experimental.get_device_details(gpu)
        name = details.get("device_name") or gpu.name
        capability = details.get("compute_capability")
        stats = nvml_stats[position]
        # NVML numbers devices by PCI bus, CUDA (and so TensorFlow) may not:
        # a name mismatch means the mapping is wrong, so trust neither.
        if stats is not None and stats["name"] != name:
            stats = None
        if stats is None:
            stats = {"total": None, "used": _tf_memory_used(gpu), "util": None}
        result.append(
            Device(
                kind="GPU",
                index=_index(gpu.name),
                name=name,
                tf_name=gpu.name,
                memory_total=stats["total"],
                memory_used=stats["used"],
                compute_capability=tuple(capability) if capability else None,
                utilization=stats["util"],
                recommended_precision=precision_for("GPU", capability),
            )
        )
    return result


def _nvml_stats(count):
    """NVML name, memory and utilization for each of the `count` CUDA GPUs.

    Returns a list with one dict (or None when unavailable) per GPU, in
    CUDA order: `CUDA_VISIBLE_DEVICES` (indices or UUIDs) says which NVML
    device each CUDA index is.
    """
    try:
        import pynvml
    except ImportError:
        return [None] * count
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        # NVMLError_LibraryNotFound without NVIDIA drivers, among others.
        return [None] * count
    try:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        selectors = (
            [s.strip() for s in visible.split(",")]
            if visible
            else [str(i) for i in range(count)]
        )
        return [
            _nvml_device_stats(pynvml, selector)
            for selector in selectors[:count]
        ] + [None] * (count - len(selectors))
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _nvml_device_stats(pynvml, selector):
    try:
        if selector.isdigit():
            handle = pynvml.nvmlDeviceGetHandleByIndex(int(selector))
        else:
            handle = pynvml.nvmlDeviceGetHandleByUUID(selector)
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    except pynvml.NVMLError:
        return None
    stats = {
        # Older pynvml releases return bytes.
        "name": name.decode() if isinstance(name, bytes) else name,
        "total": int(memory.total),
        "used": int(memory.used),
        "util": None,
    }
    try:
        stats["util"] = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        pass  # MIG slices and some vGPUs do not report utilization.
    return stats


def _tf_memory_used(gpu):
    """Bytes TensorFlow has allocated on `gpu`, if the runtime is running.

    `get_memory_info` would otherwise initialize every GPU itself, so it is
    only asked once something else has started the runtime.
    """
    import tensorflow as tf

    if not _runtime_initialized():
        return None
    visible = tf.config.get_visible_devices("GPU")
    logical = tf.config.list_logical_devices("GPU")
    # Logical GPUs follow visible physical ones one to one unless a GPU was
    # split into several; then the per-physical number is not available.
    if gpu not in visible or len(logical) != len(visible):
        return None
    try:
        info = tf.config.experimental.get_memory_info(
            f"GPU:{visible.index(gpu)}"
        )
    except (ValueError, RuntimeError):
        return None
    return int(info["current"])


def _tpu_devices():
    import tensorflow as tf

    tpus = tf.config.list_physical_devices("TPU")
    names = [tpu.name for tpu in tpus]
    # A Colab TPU is remote: it shows up only as logical devices once
    # `tf.tpu.experimental.initialize_tpu_system` has run. Listing logical
    # devices starts the runtime, so only look when it already runs.
    if not names and _runtime_initialized():
        names = [d.name for d in tf.config.list_logical_devices("TPU")]
    return [
        Device(
            kind="TPU",
            index=_index(name),
            name="TPU",
            tf_name=name,
            recommended_precision=precision_for("TPU"),
        )
        for name in names
    ]


def _runtime_initialized():
    # No public API answers this without initializing the runtime itself.
    from tensorflow.python.eager import context

    return bool(getattr(context.context(), "_initialized", False))


def memory_usage(device: str | None) -> dict:
    """Current and peak memory of the training device: TensorFlow's allocator on a GPU, the
    process's resident memory on a CPU."""
    if device and not device.upper().startswith("CPU"):
        import tensorflow as tf

        try:
            info = tf.config.experimental.get_memory_info(device)
            return {"device": device, "current_bytes": info["current"], "peak_bytes": info["peak"]}
        except (ValueError, RuntimeError):
            return {"device": device}
    return {"device": "CPU", "current_bytes": _resident_bytes(), "peak_bytes": _peak_resident_bytes()}


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _peak_resident_bytes() -> int | None:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # kilobytes on Linux
    except (ImportError, OSError):
        return None


class _CallableModule(types.ModuleType):
    """`nbmodels.devices()` reads best, but Python binds a package attribute to its submodule
    of the same name on import; making this module callable keeps both spellings working."""

    def __call__(self, kind: str | None = None) -> list[Device]:
        return devices(kind)


sys.modules[__name__].__class__ = _CallableModule
