"""Keep TensorFlow's start-up log out of notebook outputs, without hiding real errors.

On a machine without a GPU, importing TensorFlow prints a dozen C++ log lines straight to file
descriptor 2 (twice: two of its libraries initialise absl logging), and the first device lookup
adds `failed call to cuInit: ... UNKNOWN ERROR (303)`. ipykernel forwards fd 2 into the cell's
output, in red, where users read it as a failure. `TF_CPP_MIN_LOG_LEVEL` does not silence the
"Could not find cuda drivers" line, and raising it far enough to hide the cuInit line would also
hide real errors. So `import nbmodels` hides only INFO lines through that variable (when unset),
and installs an import hook: the first `import tensorflow`
(from nbmodels or from the user's own `import keras`) runs with fd 2 sent to a temporary file,
together with the first device lookup, and every captured line that is not known start-up noise
is written back to stderr afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# Start-up lines that say nothing is wrong: no GPU here, oneDNN on, CPU features, no TensorRT,
# absl not initialised yet, and the CUDA plugins registering twice on GPU machines.
NOISE = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
            r"Could not find cuda drivers on your machine",
            r"failed call to cuInit",
            r"oneDNN custom operations are on",
            r"cpu_feature_guard\.cc",
            r"rebuild TensorFlow with the appropriate compiler flags",
            r"TF-TRT Warning: Could not find TensorRT",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation_placer\.cc.*already registered",
        ]
    )
)


def is_startup_noise(line: str) -> bool:
    """True for a TensorFlow start-up log line that reports no problem (see `NOISE`)."""
    return bool(NOISE.search(line))


@contextlib.contextmanager
def quiet_startup_log():
    """Capture fd 2 for the block; afterwards write back every line that is not start-up noise.

    Works at the file-descriptor level because TensorFlow's C++ logging bypasses `sys.stderr`.
    A line written by anything else meanwhile (a real error) is kept, only delayed to the end.
    """
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (a windowless process): nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                if not is_startup_noise(line)
            ]
            if kept:
                os.write(2, "".join(kept).encode())


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader, and its first device lookup, inside `quiet_startup_log`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # Give the module its real loader back, so nothing downstream sees this wrapper.
        module.__loader__ = module.__spec__.loader = self._loader
        with quiet_startup_log():
            self._loader.exec_module(module)
            # The cuInit line comes with the first device lookup, which every use of
            # TensorFlow makes anyway; list_physical_devices leaves the devices configurable.
            # A failure here is TensorFlow's to report on first real use, not this import's.
            with contextlib.suppress(Exception):
                module.config.list_physical_devices()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Meta-path hook that wraps the loader of the first `import tensorflow`, then goes away."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(fullname)  # the other finders, now this one is gone
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


_hook = _QuietTensorFlowImport()


def install() -> None:
    """Quiet the first TensorFlow import from now on (nothing to do once it is imported).

    Also hides TensorFlow's INFO-level C++ lines for the session (XLA's "Compiled cluster"
    notices on a first compile, say), unless `TF_CPP_MIN_LOG_LEVEL` is already set: warnings
    and errors still print.
    """
    if "tensorflow" not in sys.modules and _hook not in sys.meta_path:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        sys.meta_path.insert(0, _hook)


def uninstall() -> None:
    """Remove the hook (it removes itself on the first `import tensorflow`)."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_hook)
