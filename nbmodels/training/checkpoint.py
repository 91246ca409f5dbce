"""Checkpoints: every variable of the model (weights and RNG state) and the optimizer's state.

A checkpoint is written to a temporary folder and renamed into place, so one that exists is
complete. A failed write (a full disk) removes its temp folder at once; one left by a killed
process is removed by the next save or resume (`remove_leftovers`): only the holder of the
run's lease writes here, so no temp folder can be another writer's work in progress.

`restore` matches variables by path, not by position, so a checkpoint still fits its model
after layers were frozen or unfrozen (transfer learning: train a head on a frozen backbone,
then unfreeze the top blocks and resume). The optimizer keeps one slot (Adam's momentum and
velocity, ...) per trainable variable, so its variables change with what is trainable; slots
are matched through the model variable they belong to. Paths are compared without the numbers
Keras appends to auto-named layers and seed generators (`dense_3` -> `dense`), which count up
per process, so the same model built again in the same kernel matches too; repeated paths
(`block_0`, `block_1`, ... -> `block`) are told apart by their order in `model.variables`,
which freezing does not change.
"""

from __future__ import annotations

import json
import os
import re
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
            "model_variables": len(model.variables),  # the first ones; the optimizer's follow
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
    """Load a checkpoint into a compiled model; returns the step it was taken at.

    The model's variables must all match the checkpoint's (same paths and shapes), or a
    `ValueError` lists what is missing, unexpected or reshaped. Which of them are trainable may
    have changed since the checkpoint was written; the optimizer's state then follows the model:

    - a variable trainable now and then gets its slots back;
    - one trainable now but frozen then starts with fresh (zero) slots, as every variable does
      when keras.io's fine-tuning recipe recompiles; the step counter continues (so do the
      learning-rate schedule and the data stream), and Adam's bias correction counts those
      steps, so such a variable's first few hundred updates are up to ~6.5x the learning rate:
      one more reason for the low learning rate that recipe uses when it unfreezes;
    - slots of a variable frozen now are dropped (it starts afresh if unfrozen later).

    The learning rate is not restored: like every hyperparameter it comes from the TrainConfig
    of the resumed run, so a fine-tuning phase can lower it. The step counter (and a loss
    scale's state) must be in the checkpoint: another optimizer is a mismatch.
    """
    progress = json.loads((path / "progress.json").read_text())
    model.optimizer.build(model.trainable_variables)
    variables = _state(model)
    present = dict(zip(_keys([v.path for v in variables], len(model.variables)), variables))
    # Checkpoints written before "model_variables" was recorded hold the model's variables first,
    # as many as a fitting model has.
    saved_count = progress.get("model_variables", len(model.variables))
    saved_keys = _keys([name for name, _ in progress["variables"]], saved_count)
    saved = {
        key: (i, name, list(shape)) for i, (key, (name, shape)) in enumerate(zip(saved_keys, progress["variables"]))
    }
    problems = _mismatches(present, saved)
    if problems:
        raise ValueError(
            f"The checkpoint {path} does not fit the model the builder made; {'; '.join(problems)}. Resume "
            "with the builder, data and optimizer the run was trained with: freezing or unfreezing layers "
            "is fine, another architecture or optimizer is not."
        )
    with np.load(path / "variables.npz") as arrays:
        for key, variable in present.items():
            if key in saved and key[0] != "hyperparameter":
                variable.assign(arrays[f"arr_{saved[key][0]}"])
    return int(progress["step"])


def _mismatches(present: dict, saved: dict) -> list[str]:
    """What keeps the checkpoint `saved` (key -> (index, path, shape)) from the variables
    `present` (key -> variable): required keys on one side only, and shapes that differ."""
    missing = [variable.path for key, variable in present.items() if key[0] in _REQUIRED and key not in saved]
    unexpected = [name for key, (_, name, _) in saved.items() if key[0] in _REQUIRED and key not in present]
    reshaped = [
        f"{variable.path} {list(variable.shape)} vs {saved[key][2]} saved"
        for key, variable in present.items()
        if key[0] in _REQUIRED and key in saved and list(variable.shape) != saved[key][2]
    ]  # slots have their variable's shape: naming them too would only repeat it
    problems = []
    if missing:
        problems.append(f"not in the checkpoint: {_listing(missing)}")
    if unexpected:
        problems.append(f"in the checkpoint but not in the model: {_listing(unexpected)}")
    if reshaped:
        problems.append(f"another shape: {_listing(reshaped)}")
    return problems


# Key kinds (see `_keys`): what must be in both the model and the checkpoint.
_REQUIRED = ("model", "optimizer")
_KERAS_NUMBER = re.compile(r"_\d+$")


def _keys(paths: list[str], model_count: int) -> list[tuple]:
    """A key per variable path that the same variable has in every instance of the same model
    and optimizer, whatever is frozen: `paths` are the model's `model_count` variables, then the
    optimizer's. Kinds: "model"; "slot" (per trainable variable: the key of its variable and
    the slot's name, e.g. "momentum"); "hyperparameter" (the learning rate); "optimizer" (the
    rest: step counter, loss scale)."""
    model_paths = paths[:model_count]
    model_keys = _numbered([("model", _canonical(p)) for p in model_paths])
    # Keras names a slot `<variable path with / as _>_<slot name>`, e.g. "dense_kernel_momentum".
    slot_prefixes = sorted(
        ((p.replace("/", "_") + "_", key) for p, key in zip(model_paths, model_keys)), key=lambda pk: -len(pk[0])
    )
    optimizer_keys = []
    for path in paths[model_count:]:
        # The optimizer that made it and its name: the scopes above vary (a loss-scale optimizer's
        # inner one names its slots under its own scope only when fit() builds it).
        owner, _, name = path.rpartition("/")
        owner = _canonical(owner.rpartition("/")[2])
        prefix, variable = next(((pre, key) for pre, key in slot_prefixes if name.startswith(pre)), (None, None))
        if variable is not None:
            optimizer_keys.append(("slot", owner, variable, name[len(prefix):]))
        elif name == "learning_rate":
            optimizer_keys.append(("hyperparameter", owner))
        else:
            optimizer_keys.append(("optimizer", f"{owner}/{name}"))
    return model_keys + _numbered(optimizer_keys)


def _canonical(path: str) -> str:
    """`path` without Keras's per-process numbering of auto-named objects, part by part."""
    return "/".join(_KERAS_NUMBER.sub("", part) for part in path.split("/"))


def _numbered(keys: list[tuple]) -> list[tuple]:
    """Each key with its occurrence among equal keys (0, 1, ...), in order, so keys are unique."""
    seen: dict[tuple, int] = {}
    numbered = []
    for key in keys:
        numbered.append((*key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return numbered


def _listing(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
