import json
import subprocess
import sys
import types

import pytest

from nbmodels.devices import Device
from nbmodels.devices import devices
from nbmodels.devices import format_bytes
from nbmodels.devices import gpu_count
from nbmodels.devices import precision_for
from nbmodels.devices import recommended_precision


def _gpu(capability, index=0):
    return Device(
        kind="GPU",
        index=index,
        name="test GPU",
        tf_name=f"/physical_device:GPU:{index}",
        compute_capability=capability,
        recommended_precision=precision_for("GPU", capability),
    )


# Written on a CPU-only machine without NVIDIA driver or pynvml; the
# assertions that only hold there are skipped where a GPU is present.
cpu_only = pytest.mark.skipif(gpu_count() > 0, reason="a GPU is present")


# --- this machine ------------------------------------------------------------


def test_lists_exactly_one_cpu_first_with_its_memory():
    listed = devices()
    assert [d.kind for d in listed].count("CPU") == 1
    cpu = listed[0]
    assert cpu.index == 0
    assert cpu.tf_name == "/physical_device:CPU:0"
    assert cpu.name.strip()
    assert cpu.memory_total > 0
    assert 0 <= cpu.memory_used <= cpu.memory_total
    assert cpu.compute_capability is None
    assert cpu.utilization is None
    assert cpu.recommended_precision == "float32"


def test_to_dict_is_json_serializable_and_complete():
    (cpu,) = devices("CPU")
    data = json.loads(json.dumps(cpu.to_dict()))
    assert data["kind"] == "CPU"
    assert data["memory_total"] == cpu.memory_total
    assert set(data) == {
        "kind",
        "index",
        "name",
        "tf_name",
        "memory_total",
        "memory_used",
        "compute_capability",
        "utilization",
        "recommended_precision",
    }


def test_to_dict_turns_compute_capability_into_a_list():
    assert json.loads(json.dumps(_gpu((8, 6)).to_dict()))[
        "compute_capability"
    ] == [8, 6]


def test_summary_is_one_line():
    (cpu,) = devices("CPU")
    summary = cpu.summary()
    assert "\n" not in summary
    assert summary.startswith(f"CPU 0: {cpu.name}, ")
    assert format_bytes(cpu.memory_total) in summary
    assert summary.endswith("recommends float32")


def test_gpu_summary_matches_documented_format():
    gpu = Device(
        kind="GPU",
        index=0,
        name="NVIDIA H100 80GB HBM3",
        tf_name="/physical_device:GPU:0",
        memory_total=int(79.6 * 1024**3),
        compute_capability=(9, 0),
        recommended_precision="mixed_bfloat16",
    )
    assert gpu.summary() == (
        "GPU 0: NVIDIA H100 80GB HBM3, 79.6 GiB, compute 9.0, "
        "recommends mixed_bfloat16"
    )


@cpu_only
def test_recommended_precision_is_float32_without_accelerators():
    assert recommended_precision() == "float32"
    assert recommended_precision(devices("CPU")) == "float32"
    assert recommended_precision([]) == "float32"


@cpu_only
def test_cpu_only_machine_has_no_accelerators():
    assert gpu_count() == 0
    assert devices("GPU") == []
    assert devices("tpu") == []
    assert [d.kind for d in devices()] == ["CPU"]


def test_kind_filter_is_case_insensitive():
    assert [d.kind for d in devices("cpu")] == ["CPU"]
    assert [d.tf_name for d in devices("Gpu")] == [
        d.tf_name for d in devices() if d.kind == "GPU"
    ]


@pytest.mark.parametrize("kind", ["XPU", "", "gpus", 0])
def test_bad_kind_names_allowed_values(kind):
    with pytest.raises(ValueError, match="CPU, GPU, TPU") as error:
        devices(kind)
    assert repr(kind) in str(error.value)


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, nbmodels.devices; "
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


# --- precision rules ---------------------------------------------------------


@pytest.mark.parametrize(
    "kind, capability, expected",
    [
        ("GPU", (9, 0), "mixed_bfloat16"),  # Hopper
        ("GPU", (8, 6), "mixed_bfloat16"),  # Ampere consumer
        ("GPU", (8, 0), "mixed_bfloat16"),  # A100
        ("GPU", (7, 5), "mixed_float16"),  # Turing, e.g. Colab's T4
        ("GPU", (7, 0), "mixed_float16"),  # V100
        ("GPU", (6, 1), "float32"),  # Pascal: no tensor cores
        ("GPU", None, "float32"),  # unknown: the safe choice
        ("gpu", (8, 0), "mixed_bfloat16"),
        ("CPU", None, "float32"),
        ("TPU", None, "mixed_bfloat16"),
    ],
)
def test_precision_for(kind, capability, expected):
    assert precision_for(kind, capability) == expected


def test_precision_for_rejects_unknown_kind():
    with pytest.raises(ValueError, match="CPU, GPU, TPU"):
        precision_for("NPU", (8, 0))


def test_recommended_precision_follows_least_capable_accelerator():
    (cpu,) = devices("CPU")
    assert recommended_precision([cpu, _gpu((9, 0))]) == "mixed_bfloat16"
    assert recommended_precision([_gpu((8, 0)), _gpu((7, 5), 1)]) == (
        "mixed_float16"
    )
    assert recommended_precision([_gpu((7, 0)), _gpu((6, 1), 1)]) == "float32"


# --- format_bytes ------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    [
        (None, "?"),
        (0, "0 B"),
        (512, "512 B"),
        (1024, "1.0 KiB"),
        (1536 * 1024**2, "1.5 GiB"),
        (80 * 1024**3, "80.0 GiB"),
        (3 * 1024**4, "3.0 TiB"),
        (2 * 1024**5, "2.0 PiB"),
    ],
)
def test_format_bytes(n, expected):
    assert format_bytes(n) == expected


# --- GPU path, with the hardware faked (this machine has none) ---------------


class _NVMLError(Exception):
    pass


def _fake_pynvml(gpus, init_error=None):
    """A pynvml stand-in; `gpus`: index or UUID -> (name, total, used)."""

    def handle(key):
        if key not in gpus:
            raise _NVMLError(f"no device {key}")
        return key

    def init():
        if init_error is not None:
            raise init_error

    return types.SimpleNamespace(
        NVMLError=_NVMLError,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByIndex=handle,
        nvmlDeviceGetHandleByUUID=handle,
        nvmlDeviceGetName=lambda h: gpus[h][0].encode(),  # old pynvml: bytes
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(
            total=gpus[h][1], used=gpus[h][2]
        ),
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=42),
    )


@pytest.fixture
def fake_gpus(monkeypatch):
    """Make TensorFlow list two GPUs: an H100 and a T4."""
    import tensorflow as tf

    physical = [
        tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU")
        for i in range(2)
    ]
    details = {
        physical[0].name: ("NVIDIA H100 80GB HBM3", (9, 0)),
        physical[1].name: ("Tesla T4", (7, 5)),
    }
    real_list = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: physical if kind == "GPU" else real_list(kind),
    )
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: dict(
            zip(("device_name", "compute_capability"), details[device.name])
        ),
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_gpus_without_nvml_still_list_name_and_capability(fake_gpus):
    h100, t4 = devices("GPU")
    assert h100.name == "NVIDIA H100 80GB HBM3"
    assert h100.compute_capability == (9, 0)
    assert h100.recommended_precision == "mixed_bfloat16"
    assert (t4.index, t4.recommended_precision) == (1, "mixed_float16")
    assert h100.memory_total is None and h100.utilization is None
    assert gpu_count() == 2
    assert recommended_precision() == "mixed_float16"
    assert [d.kind for d in devices()] == ["CPU", "GPU", "GPU"]


def test_nvml_library_not_found_is_not_an_error(fake_gpus, monkeypatch):
    pynvml = _fake_pynvml({}, init_error=_NVMLError("LibraryNotFound"))
    monkeypatch.setitem(sys.modules, "pynvml", pynvml)
    assert [d.memory_total for d in devices("GPU")] == [None, None]


def test_nvml_fills_memory_and_utilization(fake_gpus, monkeypatch):
    pynvml = _fake_pynvml(
        {
            0: ("NVIDIA H100 80GB HBM3", 80 * 1024**3, 1024**3),
            1: ("Tesla T4", 16 * 1024**3, 0),
        }
    )
    monkeypatch.setitem(sys.modules, "pynvml", pynvml)
    h100, t4 = devices("GPU")
    assert (h100.memory_total, h100.memory_used) == (80 * 1024**3, 1024**3)
    assert h100.utilization == 42.0
    assert t4.memory_total == 16 * 1024**3


def test_nvml_follows_cuda_visible_devices(fake_gpus, monkeypatch):
    pynvml = _fake_pynvml(
        {
            "GPU-aaaa": ("Tesla T4", 16 * 1024**3, 0),
            "GPU-bbbb": ("NVIDIA H100 80GB HBM3", 80 * 1024**3, 0),
        }
    )
    monkeypatch.setitem(sys.modules, "pynvml", pynvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb,GPU-aaaa")
    assert [d.memory_total for d in devices("GPU")] == [
        80 * 1024**3,
        16 * 1024**3,
    ]
    # When NVML's device is not the one TensorFlow means, its numbers are
    # not attached to the wrong GPU.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa,GPU-bbbb")
    assert [d.memory_total for d in devices("GPU")] == [None, None]
