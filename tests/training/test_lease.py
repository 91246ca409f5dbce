"""One writer per run directory: the training process holds the run's lease (issue 9, item 4)."""

import json
import os
import signal
import socket
import threading
import time

import pytest

from nbmodels import Run, TrainConfig, resume
from nbmodels.runs import rundir
from nbmodels import RunBusyError
from nbmodels.runs.run import list_runs
from tests.conftest import make_mlp
from tests.training import scripts
from tests.training.test_processes import child


def events_of(run_id):
    events, _ = rundir.read_events(Run.load(run_id).path / "events.jsonl")
    return events


def assert_one_writer(events):
    """One `start` per (re)start, and steps that never go backwards between resumes."""
    assert sum(e["type"] == "start" for e in events) == 1 + sum(e["type"] == "resume" for e in events)
    last = 0
    for event in events:
        if event["type"] == "resume":  # a restart from the checkpoint at this step: steps go on from it
            assert event["step"] <= last
            last = event["step"]
        elif event["type"] == "step":
            assert event["step"] > last, f"step {event['step']} after step {last}: two processes wrote this run"
            last = event["step"]


def wait_for(condition, timeout=180, process=None):
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None:
            assert process.poll() is None, process.communicate()[0][-3000:]
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the training process")
        time.sleep(0.2)


def test_resume_of_a_run_another_process_trains_is_refused_and_a_dead_owner_taken_over(runs_root):
    process = child("long_run", str(runs_root))
    try:
        wait_for(lambda: len(list(runs_root.glob("*/checkpoints/step-*"))) >= 1, process=process)
        run_id = next(runs_root.iterdir()).name
        assert Run.load(run_id).status == "running" and list_runs()[0]["status"] == "running"

        intruder = Run.load(run_id)
        checkpoint_step = int(intruder.latest_checkpoint().name.split("-")[1])
        intruder.config = intruder.config.replace(steps=checkpoint_step + 5)
        with pytest.raises(RunBusyError) as refusal:
            resume(intruder, scripts.builder, scripts.xor_data(), verbose=False)
        message = str(refusal.value)
        assert f"process {process.pid} on host {socket.gethostname()}" in message
        assert f"nbmodels runs stop {run_id}" in message and f"kill {process.pid}" in message
        assert not (runs_root / run_id / "stop").exists()  # the refused resume cleared no stop request

        stepped = Run.load(run_id).step
        wait_for(lambda: Run.load(run_id).step > stepped + 20, process=process)  # the owner trains on, alone
        assert_one_writer(events_of(run_id))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    # The owner is dead: the OS let go of its lock, readers say so, and a resume takes over.
    run = Run.load(run_id)
    assert run.status == "interrupted"
    checkpoint_step = int(run.latest_checkpoint().name.split("-")[1])
    run.config = run.config.replace(steps=checkpoint_step + 30)
    resume(run, scripts.builder, scripts.xor_data(), verbose=False)
    assert run.status == "finished"
    assert_one_writer(events_of(run_id))
    assert [e["step"] for e in Run.load(run_id).history] == list(range(1, checkpoint_step + 31))
    lease = json.loads((run.path / "lease").read_text())
    assert lease["pid"] == os.getpid() and lease["status"] == "finished"
    assert lease["took_over_from"]["pid"] == process.pid


def test_a_run_this_process_trains_is_refused_to_other_threads_and_the_dashboard(runs_root, xor_data):
    from nbmodels.dashboards.training import TrainingDashboard

    board = TrainingDashboard(recipes=[], builder=make_mlp, data=xor_data,
                              config=TrainConfig(steps=100_000, batch_size=32))
    run = board.start()
    assert run is not None
    wait_for(lambda: run.step >= 5)

    with pytest.raises(RunBusyError, match="this process .*run.request_stop"):
        resume(Run.load(run.id), make_mlp, xor_data, verbose=False)  # another Run object, same process
    with pytest.raises(RunBusyError, match="this process"):
        resume(run, verbose=False)  # the very Run whose thread trains
    errors = []
    racer = threading.Thread(target=lambda: errors.append(_resume_error(run.id, xor_data)))
    racer.start()
    racer.join()
    assert isinstance(errors[0], RunBusyError)
    assert board.resume() is None
    assert "being trained by this process" in board._message.value and "request_stop" in board._message.value

    run.request_stop()
    assert run.wait(timeout=120) == "stopped"
    assert_one_writer(events_of(run.id))
    run.config = run.config.replace(steps=run.step + 10)
    resume(run, verbose=False)  # the lease was let go with the thread
    assert run.status == "finished"
    assert [e["step"] for e in Run.load(run.id).history] == list(range(1, run.step + 1))
    board.close()


def _resume_error(run_id, data):
    try:
        resume(Run.load(run_id), make_mlp, data, background=True, verbose=False)
    except Exception as error:  # noqa: BLE001 - the test inspects it
        return error
    return None


def test_lease_is_exclusive_recorded_and_free_after_release(tmp_path):
    lease = rundir.Lease.take(tmp_path, "r1")
    held, record = rundir.read_lease(tmp_path)
    assert held and record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    with pytest.raises(RunBusyError, match=f"pid {os.getpid()}"):
        rundir.Lease.take(tmp_path, "r1", wait=0.05)
    lease.release("failed", "OSError: [Errno 28] No space left on device")
    held, record = rundir.read_lease(tmp_path)
    assert held is False and record["status"] == "failed" and "No space" in record["message"]
    assert (tmp_path / "lease").stat().st_size == rundir.LEASE_BYTES  # written in place, never grown
    again = rundir.Lease.take(tmp_path, "r1")
    assert "took_over_from" not in again.record  # the last owner let go; nobody died holding it
    again.release()
