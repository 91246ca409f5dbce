"""A full disk mid-run (issue 9, item 6): readers see a terminal status that names the disk,
earlier checkpoints survive, and half-written files are cleaned up.

The disk fills at one write site at a time, by an OSError(ENOSPC) raised from the real
function that writes there, after a partial write where a real disk would make one.
"""

import errno
import json
import os
import pathlib

import keras
import numpy as np
import pytest

from nbmodels import Run, TrainConfig, resume, train
from nbmodels.runs.run import list_runs
from tests.conftest import make_mlp

FILL_AT = 15  # the step after which the disk is full; a checkpoint exists by then


def disk_full(path=""):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), *([str(path)] if path else []))


class FillDisk(keras.callbacks.Callback):
    def __init__(self, runs_root):
        super().__init__()
        self.runs_root = runs_root
        self.full = False
        self.events_inode = None

    def on_train_batch_end(self, batch, logs=None):
        if not self.full and int(self.model.optimizer.iterations.numpy()) >= FILL_AT:
            self.events_inode = os.stat(next(self.runs_root.glob("*/events.jsonl"))).st_ino
            self.full = True


def inject(site, monkeypatch, fill):
    """Make the real writer at `site` fail once `fill.full`, as a full disk would."""
    if site == "status.json":
        write_text = pathlib.Path.write_text

        def failing_write_text(self, data, *args, **kwargs):
            if fill.full and self.name.startswith(".status.json"):
                write_text(self, data[: len(data) // 2], *args, **kwargs)
                raise disk_full(self)
            return write_text(self, data, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, "write_text", failing_write_text)
    elif site == "events.jsonl":
        write = os.write

        def failing_write(fd, data):
            if fill.full and os.fstat(fd).st_ino == fill.events_inode:
                write(fd, bytes(data)[: len(data) // 2])  # a torn line, as a real disk leaves
                raise disk_full()
            return write(fd, data)

        monkeypatch.setattr(os, "write", failing_write)
    elif site == "checkpoint":
        savez = np.savez

        def failing_savez(file, *arrays):
            if fill.full:
                pathlib.Path(file).write_bytes(b"PK\x03\x04 half a zip")
                raise disk_full(file)
            return savez(file, *arrays)

        monkeypatch.setattr(np, "savez", failing_savez)
    else:  # the checkpoint's rename into place
        replace = os.replace

        def failing_replace(src, dst):
            if fill.full and pathlib.Path(src).name.startswith(".tmp-"):
                raise disk_full(dst)
            return replace(src, dst)

        monkeypatch.setattr(os, "replace", failing_replace)


@pytest.mark.parametrize("site", ["status.json", "events.jsonl", "checkpoint", "rename"])
def test_a_full_disk_fails_the_run_for_every_reader_and_leaves_no_debris(site, runs_root, xor_data):
    fill = FillDisk(runs_root)
    config = TrainConfig(steps=600, batch_size=32, checkpoint_every=10, seed=2)
    with pytest.MonkeyPatch.context() as patch, pytest.raises(OSError) as raised:
        inject(site, patch, fill)
        train(make_mlp, xor_data, config, callbacks=[fill], verbose=False)
    assert raised.value.errno == errno.ENOSPC and fill.full
    run_id = next(runs_root.iterdir()).name
    path = runs_root / run_id

    # Every reader in another process (these read only files) sees the failure and why.
    loaded = Run.load(run_id)
    listed = next(r for r in list_runs() if r["id"] == run_id)
    assert loaded.status == listed["status"] == "failed", (loaded.status, loaded.message)
    for message in (loaded.message, listed["message"]):
        assert "No space left on device" in message
        assert "disk mounted at" in message and " free of " in message and str(path) in message

    # The checkpoints saved before the disk filled are intact; nothing half-written is left.
    kept = loaded.checkpoints()
    assert kept and int(kept[-1].name.split("-")[1]) >= 10
    for folder in kept:
        assert json.loads((folder / "progress.json").read_text())["step"] == int(folder.name.split("-")[1])
        with np.load(folder / "variables.npz") as saved:
            assert all(np.isfinite(saved[k]).all() for k in saved.files)
    assert not list(path.glob("checkpoints/.tmp-*")) and not list(path.glob(".*.tmp"))
    lines = (path / "events.jsonl").read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\n") and json.loads(line) for line in lines)  # no torn line

    # Space is back: what a killed writer would have left is cleaned, and the run resumes.
    (path / "checkpoints" / ".tmp-000000099-4242").mkdir()
    (path / "checkpoints" / ".tmp-000000099-4242" / "variables.npz").write_bytes(b"half")
    (path / ".status.json.4242.tmp").write_text('{"stat')
    last = int(kept[-1].name.split("-")[1])
    loaded.config = loaded.config.replace(steps=last + 10)
    resume(loaded, make_mlp, xor_data, verbose=False)
    assert Run.load(run_id).status == "finished"
    assert not list(path.glob("checkpoints/.tmp-*")) and not list(path.glob(".*.tmp"))
    assert [e["step"] for e in Run.load(run_id).history] == list(range(1, last + 11))
