"""The files of a run directory, read and written without TensorFlow.

Several processes share a run directory: the kernel that trains writes it; the CLI, the
Jupyter server extension and other kernels read it, and may ask the run to stop. So every
file is either append-only or replaced atomically, and readers skip what they cannot parse.

Layout of ``<root>/<run id>/``::

    config.json      {"name", "model", "train_config": {...TrainConfig...}, "data": {...}, "created"}
    status.json      {"status", "message", *LATEST_KEYS, "pid", "host", "updated"}
                     -- replaced atomically (write a temp file, then rename)
    events.jsonl     append-only, one JSON object a line, flushed; schema below
    stop             exists = a stop was requested (by any process)
    lease            flock-ed by the one process that trains the run: {"pid", "host", "since"},
                     then its final {"status", "message", "ended"}; see `Lease`
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
    {"type": "fine_tune", "step": k, "unfreeze": n, "learning_rate": x, "trainable_parameters": n}
        the backbone's top n layers were unfrozen at step k and training went on at the fine-tuning
        learning rate (`nbmodels.training.FineTune`)
    {"type": "status", "status": "...", "message": "..."}
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

from nbmodels.checks import fail

try:
    import fcntl
except ImportError:  # Windows: leases fall back to the holder's pid
    fcntl = None

ROOT_ENV = "NBMODELS_RUNS_DIR"
STATUSES = ("created", "running", "stopping", "stopped", "finished", "failed", "diverged", "interrupted")
# The status sets, declared once; every view and reader uses these.
ACTIVE = ("running", "stopping")  # a process trains the run
WAITING = ("created", *ACTIVE)  # more events may still come
RESUMABLE = ("stopped", "interrupted")  # ended early with a checkpoint to continue from
FAILED = ("failed", "diverged")  # ended by an error: views show the message as one
ENDED = tuple(s for s in STATUSES if s not in WAITING)  # no more events: the event log is closed
# The latest values status.json carries besides status and message: what readers that skip
# events.jsonl (`Run.load(tail_bytes=...)`, `list_runs`) show.
LATEST_KEYS = ("step", "total_steps", "epoch", "metrics", "eta_seconds")
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
    """`run_id`, or a ConfigError (a ValueError, which the server and the CLI answer) saying what an id is."""
    if not is_run_id(run_id):
        fail("Run", "run_id", run_id, (
            "it is not a run id; ids are letters, digits, '_', '-' and '.', up to 128 characters, "
            "like '20261123-142501-gpt'"
        ))
    return run_id


def run_dir(run_id: str, root=None) -> Path:
    return runs_root(root) / check_run_id(run_id)


def write_json_atomic(path: Path, value) -> None:
    """Readers see the old file or the new one, never half of one; a failed write (a full
    disk) leaves no temporary file behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # Never write through a link planted under the temporary name: remove it (unlink does
        # not follow), then create the file afresh; O_EXCL | O_NOFOLLOW refuse a link in between.
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINKS, 0o644))
        tmp.write_text(json.dumps(value, indent=1, default=_jsonable))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


MAX_JSON_BYTES = 1 << 20  # config.json and status.json are a few kB; a bigger one is not ours
MAX_LINE_BYTES = 1 << 20  # an events.jsonl line longer than this is skipped, never held whole
TAIL_BYTES = 1 << 18  # the end of events.jsonl that holds a run's latest values (~2,000 steps)
_CHUNK = 1 << 16


def open_run_file(path: Path, mode: str = "rb"):
    """`path` opened for reading, never through a symbolic link (neither the file nor its run
    folder) and never a FIFO or device: a run directory may hold anything another user put there.

    Raises OSError (FileNotFoundError, ELOOP for a link, ...) when it is not a plain file.
    """
    path = Path(path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; no effect on a regular file.
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return os.fdopen(fd, mode)


def is_run_dir(path: Path) -> bool:
    """Whether `path` is a real folder (not a link to one) holding a plain config.json."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode) and stat.S_ISREG(os.lstat(Path(path) / "config.json").st_mode)
    except OSError:
        return False


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES):
    """The parsed file, or None when it is missing, half-written, not JSON, bigger than
    `max_bytes`, or reached through a symbolic link."""
    try:
        with open_run_file(path) as f:
            text = f.read(max_bytes + 1)
        return json.loads(text) if len(text) <= max_bytes else None
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
    """Appends events to events.jsonl; one `write` call per batch of events.

    A write that fails part way (a full disk) is cut back off, and a torn last line left by a
    writer that was killed mid-write is cut off on open, so the file never holds a torn line that
    the next event (a resume marker, say) would glue itself to. Only the run's lease holder
    appends, so the size this object tracks is the file's.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NO_LINKS, 0o644)
        self.size = _complete_lines_size(self._fd, os.fstat(self._fd).st_size)
        os.ftruncate(self._fd, self.size)

    def append(self, events: list[dict]) -> None:
        if not events:
            return
        encode = _ENCODER.encode
        data = memoryview("".join(encode(e) + "\n" for e in events).encode())
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        self.size += written

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _complete_lines_size(fd: int, size: int, chunk: int = 1 << 16) -> int:
    """The length of the file's whole lines: `size`, less a last line that has no newline."""
    end = size
    while end > 0:
        start = max(0, end - chunk)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _event(line: bytes) -> dict | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("type"), str) else None


def read_event_page(path: Path, offset: int, limit: int | None = None, max_bytes: int | None = None):
    """(events from byte `offset` on, the offset after them, whether it stopped early, so more may
    be waiting past the offset).

    Reads line by line, at most MAX_LINE_BYTES at a time: a longer line is read through in
    chunks and dropped, and the offset moves past it (even past an unfinished one), so it is
    never held whole nor read twice. Stops at `limit` events or after about `max_bytes`.
    """
    events, start = [], offset
    try:
        with open_run_file(path) as f:
            f.seek(offset)
            while True:
                if limit is not None and len(events) >= limit:
                    return events, offset, True
                if max_bytes is not None and offset - start >= max_bytes:
                    return events, offset, True
                line = f.readline(MAX_LINE_BYTES + 1)
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    offset += len(line)
                    while not line.endswith(b"\n") and line:  # read through the rest, in chunks
                        if max_bytes is not None and offset - start >= max_bytes:
                            return events, offset, True
                        line = f.readline(_CHUNK)
                        offset += len(line)
                    continue
                if not line.endswith(b"\n"):
                    return events, offset, False  # the end, or a line still being written: left for the next read
                offset += len(line)
                event = _event(line)
                if event is not None:
                    events.append(event)
    except (OSError, ValueError):  # ValueError: an offset past what a file offset can hold
        return events, offset, False


def read_events(path: Path, offset: int = 0, limit: int | None = None) -> tuple[list[dict], int]:
    """Events from byte `offset` on, and the offset to continue from.

    Lines that are not JSON objects with a "type" are skipped, and so are lines longer than
    MAX_LINE_BYTES (without ever being held whole); a last line without its newline is still
    being written, so it is left for the next read. A symbolic link is not read.
    """
    events, offset, _ = read_event_page(path, offset, limit)
    return events, offset


def read_tail_events(path: Path, max_bytes: int) -> tuple[list[dict], int]:
    """The events in the last `max_bytes` of the file, and the offset after the last whole line.

    What a reader needs for the latest values (step, metrics, progress) of a run whose history
    may be hundreds of MB: one bounded read from the end. A line cut by the start of the window
    is dropped.
    """
    try:
        with open_run_file(path) as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            f.seek(max(0, start - 1))
            window = f.read(size - max(0, start - 1))
    except OSError:
        return [], 0
    if start > 0:  # keep the first line only if the byte before the window ends a line
        cut = window.find(b"\n")
        window, start = (window[cut + 1 :], start + cut) if cut >= 0 else (b"", start)
    end = window.rfind(b"\n") + 1
    events = [e for e in map(_event, window[:end].split(b"\n")[:-1]) if e is not None]
    return events, start + end


def write_stop_request(folder: Path) -> None:
    """Create `folder/stop`, the request any process may make for a run to stop.

    Neither the run folder nor `stop` may be a symbolic link: following a dangling `stop` link
    would create a file anywhere its owner pointed it. Raises ValueError saying so.
    """
    path = Path(folder) / "stop"
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise ValueError(f"Cannot ask for a stop: {folder} is not a run folder ({error.strerror}).") from error
    try:
        # O_NONBLOCK: a FIFO named `stop` must not block the caller until someone reads it.
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open("stop", flags, 0o644, dir_fd=dir_fd)
    except OSError as error:
        raise ValueError(
            f"Cannot ask for a stop: {path} exists and is not a plain file ({error.strerror}); "
            "remove it and ask again."
        ) from error
    finally:
        os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"Cannot ask for a stop: {path} exists and is not a plain file; remove it and ask again.")
    finally:
        os.close(fd)


def stop_requested(folder: Path) -> bool:
    """Whether `folder/stop` exists as a plain file (a symbolic link named `stop` is not a request)."""
    try:
        return stat.S_ISREG(os.lstat(Path(folder) / "stop").st_mode)
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def current_status(status: dict | None, run_path: Path | None = None, stale_after: float = 120.0) -> tuple[str, str]:
    """(status, message) as a reader should show them, given status.json's contents `status`.

    status.json can say 'running' long after training ended: its process was killed, or a full
    disk kept it from rewriting the file. The run's lease (see `Lease`) settles it: a process
    that trains holds the lease, so a free lease means nothing runs; the owner's last word in
    the lease file then says how the run ended, and without one it was killed ('interrupted').
    A run without a lease file (older versions) is judged by its owner's pid and heartbeat.
    """
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        return ("interrupted" if status is not None else "created"), ""
    value, message = status["status"], str(status.get("message", ""))
    if value not in ACTIVE:
        return value, message
    held, lease = read_lease(run_path) if run_path is not None else (None, {})
    if held:
        return value, message
    if held is False and lease.get("status") in STATUSES and lease["status"] not in ACTIVE:
        return lease["status"], str(lease.get("message", ""))
    same_host = status.get("host") == socket.gethostname()
    pid = status.get("pid")
    if held is False and same_host:
        return "interrupted", message
    if same_host and isinstance(pid, int) and not pid_alive(pid):
        return "interrupted", message
    # Another host (whose locks a network filesystem may not show us): trust a fresh heartbeat.
    updated = status.get("updated")
    if not same_host and isinstance(updated, (int, float)) and time.time() - updated > stale_after:
        return "interrupted", message
    return value, message


# ---- the lease: one writer per run directory ---------------------------------------------

LEASE_FILE = "lease"
_NO_LINKS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)  # POSIX; Windows has neither
LEASE_BYTES = 4096  # the lease record's reserved size: its owner's last word must fit in it
_MESSAGE_CHARS = 2000


class RunBusyError(RuntimeError):
    """The run is being trained by another process or thread; its message says who and how
    to stop it."""


class Lease:
    """A training process's claim on a run directory: one writer at a time.

    An exclusive `flock` on <run>/lease, held from the start of training to its end. The OS lets
    go when the holder exits, however it exits (killed too), so a dead owner's lease is simply
    taken over, while a live one refuses everyone else -- other threads of the same process
    too, since flock locks belong to an open file, not to a process.

    The file tells who holds it (pid, host, since) and is padded to LEASE_BYTES when taken, so
    that on the way out the holder can overwrite it in place with its final status: that
    needs no new disk space, so readers learn how a run ended even when a full disk kept
    status.json from being rewritten (see `current_status`).
    """

    def __init__(self, path: Path, fd: int, record: dict):
        self.path, self._fd, self.record = path, fd, record

    @classmethod
    def take(cls, run_path: Path, run_id: str, wait: float = 0.5) -> Lease:
        """The run's lease, or RunBusyError naming its live holder."""
        path = Path(run_path) / LEASE_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NO_LINKS, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "a run's lease must be a plain file", str(path))
            previous = _lease_record(os.read(fd, LEASE_BYTES))
            if not _lock(fd, previous, wait):
                raise RunBusyError(busy_message(run_id, previous))
            record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                      "thread": threading.current_thread().name}
            if previous.get("pid") is not None and "ended" not in previous:
                # Its owner died without letting go: say whose lease this was.
                record["took_over_from"] = {k: previous.get(k) for k in ("pid", "host", "since")}
            lease = cls(path, fd, record)
            lease._write(record)
            return lease
        except BaseException:
            os.close(fd)  # closing lets go of the lock
            raise

    def release(self, status: str | None = None, message: str = "") -> None:
        """Let go, leaving `status` and `message` as the owner's last word."""
        if self._fd is None:
            return
        last = {**self.record, "ended": time.time()}
        if status is not None:
            last.update(status=status, message=message[:_MESSAGE_CHARS])
        try:
            self._write(last)
        except OSError:
            pass  # nothing more can be said: readers will show 'interrupted'
        finally:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _write(self, record: dict) -> None:
        # In place, within the bytes reserved when the lease was taken: no new disk space.
        data = json.dumps(record, default=_jsonable).encode()  # ASCII: one byte a character
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data.ljust(LEASE_BYTES - 1) + b"\n")


def read_lease(run_path: Path) -> tuple[bool | None, dict]:
    """(held, record) for a run's lease; held is None when the run has no lease file (made
    by an older version) or this system cannot tell."""
    try:
        f = open_run_file(Path(run_path) / LEASE_FILE)
    except OSError:
        return None, {}
    with f:
        record = _lease_record(f.read(LEASE_BYTES))
        if fcntl is None:
            return _holder_alive(record), record
        try:
            # A shared lock taken for an instant: refused exactly while a trainer holds it.
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, record
        except OSError:
            return None, record  # no locks on this filesystem
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False, record


def busy_message(run_id: str, holder: dict) -> str:
    pid, host, since = holder.get("pid"), holder.get("host"), holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else "?"
    if pid == os.getpid() and host == socket.gethostname():
        who = f"this process (pid {pid}, thread {holder.get('thread')!r}) since {when}"
        how = "call run.request_stop(), then run.wait(), then resume"
    else:
        who = f"process {pid} on host {host} since {when}"
        how = (f"run `nbmodels runs stop {run_id}` (or run.request_stop() in that process) and wait for it to "
               f"end, or `kill {pid}` on {host}; then resume, which continues from the last checkpoint")
    return (f"Run {run_id} is being trained by {who}: it holds the run's lease. A second writer would "
            f"interleave its steps with the first, so this one does not start. To take over, {how}.")


def _lease_record(data: bytes) -> dict:
    try:
        record = json.loads(data)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _lock(fd: int, previous: dict, wait: float) -> bool:
    """Take the exclusive lock: False while a live holder has it."""
    if fcntl is not None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                # A reader may be probing the lock for an instant (see read_lease): try again.
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
            except OSError:
                break  # no locks on this filesystem: judge by the holder's pid instead
    return not _holder_alive(previous)


def _holder_alive(record: dict) -> bool:
    pid = record.get("pid")
    return ("ended" not in record and isinstance(pid, int) and record.get("host") == socket.gethostname()
            and pid_alive(pid))


# ---- a failure's message -------------------------------------------------------------------


def describe_error(error: BaseException, run_path: Path) -> str:
    """A failure as a run's status message; a full disk names the disk, the path and the
    space left, and the way out."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, OSError) and error.errno in _DISK_FULL:
        text += " -- " + disk_full_note(Path(error.filename) if error.filename else Path(run_path))
    return text


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def disk_full_note(path: Path) -> str:
    existing = Path(os.path.abspath(path))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    mount = existing
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        usage = shutil.disk_usage(existing)
        space = f"{_bytes(usage.free)} free of {_bytes(usage.total)}"
    except OSError:
        space = "free space unknown"
    return (f"no space left writing {path} on the disk mounted at {mount} ({space} now). Free some space "
            f"there (or set {ROOT_ENV} to a roomier disk for new runs), then nbmodels.resume(run) continues from the "
            "last checkpoint.")


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
