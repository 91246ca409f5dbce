"""Run and its directory, without TensorFlow: files other processes read and write."""

import json
import os
import socket
import subprocess
import sys

import pytest

from nbmodels.config import TrainConfig
from nbmodels.runs import rundir
from nbmodels.runs.run import Run, list_runs


def step(k, loss=1.0):
    return {"type": "step", "step": k, "epoch": k / 10, "metrics": {"loss": loss}}


def test_create_record_and_load_round_trip(runs_root):
    run = Run.create(TrainConfig(steps=10, seed=4), name="round trip", info={"model": "mlp"})
    assert run.id.endswith(run.id[-4:]) and "round-trip" in run.id
    seen = []
    run.observe(lambda change: seen.append(change["new"]), names=["events_count"])
    run.record([step(1, 2.0), step(2, 1.5), {"type": "validation", "step": 2, "metrics": {"val_loss": 1.7}}])
    assert len(seen) == 1  # one batch of events, one notification
    assert (run.step, run.metrics, run.validation) == (2, {"loss": 1.5}, {"val_loss": 1.7})

    loaded = Run.load(run.id)
    assert loaded.config == TrainConfig(steps=10, seed=4)
    assert loaded.model_name == "mlp" and loaded.name == "round trip"
    assert [e["step"] for e in loaded.history] == [1, 2]
    assert loaded.summary() == "Run {} created step 2 loss=1.5 val_loss=1.7".format(run.id)
    assert "<progress" in loaded._repr_html_()


def test_a_resume_drops_the_stretch_lost_with_the_process(runs_root):
    run = Run.create(TrainConfig(), name="lost")
    run.record([step(k) for k in range(1, 8)])
    run.record([{"type": "resume", "step": 5}, step(6, 0.5), step(7, 0.4), step(8, 0.3)])
    for view in (run, Run.load(run.id)):
        assert [e["step"] for e in view.history] == list(range(1, 9))
        assert view.history[5]["metrics"]["loss"] == 0.5


def test_a_line_torn_by_a_killed_writer_does_not_swallow_the_resume(runs_root):
    # A writer killed mid-write leaves a last line without its newline. The next writer (the
    # resume) cuts it off, or its resume marker would be glued to it and lost to every reader,
    # and the lost stretch (steps 6, 7) would stay in the history twice.
    run = Run.create(TrainConfig(), name="torn")
    run.record([step(k) for k in range(1, 8)])
    with open(run.path / "events.jsonl", "a") as f:
        f.write('{"type": "step", "step": 8, "metr')
    resumed = Run.load(run.id)
    resumed.record([{"type": "resume", "step": 5}, step(6, 0.5), step(7, 0.4), step(8, 0.3)])
    for view in (resumed, Run.load(run.id)):
        assert [e["step"] for e in view.history] == list(range(1, 9))
        assert view.history[5]["metrics"]["loss"] == 0.5
    assert all(line.endswith("}") for line in (run.path / "events.jsonl").read_text().splitlines())


def test_malformed_and_half_written_files_are_skipped(runs_root):
    run = Run.create(TrainConfig(), name="messy")
    run.set_status("finished")
    run.record([step(1)])
    with open(run.path / "events.jsonl", "a") as f:
        for i in range(1000):
            f.write(["{not json", "[1, 2]", '{"no": "type"}', '"a string"', '{"type": "step", "step": "x"}'][i % 5] + "\n")
        f.write(json.dumps(step(2)) + "\n")
        f.write('{"type": "step", "step": 3, "metr')  # being written right now
    (run.path / "status.json").write_text('{"status": "runn')
    loaded = Run.load(run.id)
    assert [e["step"] for e in loaded.history] == [1, 2]
    assert loaded.status == "finished"  # from the events, when status.json cannot be read
    assert [r["id"] for r in list_runs()] == [run.id]

    with open(run.path / "events.jsonl", "a") as f:
        f.write('rics": {}}\n')  # the writer finishes its line: the next read picks it up
    assert loaded.refresh() == 1 and loaded.history[-1]["step"] == 3


def test_status_of_a_dead_process_reads_interrupted(runs_root):
    run = Run.create(TrainConfig(), name="ghost")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    status = {"status": "running", "pid": int(dead.stdout), "host": socket.gethostname(), "updated": 0}
    rundir.write_json_atomic(run.path / "status.json", status)
    assert Run.load(run.id).status == "interrupted"
    status["pid"] = os.getpid()  # alive: still running
    rundir.write_json_atomic(run.path / "status.json", status)
    assert Run.load(run.id).status == "running"


def test_stop_request_crosses_processes_through_a_file(runs_root):
    run = Run.create(TrainConfig(), name="stoppable")
    other = Run.load(run.id)
    assert not run.stop_requested
    other.request_stop()
    assert run.stop_requested and (run.path / "stop").exists()
    run.clear_stop()  # what a resume does
    assert not run.stop_requested and not Run.load(run.id).stop_requested


@pytest.mark.parametrize(
    "bad", ["../etc", "..", "/etc/passwd", "a/b", "", ".hidden", "x" * 200, "%2e%2e", "a\\b", None]
)
def test_run_ids_cannot_leave_the_runs_root(runs_root, bad):
    with pytest.raises((ValueError, FileNotFoundError)):
        Run.load(bad)


def test_load_of_a_missing_run_names_it_and_the_fix(runs_root):
    with pytest.raises(FileNotFoundError, match="No run 'nope'.*nbmodels runs list"):
        Run.load("nope")


def test_status_must_be_known(runs_root):
    run = Run.create(TrainConfig())
    with pytest.raises(ValueError, match="not a run status"):
        run.set_status("paused")
