"""TensorFlow's start-up log stays out of notebook outputs; real errors still reach stderr."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbmodels._startup_log import is_startup_noise

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))

# The lines TensorFlow prints on a CPU-only machine (copied from a real run here).
STARTUP_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796155259.079781    7307 port.cc:153] oneDNN custom operations are on. You may see "
    "slightly different numerical results due to floating-point round-off errors from different "
    "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796155259.080092    7307 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "I0000 00:00:1796155259.121157    7307 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796155262.760221    7307 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]

REAL_ERROR = "E0000 00:00:1.0 1 op_kernel.cc:1] a real error written while TensorFlow loads"

# A subprocess: import nbmodels, then have something write a real error line to fd 2 in the
# middle of TensorFlow's own import (when it imports one of its modules), then load Keras
# through nbmodels and make the first device lookup.
SCRIPT = f"""
import importlib.abc, os, sys
import nbmodels

class WriteDuringImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow.python.framework.ops":
            os.write(2, {REAL_ERROR!r}.encode() + b"\\n")
        return None

sys.meta_path.insert(0, WriteDuringImport())  # asked first, for every module
from nbmodels.models import mlp
model = mlp((4,), 3, hidden=(8,))
import tensorflow as tf
tf.function(lambda x: x * 2.0, jit_compile=True)(tf.constant([1.0]))  # XLA's first compile logs INFO lines
print(len(nbmodels.devices()) >= 1, model.count_params())
"""


@pytest.mark.parametrize("line", STARTUP_LINES)
def test_each_startup_line_is_noise(line):
    assert is_startup_noise(line)


@pytest.mark.parametrize(
    "line",
    [REAL_ERROR, "Traceback (most recent call last):", "ResourceExhaustedError: OOM when allocating"],
)
def test_other_lines_are_not_noise(line):
    assert not is_startup_noise(line)


def users_environment() -> dict:
    """This process' environment as a user's would be: tests/conftest.py sets TF_CPP_MIN_LOG_LEVEL,
    and ipykernel stops forwarding fd 2 into outputs when it sees PYTEST_CURRENT_TEST."""
    return {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")}


def test_loading_keras_through_nbmodels_prints_no_startup_log_but_keeps_real_errors():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=True, env=users_environment()
    )
    assert result.stdout.split() == ["True", str(4 * 8 + 8 + 8 * 3 + 3)]
    noise = [line for line in result.stderr.splitlines() if is_startup_noise(line) or re.match(r"I\d{4} ", line)]
    assert noise == [], f"TensorFlow's start-up log reached stderr:\n{result.stderr}"
    assert REAL_ERROR in result.stderr.splitlines(), f"the real error was hidden:\n{result.stderr}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_of_each_notebook_writes_nothing_to_stderr(path, tmp_path, monkeypatch):
    """The first code cell is where TensorFlow loads; run it in a real kernel."""
    monkeypatch.setenv("NBMODELS_RUNS_DIR", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    notebook.cells = [first]
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute(env=users_environment())
    stderr = [o for o in first.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert stderr == [], f"{path.name}'s first cell wrote to stderr:\n{json.dumps(stderr, indent=1)}"
