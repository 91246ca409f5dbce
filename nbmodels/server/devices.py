"""Devices for the sidebar, without importing TensorFlow into the Jupyter server.

`nbmodels.devices()` needs TensorFlow (≈ 5 s and several hundred MB to import). The server
asks it once, in a child process (`nbmodels devices --json`), and keeps the list; what changes
(memory in use, GPU utilization) is re-read on every request from /proc/meminfo and NVML,
which are cheap and TensorFlow-free.
"""

from __future__ import annotations

import asyncio
import json
import sys

# Private helpers of nbmodels.devices, reused so that memory and NVML are read one way only.
from nbmodels.devices import _nvml_stats, _system_memory

LIST_TIMEOUT = 120  # seconds; a first TensorFlow import on a busy machine can take a while


class DeviceMonitor:
    """Lists devices once (in a child process), refreshes their live numbers on each call."""

    def __init__(self, command: list[str] | None = None):
        self._command = command or [sys.executable, "-m", "nbmodels.cli", "devices", "--json"]
        self._listing: list[dict] | None = None
        self._error: str | None = None
        self._lock = asyncio.Lock()

    async def snapshot(self) -> dict:
        """``{"devices": [...], "cpu_only": bool, "error": str | None}`` with fresh memory/utilization."""
        async with self._lock:
            if self._listing is None and self._error is None:
                await self._list()
        devices = [dict(d) for d in self._listing or []]
        await asyncio.get_running_loop().run_in_executor(None, refresh_live_numbers, devices)
        return {
            "devices": devices,
            "cpu_only": not any(d.get("kind") != "CPU" for d in devices),
            "error": self._error,
        }

    async def _list(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await asyncio.wait_for(process.communicate(), LIST_TIMEOUT)
            listing = json.loads(out) if process.returncode == 0 else None
        except (OSError, ValueError, asyncio.TimeoutError) as error:
            listing, err = None, str(error).encode()
        if isinstance(listing, list) and all(isinstance(d, dict) for d in listing):
            self._listing = listing
        else:
            # Said once, not retried on every poll: the sidebar shows it instead of devices.
            tail = err.decode(errors="replace").strip().splitlines()[-1:] if err else []
            self._error = "could not list devices: " + (tail[0] if tail else "no output")


def refresh_live_numbers(devices: list[dict]) -> None:
    """Update memory_used (and GPU utilization) in place; values that cannot be read stay as listed."""
    total, available = _system_memory()
    gpus = [d for d in devices if d.get("kind") == "GPU"]
    stats = _nvml_stats(len(gpus)) if gpus else []
    for device in devices:
        if device.get("kind") == "CPU" and total is not None and available is not None:
            device["memory_total"], device["memory_used"] = total, total - available
    for device, stat in zip(gpus, stats):
        # Same rule as nbmodels.devices: NVML and CUDA may number GPUs differently, so a
        # name mismatch means the numbers belong to another GPU.
        if stat is not None and stat["name"] == device.get("name"):
            device.update(memory_total=stat["total"], memory_used=stat["used"], utilization=stat["util"])
