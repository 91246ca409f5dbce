"""`Run`: the one object every view observes.

Training writes to a Run; dashboards, the CLI and the Jupyter server only read it. A Run is
plain traitlets (no widgets, no plotly, no TensorFlow), mirrored to a run directory (see
`rundir`) so other processes see the same run. How it reads in text and HTML lives in
`formatting`.

The trainer (`nbmodels.training`) writes a Run through its public methods only: `record`,
`set_status`, `set_model_name`, `clear_stop`, and `attach`, its hand-off of the live training
job (the model, the thread, the error), which this module reads through the `TrainingJob`
protocol and never imports. Resuming is the trainer's: `nbmodels.resume(run, builder, data)`.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

from traitlets import Dict, Float, HasTraits, Int, Unicode

from nbmodels.config import TrainConfig
from nbmodels.runs import formatting, rundir
from nbmodels.runs.rundir import ACTIVE, ENDED, LATEST_KEYS, STATUSES, WAITING


class TrainingJob(Protocol):
    """What a Run reads of the job that trains it in this process (see `Run.attach`); the
    trainer's `nbmodels.training.loop.Job` is one."""

    model: object  # the keras.Model, once built
    error: BaseException | None  # why the run failed
    thread: threading.Thread | None  # the background thread, None in the foreground


class Run(HasTraits):
    """A training run: its config, status, progress, metric history and checkpoints.

    Observe any trait with `run.observe(callback, names=[...])`; `events_count` changes
    whenever new events arrive, once per recorded batch of events.

    Example:
    >>> import tempfile
    >>> from nbmodels import Run, TrainConfig
    >>> run = Run.create(TrainConfig(steps=10), name="demo", root=tempfile.mkdtemp())
    >>> run.record([{"type": "step", "step": 1, "epoch": 0.1, "metrics": {"loss": 2.3}}])
    >>> run.step, run.metrics["loss"], run.status
    (1, 2.3, 'created')
    >>> Run.load(run.id, root=run.root).history[0]["metrics"]
    {'loss': 2.3}
    """

    id = Unicode(read_only=True)
    name = Unicode()
    model_name = Unicode("")
    status = Unicode("created")
    message = Unicode("")
    step = Int(0)
    total_steps = Int(0)
    epoch = Float(0.0)
    metrics = Dict()  # the latest step's metrics
    validation = Dict()  # the latest validation metrics
    learning_rate = Float(None, allow_none=True)
    samples_per_second = Float(None, allow_none=True)
    tokens_per_second = Float(None, allow_none=True)
    eta_seconds = Float(None, allow_none=True)
    memory = Dict()
    events_count = Int(0)

    def __init__(self, run_id: str, root=None, **traits):
        super().__init__(**traits)
        self.set_trait("id", rundir.check_run_id(run_id))
        self.root = rundir.runs_root(root)
        self.path = self.root / run_id
        self.events: list[dict] = []  # every standing event, in order
        self.history: list[dict] = []  # the standing "step" events
        self.validation_history: list[dict] = []
        self.config = TrainConfig()
        self.info: dict = {}  # config.json beyond the TrainConfig: data, model, created
        self._offset = 0  # bytes of events.jsonl read so far
        self._log: rundir.EventLog | None = None
        self._stop = threading.Event()
        self._job: TrainingJob | None = None  # set by `attach` in the process that trains the run
        self._last_heartbeat = 0.0

    # ---- creating and loading --------------------------------------------------------

    @classmethod
    def create(cls, config: TrainConfig, name: str = "run", root=None, info: dict | None = None) -> Run:
        """A new run directory with config.json and status 'created'."""
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40] or "run"
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run = cls(f"{stamp}-{slug}-{secrets.token_hex(2)}", root=root, name=name)
        run.config = config
        run.info = {"name": name, "created": time.time(), **(info or {})}
        run.model_name = str(run.info.get("model", ""))
        run.path.mkdir(parents=True, exist_ok=False)
        rundir.write_json_atomic(run.path / "config.json", {**run.info, "train_config": config.to_dict()})
        run._write_status()
        return run

    @classmethod
    def load(cls, run_id: str, root=None, *, tail_bytes: int | None = None) -> Run:
        """A run from its directory, with its history replayed (malformed lines skipped).

        `tail_bytes` bounds the work for readers that want the latest values, not the history
        (the Jupyter server, `nbmodels runs show`): status.json plus only the last `tail_bytes`
        of events.jsonl (`rundir.TAIL_BYTES` is enough), so `history` holds only that tail's
        steps. Nothing is read through a symbolic link: a linked run folder is no run.
        """
        path = rundir.run_dir(run_id, root)
        stored = _stored_config(run_id, path, root)
        run = cls(run_id, root=root, name=str(stored.get("name", run_id)))
        run.info = {k: v for k, v in stored.items() if k != "train_config"}
        run.model_name = str(stored.get("model", ""))
        try:
            run.config = TrainConfig.from_dict(stored.get("train_config") or {})
        except ValueError:
            pass  # written by another version: keep the default rather than refuse to show the run
        status = rundir.read_json(path / "status.json")
        if isinstance(status, dict):  # the latest values, for when the events read hold no step
            with run.hold_trait_notifications():
                for key in LATEST_KEYS:
                    try:
                        if key in status:
                            setattr(run, key, status[key])
                    except Exception:  # a malformed value from disk must not break a reader
                        pass
        if tail_bytes is not None:
            events, run._offset = rundir.read_tail_events(path / "events.jsonl", tail_bytes)
            run._ingest(events)
        run._read_new_events()
        run._apply_status(status)  # read once: a bounded load reads each file once
        return run

    def refresh(self) -> int:
        """Read events and status written since the last look (by this or another process)."""
        count = self._read_new_events()
        self._apply_status(rundir.read_json(self.path / "status.json"))
        return count

    def _read_new_events(self) -> int:
        events, self._offset = rundir.read_events(self.path / "events.jsonl", self._offset)
        self._ingest(events)
        return len(events)

    def _apply_status(self, status) -> None:
        # An unreadable status.json (not ours: we replace it atomically) is skipped; the
        # status events in events.jsonl then tell the story.
        if status is not None and not self._trained_by_thread():
            with self.hold_trait_notifications():
                self.status, self.message = rundir.current_status(status, self.path)

    # ---- writing (the training process) ----------------------------------------------

    def record(self, events: list[dict]) -> None:
        """Append events to events.jsonl and apply them; one batch = one trait notification."""
        now = time.time()
        for event in events:
            event.setdefault("time", now)
        if self._log is None:
            self._log = rundir.EventLog(self.path / "events.jsonl")
        self._log.append(events)
        self._offset = self._log.size
        self._ingest(events)
        if now - self._last_heartbeat > 2.0 and self.status in ACTIVE:
            self._write_status()

    def set_status(self, status: str, message: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"{status!r} is not a run status: one of {', '.join(STATUSES)}.")
        with self.hold_trait_notifications():
            self.status, self.message = status, message
        # Both writes are tried even when one fails (a full disk may still take the other);
        # the first failure is raised. A training process's lease keeps the last word anyway.
        failures = []
        for write in (lambda: self.record([{"type": "status", "status": status, "message": message}]),
                      self._write_status):
            try:
                write()
            except OSError as error:
                failures.append(error)
        if status in ENDED and self._log is not None:
            self._log.close()
            self._log = None
        if failures:
            raise failures[0]

    def set_model_name(self, name: str) -> None:
        """Record which model trains (the built model's name) in `info` and config.json."""
        if self.info.get("model") == name:
            return
        self.info["model"] = self.model_name = name
        rundir.write_json_atomic(self.path / "config.json", {**self.info, "train_config": self.config.to_dict()})

    def _latest(self) -> dict:
        """Status, message and the latest values: the part status.json and `details()` share."""
        return {"status": self.status, "message": self.message, **{key: getattr(self, key) for key in LATEST_KEYS}}

    def _write_status(self) -> None:
        self._last_heartbeat = time.time()
        rundir.write_json_atomic(
            self.path / "status.json",
            {**self._latest(), "pid": os.getpid(), "host": socket.gethostname(), "updated": self._last_heartbeat},
        )

    def _ingest(self, events: list[dict]) -> None:
        if not events:
            return
        changes: dict = {}
        for event in events:
            kind, step = event.get("type"), event.get("step")
            if kind == "resume" and isinstance(step, int):
                self._drop_after(step)
                changes["step"] = step
                continue
            self.events.append(event)
            if kind == "step" and isinstance(step, int):
                self.history.append(event)
                changes.update(step=step, epoch=float(event.get("epoch", 0.0)), metrics=event.get("metrics", {}))
            elif kind == "validation":
                self.validation_history.append(event)
                changes["validation"] = event.get("metrics", {})
            elif kind == "progress":
                for key in ("samples_per_second", "tokens_per_second", "eta_seconds", "learning_rate"):
                    if key in event:
                        changes[key] = event[key]
                if isinstance(event.get("memory"), dict):
                    changes["memory"] = event["memory"]
            elif kind == "start":
                changes["total_steps"] = int(event.get("total_steps", 0))
            elif kind == "status" and event.get("status") in STATUSES:
                changes.update(status=event["status"], message=str(event.get("message", "")))
        with self.hold_trait_notifications():
            for key, value in changes.items():
                try:
                    setattr(self, key, value)
                except Exception:  # a malformed value from disk must not break a reader
                    pass
            self.events_count += len(events)

    def _drop_after(self, step: int) -> None:
        """A resume from the checkpoint at `step`: what came after it was lost with the process."""
        stale = lambda e: isinstance(e.get("step"), int) and e["step"] > step  # noqa: E731
        self.events = [e for e in self.events if not stale(e)]
        self.history = [e for e in self.history if not stale(e)]
        self.validation_history = [e for e in self.validation_history if not stale(e)]

    # ---- the live training job (in the process that trains the run) -------------------

    def attach(self, job: TrainingJob) -> None:
        """The trainer's hand-off: `job` trains this run in this process from now on.

        Called by `nbmodels.training` when it starts or resumes the run, before training;
        `job`, `model`, `error` and `wait()` read it from then on.
        """
        self._job = job

    @property
    def job(self) -> TrainingJob | None:
        """The job training (or that trained) this run in this process; None for a run loaded
        from disk. The trainer keeps what it needs to resume in it."""
        return self._job

    @property
    def model(self):
        """The trained `keras.Model`, in the process that trained the run; else None."""
        return self._job.model if self._job is not None else None

    @property
    def error(self) -> BaseException | None:
        """Why the run 'failed', in the process that trained it; else None."""
        return self._job.error if self._job is not None else None

    def _trained_by_thread(self) -> bool:
        thread = self._job.thread if self._job is not None else None
        return thread is not None and thread.is_alive()

    # ---- stopping and waiting -----------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the run to stop after its current step and checkpoint; any thread or process.

        Raises ValueError when the run folder's `stop` is a symbolic link or not a plain file.
        """
        self._stop.set()
        rundir.write_stop_request(self.path)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set() or rundir.stop_requested(self.path)

    def clear_stop(self) -> None:
        """Withdraw a stop request (a resume does this, so the old request does not stop it)."""
        self._stop.clear()
        (self.path / "stop").unlink(missing_ok=True)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def wait(self, timeout: float | None = None, poll: float = 0.5) -> str:
        """Block until the run ends (or `timeout` seconds pass); return its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        thread = self._job.thread if self._job is not None else None
        if thread is not None:
            thread.join(timeout)
            return self.status
        while True:
            self.refresh()
            if self.status not in WAITING:
                return self.status
            if deadline is not None and time.monotonic() > deadline:
                return self.status
            time.sleep(poll)

    # ---- checkpoints ----------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        folder = self.path / "checkpoints"
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.name.startswith("step-") and (p / "progress.json").exists())

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def prune_checkpoints(self, keep: int) -> None:
        for old in self.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    # ---- display --------------------------------------------------------------------

    def details(self) -> dict:
        """Config, status and latest values as plain JSON: what `nbmodels runs show --json` and
        the Jupyter server's run route report."""
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model_name,
            **self._latest(),
            "validation": self.validation,
            "samples_per_second": self.samples_per_second,
            "checkpoint": str(self.latest_checkpoint() or ""),
            "config": self.config.to_dict(),
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """One line: id, status, step, latest metrics; stable for a finished run."""
        return formatting.run_summary(self)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return formatting.run_html(self)


def list_runs(root=None) -> list[dict]:
    """A summary of every run under the root, newest first; unreadable runs are skipped."""
    base = rundir.runs_root(root)
    if not base.is_dir():
        return []
    found = []
    for path in base.iterdir():
        if not rundir.is_run_id(path.name) or not rundir.is_run_dir(path):
            continue  # not a run, or a symbolic link to somewhere outside the root
        stored = rundir.read_json(path / "config.json")
        if not isinstance(stored, dict):
            continue
        status = rundir.read_json(path / "status.json")
        status = status if isinstance(status, dict) else {}
        shown, message = rundir.current_status(status or None, path)  # a free lease: not running
        found.append(
            {
                "id": path.name,
                "name": stored.get("name", path.name),
                "model": stored.get("model", ""),
                "status": shown,
                "message": message,
                "step": status.get("step", 0),
                "total_steps": status.get("total_steps", 0),
                "metrics": status.get("metrics") or {},
                "eta_seconds": status.get("eta_seconds"),
                "created": stored.get("created", 0),
                "updated": status.get("updated", stored.get("created", 0)),
            }
        )
    return sorted(found, key=lambda r: r["created"] if isinstance(r["created"], (int, float)) else 0, reverse=True)


def request_stop(run_id: str, root=None) -> dict:
    """Ask run `run_id` to stop, from any process, reading only its config.json and status.json.

    Returns {"id", "status", "stop_requested"}; a run that is not active is left alone
    (stop_requested False). Raises FileNotFoundError for no such run (or a linked run folder),
    ValueError for a bad id or a `stop` that is a symbolic link or not a plain file.
    """
    path = rundir.run_dir(run_id, root)
    _stored_config(run_id, path, root)
    status, _ = rundir.current_status(rundir.read_json(path / "status.json"), path)
    requested = status in ACTIVE
    if requested:
        rundir.write_stop_request(path)
    return {"id": run_id, "status": status, "stop_requested": requested}


def _stored_config(run_id: str, path: Path, root) -> dict:
    """The run's config.json, or FileNotFoundError naming the run, recent ones and the fix."""
    stored = rundir.read_json(path / "config.json") if rundir.is_run_dir(path) else None
    if not isinstance(stored, dict):
        known = ", ".join(r["id"] for r in list_runs(root)[:5]) or "none yet"
        raise FileNotFoundError(
            f"No run {run_id!r} under {path.parent} (config.json missing or unreadable, or the run "
            f"folder is a symbolic link). Recent runs: {known}. `nbmodels runs list` shows them all."
        )
    return stored
