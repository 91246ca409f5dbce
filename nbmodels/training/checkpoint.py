"""Checkpoints: every variable of the model (weights and RNG state) and the optimizer.

A checkpoint is written to a temporary folder and renamed into place, so one that exists is
complete. A failed write (a full disk) removes its temp folder at once; one left by a killed
process is removed by the next save or resume (`remove_leftovers`): only the holder of the
run's lease writes here, so no temp folder can be another writer's work in progress.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np


def _state(model) -> list:
    # model.variables includes the SeedGenerator states of dropout and friends, so a resumed
    # run draws the same random numbers the uninterrupted one would have.
    return list(model.variables) + list(model.optimizer.variables)


def save(run, model, step: int, epoch: float, keep: int) -> Path | None:
    """Write a checkpoint; None (and nothing written) when a weight is NaN or infinite, so
    the last checkpoint on disk is always a good one."""
    variables = _state(model)
    arrays = [np.asarray(v.numpy()) for v in variables]
    if not all(np.isfinite(a).all() for a in arrays if np.issubdtype(a.dtype, np.floating)):
        return None
    folder = run.path / "checkpoints"
    folder.mkdir(exist_ok=True)
    final = folder / f"step-{step:09d}"
    if final.exists():  # the same step again (a stop right after a periodic save)
        return final
    remove_leftovers(run.path)
    tmp = folder / f".tmp-{step:09d}-{os.getpid()}"
    try:
        tmp.mkdir()
        np.savez(tmp / "variables.npz", *arrays)
        progress = {
            "step": step,
            "epoch": epoch,
            "time": time.time(),
            "variables": [[v.path, list(v.shape)] for v in variables],
        }
        (tmp / "progress.json").write_text(json.dumps(progress))
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # gives back the space a full disk needs most
        raise
    run.record([{"type": "checkpoint", "step": step, "path": str(final.relative_to(run.path))}])
    run.prune_checkpoints(keep)
    return final


def remove_leftovers(run_path: Path) -> None:
    """Remove half-written checkpoints and status files that a failed or killed writer left."""
    for tmp in Path(run_path).glob("checkpoints/.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    for tmp in Path(run_path).glob(".*.tmp"):  # write_json_atomic's temporaries
        tmp.unlink(missing_ok=True)


def restore(path: Path, model) -> int:
    """Load a checkpoint into a compiled model; returns the step it was taken at."""
    progress = json.loads((path / "progress.json").read_text())
    model.optimizer.build(model.trainable_variables)
    variables = _state(model)
    saved = progress["variables"]
    if len(saved) != len(variables) or any(list(v.shape) != s for v, (_, s) in zip(variables, saved)):
        mismatch = next(
            (f"{name} {shape} vs {v.path} {list(v.shape)}" for v, (name, shape) in zip(variables, saved)
             if list(v.shape) != shape),
            f"{len(saved)} saved variables vs {len(variables)} in the model",
        )
        raise ValueError(
            f"The checkpoint {path} does not fit the model the builder made ({mismatch}). "
            "Resume with the builder and data the run was trained with."
        )
    with np.load(path / "variables.npz") as arrays:
        for i, variable in enumerate(variables):
            variable.assign(arrays[f"arr_{i}"])
    return int(progress["step"])
