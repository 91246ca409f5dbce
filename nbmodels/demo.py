"""The headless main job: train a small model on the embedded digits set and report."""

from __future__ import annotations

import functools
import time

from nbmodels.config import TrainConfig


def run_demo(epochs: int = 20, root=None, print=print):
    """Train an MLP on scikit-learn's 8x8 digits (offline), printing progress; returns the Run.

    Ctrl-C stops the run cleanly with a checkpoint.
    """
    from nbmodels import data
    from nbmodels.models import mlp
    from nbmodels.runs.formatting import format_seconds
    from nbmodels.runs.rundir import WAITING
    from nbmodels.training.loop import train

    digits = data.load("digits")
    print(digits.summary())
    builder = functools.partial(mlp, digits.input_shape, digits.num_classes, hidden=(64,))
    config = TrainConfig(epochs=epochs, batch_size=64, learning_rate=3e-3, lr_schedule="cosine")
    run = train(builder, digits, config, name="demo", root=root, background=True)
    print(f"run {run.id} in {run.path}")
    started = time.monotonic()
    try:
        while run.wait(timeout=1.0) in WAITING:
            eta = format_seconds(run.eta_seconds)
            loss = run.metrics.get("loss")
            print(f"  step {run.step}/{run.total_steps}  loss {loss if loss is None else f'{loss:.4f}'}  ETA {eta}")
    except KeyboardInterrupt:
        print("stopping: saving a checkpoint ...")
        run.request_stop()
        run.wait()
    elapsed = time.monotonic() - started
    accuracy = run.validation.get("val_accuracy")
    print(run.summary())
    if run.status == "finished" and accuracy is not None:
        print(f"validation accuracy {accuracy:.3f} after {run.step} steps in {elapsed:.1f} s")
    elif run.message:
        print(run.message)
    return run
