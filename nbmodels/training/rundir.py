"""The files of a run directory, read and written without TensorFlow.

Several processes share a run directory: the kernel that trains writes it; the CLI, the
Jupyter server extension and other kernels read it, and may ask the run to stop. So every
file is either append-only or replaced atomically, and readers skip what they cannot parse.

Layout of ``<root>/<run id>/``::

    config.json      {"name", "model", "train_config": {...TrainConfig...}, "data": {...}, "created"}
    status.json      {"status", "message", "step", "total_steps", "epoch", "pid", "host",
                      "updated"}  -- replaced atomically (write a temp file, then rename)
    events.jsonl     append-only, one JSON object a line, flushed; schema below
    stop             exists = a stop was requested (by any process)
    checkpoints/step-000000120/   variables.npz + progress.json, written under a temp name
                                  and renamed, so a checkpoint that exists is complete

Event schema (every event has "type" and "time", seconds since the epoch):

    {"type": "start",  "step": 0, "total_steps": N, "steps_per_epoch": S, "replicas": R,
     "strategy": "...", "precision": "...", "xla": bool, "devices": [...], "resumed": bool}
    {"type": "step",   "step": k, "epoch": e, "metrics": {"loss": x, ...}}
        k counts optimizer steps from 1; e is the fractional pass over the data;
        metrics hold that batch's values (not Keras' running epoch mean)
    {"type": "progress", "step": k, "samples_per_second": x, "tokens_per_second": x | null,
     "eta_seconds": x | null, "learning_rate": x, "memory": {"device": "GPU:0",
     "current_bytes": n, "peak_bytes": n}}  -- at most a few times a second
    {"type": "validation", "step": k, "epoch": e, "metrics": {"val_loss": x, ...}}
    {"type": "checkpoint", "step": k, "path": "checkpoints/step-..."}
    {"type": "resume", "step": k}
        training restarted from the checkpoint at step k: events for steps > k written
        before this line belong to the lost stretch and are dropped by readers
    {"type": "status", "status": "...", "message": "..."}
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

ROOT_ENV = "NBMODELS_RUNS_DIR"
STATUSES = ("created", "running", "stopping", "stopped", "finished", "failed", "diverged", "interrupted")
ACTIVE = ("running", "stopping")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def runs_root(root: str | os.PathLike | None = None) -> Path:
    """Where runs live: `root`, else $NBMODELS_RUNS_DIR, else ~/.nbmodels/runs."""
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get(ROOT_ENV) or Path.home() / ".nbmodels" / "runs").expanduser()


def is_run_id(run_id) -> bool:
    """A run id is one plain path component: no separators, no '..', nothing absolute."""
    return isinstance(run_id, str) and bool(_RUN_ID.match(run_id)) and ".." not in run_id


def check_run_id(run_id: str) -> str:
    if not is_run_id(run_id):
        raise ValueError(
            f"{run_id!r} is not a run id: ids are letters, digits, '_', '-' and '.', "
            "up to 128 characters, like '20261123-142501-gpt'."
        )
    return run_id


def run_dir(run_id: str, root=None) -> Path:
    return runs_root(root) / check_run_id(run_id)


def write_json_atomic(path: Path, value) -> None:
    """Readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=_jsonable))
    os.replace(tmp, path)


def read_json(path: Path):
    """The parsed file, or None when it is missing, half-written or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _jsonable(value):
    # numpy scalars and arrays reach events from metrics; keep the file plain JSON.
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


_ENCODER = json.JSONEncoder(default=_jsonable)  # one instance: json.dumps builds one per call


class EventLog:
    """Appends events to events.jsonl; one `write` call per batch of events."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, events: list[dict]) -> None:
        if not events:
            return
        encode = _ENCODER.encode
        self._file.write("".join(encode(e) + "\n" for e in events))
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_events(path: Path, offset: int = 0, limit: int | None = None) -> tuple[list[dict], int]:
    """Events from byte `offset` on, and the offset to continue from.

    Lines that are not JSON objects with a "type" are skipped; a last line without its
    newline is still being written, so it is left for the next read.
    """
    events = []
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            while limit is None or len(events) < limit:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and isinstance(event.get("type"), str):
                    events.append(event)
    except OSError:
        pass
    return events, offset


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def effective_status(status: dict | None, stale_after: float = 120.0) -> str:
    """The status a reader should show: a run whose process died says 'interrupted'.

    A training process updates status.json every few seconds; if it is marked active but its
    process is gone (same host) or silent for `stale_after` seconds, it was killed.
    """
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        return "interrupted" if status is not None else "created"
    value = status["status"]
    if value not in ACTIVE:
        return value
    same_host = status.get("host") == socket.gethostname()
    pid = status.get("pid")
    if same_host and isinstance(pid, int) and not pid_alive(pid):
        return "interrupted"
    updated = status.get("updated")
    if not same_host and isinstance(updated, (int, float)) and time.time() - updated > stale_after:
        return "interrupted"
    return value
