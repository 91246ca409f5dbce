"""Foreground progress: the Run itself, redrawn at a bounded rate.

In a notebook the Run's HTML (and text) is shown once and updated in place through a display
handle; elsewhere a line is printed every few seconds. Either way it is an observer of the Run,
like every other view.
"""

from __future__ import annotations

import sys
import time

from nbmodels.runs.formatting import progress_line


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class Progress:
    """`with Progress(run): ...` shows the run's progress while the block runs."""

    def __init__(self, run, enabled: bool = True, interval: float | None = None):
        self.run = run
        self.enabled = enabled
        self.notebook = _in_notebook()
        self.interval = interval if interval is not None else (1.0 if self.notebook else 5.0)
        self._handle = None
        self._last = 0.0

    def __enter__(self):
        if self.enabled:
            if self.notebook:
                from IPython.display import display

                self._handle = display(self.run, display_id=True)
            self.run.observe(self._changed, names=["events_count"])
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.run.unobserve(self._changed, names=["events_count"])
            self._show()
        return False

    def _changed(self, _change):
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._show()

    def _show(self):
        if self._handle is not None:
            self._handle.update(self.run)
        else:
            print(progress_line(self.run), flush=True)
