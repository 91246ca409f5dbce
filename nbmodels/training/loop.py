"""`train(builder, data, config)` and `resume(run)`: one code path for both.

The trainer owns the `Job` that trains a run in this process (builder, data, callbacks, the
lease, the thread, the model) and hands it to the Run once through `Run.attach`; it writes the
Run only through its public methods.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading

import keras

from nbmodels.checks import fail
from nbmodels.config import TrainConfig
from nbmodels.runs import rundir
from nbmodels.training import augment as augmentation
from nbmodels.training import checkpoint, distribute, execution
from nbmodels.training.fine_tune import FineTune, check_fine_tune, check_model_unfreezes
from nbmodels.training.callback import RunCallback
from nbmodels.training.inputs import TrainingData, as_training_data
from nbmodels.training.optimizer import make_optimizer
from nbmodels.training.progress import Progress
from nbmodels.runs.run import Run


@dataclasses.dataclass
class Job:
    """One run's training in this process: what (re)starts it, and what it leaves behind.

    `Run.attach` hands it to the Run, which reads `model`, `error` and `thread` (the
    `nbmodels.runs.run.TrainingJob` protocol); `resume` reuses the builder, data and callbacks.
    """

    builder: object
    data: TrainingData
    config: TrainConfig
    callbacks: tuple
    augment: keras.layers.Layer | None = None  # training-only layers on the device (training/augment.py)
    fine_tune: FineTune | None = None  # unfreeze and recompile at a step (training/fine_tune.py)
    model: keras.Model | None = None  # set once built
    error: BaseException | None = None  # why training failed
    thread: threading.Thread | None = None  # the background thread; None in the foreground
    lease: rundir.Lease | None = None  # held while training, let go however it ends
    compile_arguments: dict | None = None  # loss, metrics, XLA: what a fine-tuning recompile reuses
    step_values: execution.StepValues | None = None  # each step's values, several steps a call; one replica


def train(
    builder,
    data,
    config: TrainConfig | None = None,
    *,
    loss=None,
    metrics=None,
    name: str | None = None,
    root=None,
    background: bool = False,
    callbacks=(),
    verbose: bool = True,
    info: dict | None = None,
    augment=None,
    fine_tune: FineTune | None = None,
) -> Run:
    """Train the model `builder()` makes on `data`, recording everything in a `Run`.

    Args:
        builder: a function that returns a new `keras.Model`. It is called inside the
            distribution strategy's scope after the precision policy is set, which is why
            a built model cannot be passed.
        data: an `nbmodels.data.Dataset`, an `(x, y)` tuple (x may be a dict of named
            arrays, y may be None when the model computes its own loss), a Source read by
            index (`nbmodels.data.LazySource`), a `tf.data.Dataset` (resumed by replay: see
            `nbmodels.data.sources`), or `{"train": ..., "validation": ...}` of those.
        config: a `TrainConfig`; the defaults train one epoch.
        loss, metrics: as for `model.compile`; default to the dataset's, else to what the
            builder's model was compiled with.
        name: a label for the run (its id adds a timestamp).
        root: the runs folder; default `$NBMODELS_RUNS_DIR` or `~/.nbmodels/runs`.
        background: run in a thread and return at once (dashboards do this so their
            buttons keep working); `run.wait()` blocks until it ends.
        callbacks: extra Keras callbacks.
        verbose: show progress (a live HTML line in notebooks, text lines elsewhere).
        info: JSON-serializable facts to keep in the run's config.json (recipes record their
            name, size and dataset there, so a run loaded from disk can be resumed).
        augment: a Keras layer stack (e.g. `keras.Sequential([keras.layers.RandomFlip()])`)
            applied to each training batch on the device, in training only; not part of the
            saved model, and resumed exactly. See `nbmodels.training.augment`.
        fine_tune: a `FineTune`: at its step, call the model's `unfreeze(top)` and recompile
            with a new optimizer at its learning rate, in the same run (keras.io's transfer
            learning recipe; recorded in the run, so resuming continues across the switch).
            See `nbmodels.training.fine_tune`.

    Returns:
        The `Run`. In the foreground a kernel interrupt (or Ctrl-C) stops training
        cleanly: a checkpoint is saved, the status is 'interrupted' and `resume(run)`
        continues.

    Example:
    >>> import keras, tempfile
    >>> from nbmodels import TrainConfig, data, train
    >>> digits = data.load("digits")
    >>> def mlp():
    ...     return keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
    ...                              keras.layers.Dense(10)])
    >>> run = train(mlp, digits, TrainConfig(epochs=2), root=tempfile.mkdtemp(), verbose=False)
    >>> run.status
    'finished'
    """
    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        fail("train", "config", config, "it must be a TrainConfig, e.g. TrainConfig(epochs=2)")
    _check_builder("train", builder)
    augmentation.check_augment("train", augment)
    callbacks = _checked_callbacks("train", callbacks)
    fine_tune = check_fine_tune("train", fine_tune)
    job = Job(builder, as_training_data(data, loss, metrics), config, callbacks, augment, fine_tune)
    runtime = distribute.resolve(config)
    job.config.per_replica_batch_size(runtime.replicas)  # fail now, not in a thread
    run_root = root if runtime.is_chief else _scratch_root()
    name = name or getattr(builder, "__name__", "run").strip("<>") or "run"
    info = {"data": job.data.description, **(info or {})}
    if fine_tune is not None:  # resume() in another process reads it back
        info["fine_tune"] = fine_tune.to_dict()
    run = Run.create(config, name=name, root=run_root, info=info)
    return _launch(run, job, runtime, rundir.Lease.take(run.path, run.id), resume=False, background=background,
                   verbose=verbose)


def resume(run: Run, builder=None, data=None, *, background: bool = False, verbose: bool = True,
           callbacks=None, augment=None, fine_tune: FineTune | None = None) -> Run:
    """Continue `run` from its last checkpoint: weights, optimizer state, step, data position,
    history. It trains up to `run.config` (raise `run.config.steps` to train longer).

    Args:
        run: a `Run` that is stopped, interrupted, failed or diverged.
        builder, data: what the run was trained with. In the process that trained it they are
            remembered (`run.job`); a run loaded from disk needs both.
        background: train in a thread and return at once; `run.wait()` blocks until it ends.
        verbose: show progress, as `train()` does.
        callbacks: extra Keras callbacks; by default the ones the run was started with in this
            process (when builder and data are not given), else none.
        augment: the training-only layer stack the run was started with (see `train`); by
            default the one remembered in this process, else none.
        fine_tune: the `FineTune` the run was started with (see `train`); by default the one
            recorded in the run.

    Returns:
        The same `Run`. A run that another process or thread still trains is refused with
        `RunBusyError`, which names who holds it and how to stop it; a dead owner's run is
        taken over.

    Example:
    >>> import keras, tempfile
    >>> from nbmodels import Run, TrainConfig, data, resume, train
    >>> digits = data.load("digits")
    >>> def mlp():
    ...     return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    >>> class Interrupt(keras.callbacks.Callback):
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         if batch == 3:
    ...             raise KeyboardInterrupt  # what Jupyter's interrupt button delivers
    >>> run = train(mlp, digits, TrainConfig(steps=8), callbacks=[Interrupt()], root=tempfile.mkdtemp(),
    ...             verbose=False)
    >>> run.status, run.step
    ('interrupted', 4)
    >>> loaded = Run.load(run.id, root=run.root)  # as another process reads it: no builder, no data
    >>> resume(loaded, mlp, digits, verbose=False).status, loaded.step
    ('finished', 8)
    """
    # First the lease: a run that another process or thread still trains is refused
    # (RunBusyError says who holds it and how to stop it); a dead owner's is taken over.
    lease = rundir.Lease.take(run.path, run.id)
    try:
        augmentation.check_augment("resume", augment)
        fine_tune = check_fine_tune("resume", fine_tune)
        job = _resume_job(run, builder, data, callbacks)
        if augment is not None:
            job.augment = augment
        job.fine_tune = fine_tune or check_fine_tune("resume", run.info.get("fine_tune"))
        checkpoint.remove_leftovers(run.path)
        run.clear_stop()
        runtime = distribute.resolve(job.config)
    except BaseException:
        lease.release()
        raise
    return _launch(run, job, runtime, lease, resume=True, background=background, verbose=verbose)


def _resume_job(run: Run, builder, data, callbacks) -> Job:
    run.refresh()
    if run.status == "finished":
        raise ValueError(f"Run {run.id} finished all {run.total_steps} steps; there is nothing to resume.")
    previous = run.job if isinstance(run.job, Job) else None
    if builder is None and data is None and previous is not None:
        job = Job(previous.builder, previous.data, run.config, previous.callbacks, previous.augment,
                  previous.fine_tune, model=previous.model)
    else:
        if builder is None or data is None:
            fail("resume", "builder" if builder is None else "data", None, (
                f"run {run.id} was not trained in this process, so it does not know its model and data: "
                "call nbmodels.resume(run, builder, data) with the ones it was trained with"
            ))
        _check_builder("resume", builder)
        known = previous.data if previous else None
        job = Job(builder, as_training_data(data, known.loss if known else None,
                                            known.metrics if known else None), run.config, (),
                  previous.augment if previous else None)
    if callbacks is not None:
        job.callbacks = _checked_callbacks("resume", callbacks)
    return job


def _launch(run: Run, job: Job, runtime, lease: rundir.Lease, *, resume: bool, background: bool,
            verbose: bool) -> Run:
    """Train under `lease`, which `_execute` releases however training ends."""
    job.lease = lease
    run.attach(job)
    try:
        run.set_status("running", "resuming" if resume else "")
    except BaseException as error:
        _fail(run, job, error)
        _release(run, job)
        raise
    if background:
        job.thread = threading.Thread(
            target=_execute, args=(run, job, runtime, resume, False), name=f"nbmodels-{run.id}", daemon=True
        )
        job.thread.start()
        return run
    with Progress(run, enabled=verbose):
        _execute(run, job, runtime, resume, reraise=True)
    return run


def _execute(run: Run, job: Job, runtime, resume: bool, reraise: bool) -> None:
    """Build, compile, restore, fit; every way out leaves a status and, where it makes sense,
    a checkpoint, and lets go of the run's lease."""
    try:
        _train(run, job, runtime, resume)
    except BaseException as error:  # noqa: BLE001 - recorded, then raised again where someone sees it
        _fail(run, job, error)
        if reraise:
            raise
    finally:
        _release(run, job)


def _fail(run: Run, job: Job, error: BaseException) -> None:
    """Record a failure as far as the disk allows; a full disk names itself in the message."""
    job.error = error
    try:
        run.set_status("failed", rundir.describe_error(error, run.path))
    except OSError:
        pass  # the disk is full: the lease's last word (see `_release`) still tells readers


def _release(run: Run, job: Job) -> None:
    """Let go of the lease, leaving the final status in it: readers see how the run ended even
    when status.json could not be rewritten."""
    if job.lease is not None:
        job.lease.release(run.status, run.message)
        job.lease = None


def _train(run: Run, job: Job, runtime, resume: bool) -> None:
    config, data = job.config, job.data
    model = recorder = None
    execution.quiet_keras_retracing()
    try:
        keras.utils.set_random_seed(config.seed)
        steps_per_epoch = data.steps_per_epoch(config.batch_size)
        total = config.total_steps(steps_per_epoch)
        switch = job.fine_tune.switch_step(steps_per_epoch) if job.fine_tune is not None else None
        round_steps = config.validate_every or steps_per_epoch
        model, start, runtime = _build(run, job, runtime, total, resume, switch, round_steps)
        events = [{"type": "resume", "step": start}] if resume else []
        events.append(
            {"type": "start", "step": start, "total_steps": total, "steps_per_epoch": steps_per_epoch,
             "resumed": resume, "parameters": int(model.count_params()), **runtime.describe(),
             "steps_per_execution": model.steps_per_execution}
        )
        run.record(events)
        recorder = RunCallback(
            run,
            start_step=start,
            total_steps=total,
            steps_per_epoch=steps_per_epoch,
            batch_size=config.batch_size,
            tokens_per_sample=data.tokens_per_sample,
            record_every=config.record_every,
            checkpoint_every=config.checkpoint_every,
            keep_checkpoints=config.keep_checkpoints,
            memory_device=_memory_device(runtime),
            step_values=job.step_values,
        )
        switch_ahead = switch if switch is not None and start <= switch else None  # else done before the restore

        def switch_now():
            _switch_to_fine_tuning(run, job, runtime, total, switch)

        _fit(model, data, config, recorder, job.callbacks, start, total, steps_per_epoch, switch_ahead, switch_now)
        _finish(run, model, recorder)
    except KeyboardInterrupt:
        if model is None or recorder is None:
            run.set_status("interrupted", "interrupted before training started")
        else:
            _checkpoint_now(run, model, recorder)
            run.set_status(
                "interrupted",
                f"interrupted at step {recorder.step}; checkpoint saved: nbmodels.resume(run) continues",
            )


def _build(run: Run, job: Job, runtime, total: int, resume: bool, switch: int | None, round_steps: int):
    """The compiled model, restored from the last checkpoint when resuming, its step, and the
    runtime with XLA settled for this model (`execution.use_xla`).

    A checkpoint taken after the fine-tuning switch holds the second phase's optimizer: the
    model is unfrozen and compiled for that phase before it is restored. With one replica the
    train step records each step's values (`execution.StepValues`), so that a compiled call
    may run several steps.
    """
    with distribute.precision_policy(runtime.precision), runtime.strategy.scope():
        model = job.builder()
        if not isinstance(model, keras.Model):
            raise ValueError(
                f"The builder returned {type(model).__name__}, not a keras.Model: it must "
                "build and return a new model each call."
            )
        if job.fine_tune is not None:
            check_model_unfreezes(model, job.fine_tune)  # before step 1, not at the switch
        loss, metrics = _loss_and_metrics(model, job.data)
        job.data.check_fits(model, loss)  # labels vs classes, example shape vs input: before step 1
        _ensure_built(model, job.data)  # its weights tell a step's cost
        intervals = {"the validation round (validate_every, or one pass over the data)": round_steps}
        if job.config.checkpoint_every:
            intervals["checkpoint_every"] = job.config.checkpoint_every
        per_call = execution.steps_per_execution(job.config, model, intervals=intervals, runtime=runtime,
                                                 tokens_per_sample=job.data.tokens_per_sample,
                                                 callbacks=job.callbacks)
        xla = execution.use_xla(job.config, model, accelerated=runtime.accelerated, total_steps=total,
                                tokens_per_sample=job.data.tokens_per_sample, augment=job.augment,
                                example_features=job.data.example_features() if job.augment is not None else None)
        runtime = dataclasses.replace(runtime, xla=xla)
        job.compile_arguments = augmentation.compile_arguments(job.augment, loss=loss, metrics=list(metrics),
                                                           jit_compile=xla, steps_per_execution=per_call)
        latest = run.latest_checkpoint() if resume else None
        if latest is not None and switch is not None and _checkpoint_step(latest) > switch:
            model.unfreeze(job.fine_tune.unfreeze)
            optimizer = _fine_tune_optimizer(job, total)
        else:
            optimizer = make_optimizer(job.config, total)
        model.compile(optimizer=optimizer, **job.compile_arguments)
        if job.augment is not None:
            augmentation.attach(model, job.augment, job.data.example_features())
        job.step_values = None
        if execution.records_every_step(runtime):
            job.step_values = execution.StepValues(per_call)
            job.step_values.install(model)
        start = 0
        if latest is not None:
            start = checkpoint.restore(latest, model)
    if runtime.strategy_name == "multi_worker":
        _work_around_multi_worker_build(model, job.data, job.config, runtime)
    job.model = model
    run.set_model_name(model.name)
    return model, start, runtime


def _fit(model, data, config, recorder, extra_callbacks, start, total, steps_per_epoch, switch=None,
         switch_now=None):
    """model.fit over the step-addressed stream, one Keras epoch per validation round.

    A run resumed mid-round first finishes that round with a shorter fit, so rounds (and
    with them validations and checkpoints) fall on the same steps as in an uninterrupted run.
    With fine-tuning, fitting also stops at the `switch` step, where `switch_now()` unfreezes
    and recompiles; a piece that ends there mid-round does not validate, so validations fall on
    the same steps as without the switch.
    """
    round_steps = config.validate_every or steps_per_epoch
    validation = data.validation_stream(config.batch_size)
    position = start
    while position < total:
        if switch is not None and position == switch:
            switch_now()
            switch = None
        limit = switch if switch is not None else total  # fit no further than the switch
        into_round = position % round_steps
        if into_round or limit - position < round_steps:
            end = min(limit, position - into_round + round_steps)
            epoch_steps, epochs = end - position, 1
        elif limit < total:  # whole rounds up to the switch
            epoch_steps, epochs = round_steps, (limit - position) // round_steps
            end = position + epochs * round_steps
        else:
            end = total
            epoch_steps, epochs = round_steps, math.ceil((total - position) / round_steps)
        validates = end % round_steps == 0 or end == total
        model.fit(
            data.stream(config.batch_size, config.seed, position, end),
            steps_per_epoch=epoch_steps,
            epochs=epochs,
            validation_data=validation if validates else None,
            callbacks=[recorder, *extra_callbacks],
            shuffle=False,  # the stream is already shuffled, reproducibly, per pass
            verbose=0,
        )
        if recorder.stop_seen or recorder.diverged_at is not None or recorder.step < end:
            break
        position = recorder.step


def _finish(run: Run, model, recorder) -> None:
    recorder.flush()
    step = recorder.step
    if recorder.diverged_at is not None:
        last = run.latest_checkpoint()
        kept = f"the last good checkpoint ({last.name}) is kept" if last else "no checkpoint had been saved yet"
        run.set_status(
            "diverged",
            f"the loss became NaN or infinite at step {recorder.diverged_at}; {kept}. "
            "Try a lower learning_rate or clip_norm=1.0.",
        )
    elif step < recorder.total_steps:
        _checkpoint_now(run, model, recorder)
        run.set_status("stopped", f"stopped at step {recorder.step} on request; checkpoint saved: "
                                  "nbmodels.resume(run) continues")
    else:
        _checkpoint_now(run, model, recorder)
        run.set_status("finished")


def _checkpoint_step(path) -> int:
    """The step a checkpoint was taken at, from its progress.json (see training/checkpoint.py)."""
    return int(json.loads((path / "progress.json").read_text())["step"])


def _fine_tune_optimizer(job: Job, total: int):
    """A new optimizer of the TrainConfig's kind at the fine-tuning rate, held constant."""
    config = job.config.replace(learning_rate=job.fine_tune.learning_rate, lr_schedule="constant")
    return make_optimizer(config, total)


def _switch_to_fine_tuning(run: Run, job: Job, runtime, total: int, step: int) -> None:
    """keras.io's second phase: unfreeze the model's top layers and compile it again.

    Keras optimizers refuse variables they were not built with, so the new phase gets a new
    optimizer (fresh slots for every variable, as keras.io's recompile gives); it continues
    the old one's step counter, which the data stream, augmentation and checkpoints read.
    """
    model, fine_tune = job.model, job.fine_tune
    iterations = int(model.optimizer.iterations.numpy())  # updates: fewer than steps under accumulation
    with distribute.precision_policy(runtime.precision), runtime.strategy.scope():
        model.unfreeze(fine_tune.unfreeze)
        optimizer = _fine_tune_optimizer(job, total)
        optimizer.iterations.assign(iterations)  # before compile: no moment without the count
        model.compile(optimizer=optimizer, **job.compile_arguments)
    if not any(e.get("type") == "fine_tune" and e.get("step") == step for e in run.events):  # resumed at it
        trainable = sum(int(math.prod(v.shape)) for v in model.trainable_variables)
        run.record([{"type": "fine_tune", "step": step, "unfreeze": fine_tune.unfreeze,
                     "learning_rate": fine_tune.learning_rate, "trainable_parameters": trainable}])


def _checkpoint_now(run: Run, model, recorder) -> None:
    # An interrupt may land between a compiled call and its callback: its steps happened.
    recorder.catch_up()
    recorder.save_checkpoint()


def _loss_and_metrics(model, data: TrainingData):
    """The loss and metrics to compile with: given to train(), else the dataset's, else what
    the builder compiled the model with."""
    loss, metrics = data.loss, data.metrics
    if model.compiled:
        compiled = keras.saving.deserialize_keras_object(model.get_compile_config())
        loss = loss if loss is not None else compiled.get("loss")
        metrics = metrics or compiled.get("metrics") or ()
    if loss is None and data.has_targets:  # without targets the model computes its own loss (add_loss)
        fail("train", "loss", None, (
            "train() needs a loss for data with targets; pass loss=... (e.g. 'sparse_categorical_crossentropy'), "
            "compile the model in the builder, or pass an nbmodels.data.Dataset, which knows its own"
        ))
    if data.logits and isinstance(loss, str):
        # Dataset defaults assume the models' convention: they return logits, not probabilities.
        by_name = {
            "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
            "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
            "binary_crossentropy": keras.losses.BinaryCrossentropy,
        }
        if loss in by_name:
            loss = by_name[loss](from_logits=True)
    return loss, metrics


def _ensure_built(model, data: TrainingData) -> None:
    """Subclassed models create their variables on the first call; a checkpoint needs them."""
    if model.built:
        return
    model(data.example_features(), training=False)


def _work_around_multi_worker_build(model, data: TrainingData, config: TrainConfig, runtime) -> None:
    """Two Keras 3 bugs make fit() fail under MultiWorkerMirroredStrategy (keras-team/keras#20585):

    1. fit() builds metric and optimizer state from a batch it averages with
       `strategy.reduce`, which cannot take an (x, y) batch: build from one local batch
       instead and skip fit's own attempt.
    2. Step logs are scalars, but Keras averages them across workers with
       `strategy.reduce("MEAN", v, axis=0)`: give them that axis (shape (1,)); the reduce
       takes it away again.
    """
    sample = next(iter(data.stream(config.per_replica_batch_size(runtime.replicas), config.seed, 0, 1)))
    model._maybe_symbolic_build(data_batch=sample)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    def with_axis(step):
        def wrapped(batch):
            logs = step(batch)
            return {k: keras.ops.reshape(v, (1,)) if len(v.shape) == 0 else v for k, v in logs.items()}

        return wrapped

    model.train_step = with_axis(model.train_step)
    model.test_step = with_axis(model.test_step)


def _memory_device(runtime) -> str:
    gpus = [d for d in runtime.devices if "gpu" in d]
    return gpus[0].split("/")[-1].upper() if gpus else "CPU"


def _check_builder(owner: str, builder) -> None:
    # A model class is a fine builder (calling it makes a new model); a model instance is not.
    if not isinstance(builder, type) and hasattr(builder, "fit") and hasattr(builder, "layers"):
        fail(owner, "builder", builder, (
            "it must be a function that returns a new model, not a built model: the model must be made "
            "inside the distribution strategy's scope after the precision policy is set. Pass the function "
            "instead, e.g. make_model rather than make_model(), or lambda: model_fn(...)"
        ))
    if not callable(builder):
        fail(owner, "builder", builder, "it must be a function that returns a new keras.Model")


def _checked_callbacks(owner: str, callbacks) -> tuple:
    """`callbacks` as a tuple, checked now: a wrong one would otherwise fail inside fit(), in the run."""
    if not isinstance(callbacks, (list, tuple)) or not all(
        isinstance(callback, keras.callbacks.Callback) for callback in callbacks
    ):
        fail(owner, "callbacks", callbacks,
             "it must be a list of keras.callbacks.Callback objects, e.g. [keras.callbacks.TerminateOnNaN()]")
    return tuple(callbacks)


def _scratch_root() -> str:
    # Workers other than the chief train in step with it but must not write its run directory.
    import tempfile

    return tempfile.mkdtemp(prefix="nbmodels-worker-")
