"""Symbolic links under the runs root are never followed, by the routes or the library
(issue 9, item 7): a linked run folder is no run, a linked file is absent, and a stop request
never creates a file through a link."""

import json
import os

import pytest
from tornado.httpclient import HTTPClientError

from nbmodels.config import TrainConfig
from nbmodels.runs import rundir
from nbmodels.runs.run import Run, list_runs, request_stop
from tests.server.test_routes import get, status_of

SECRET = {"type": "step", "step": 999, "epoch": 9.0, "metrics": {"secret": 1.0}}


@pytest.fixture
def outside(runs_root):
    """A complete, running run folder outside the runs root: what a link would expose."""
    folder = runs_root.parent / "outside"
    folder.mkdir()
    config = {"name": "secret", "train_config": TrainConfig(steps=999).to_dict(), "created": 2e9}
    (folder / "config.json").write_text(json.dumps(config))
    status = {"status": "running", "step": 999, "total_steps": 999, "metrics": {"secret": 1.0},
              "pid": os.getpid(), "host": os.uname().nodename, "updated": 2e9}
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "events.jsonl").write_text((json.dumps(SECRET) + "\n") * 5000)
    return folder


@pytest.fixture
def run(runs_root):
    """A real run, active in this process, with two steps."""
    run = Run.create(TrainConfig(steps=10), name="real")
    run.set_status("running")
    run.record([{"type": "step", "step": k, "epoch": k / 10, "metrics": {"loss": 1.0 / k}} for k in (1, 2)])
    return run


def test_a_dangling_stop_link_creates_nothing_outside_the_root(run, outside):
    target = outside / "created-by-stop"
    (run.path / "stop").symlink_to(target)
    with pytest.raises(ValueError, match="stop.*not a plain file.*remove it"):
        Run.load(run.id).request_stop()
    with pytest.raises(ValueError, match="not a plain file"):
        request_stop(run.id)
    assert not target.exists() and (run.path / "stop").is_symlink()
    # A link named `stop` is no stop request, even to an existing file.
    target.write_text("")
    assert not Run.load(run.id).stop_requested


async def test_a_dangling_stop_link_is_refused_by_the_route(jp_fetch, run, outside):
    target = outside / "created-by-stop"
    (run.path / "stop").symlink_to(target)
    with pytest.raises(HTTPClientError) as error:
        await jp_fetch("nbmodels", "runs", run.id, "stop", method="POST", body=b"")
    assert error.value.code == 409 and "not a plain file" in error.value.response.reason
    assert not target.exists()
    # The plain case still works: remove the link and ask again.
    (run.path / "stop").unlink()
    answer = await jp_fetch("nbmodels", "runs", run.id, "stop", method="POST", body=b"")
    assert json.loads(answer.body)["stop_requested"] is True and run.stop_requested


def test_a_linked_run_folder_is_no_run_for_the_library(runs_root, run, outside):
    (runs_root / "20990101-000000-linked-0000").symlink_to(outside, target_is_directory=True)
    assert [r["id"] for r in list_runs()] == [run.id]
    for load in (Run.load, lambda run_id: Run.load(run_id, tail_bytes=rundir.TAIL_BYTES), request_stop):
        with pytest.raises(FileNotFoundError, match="symbolic link"):
            load("20990101-000000-linked-0000")
    assert not (outside / "stop").exists()


async def test_a_linked_run_folder_is_no_run_for_the_routes(jp_fetch, runs_root, run, outside):
    linked = "20990101-000000-linked-0000"
    (runs_root / linked).symlink_to(outside, target_is_directory=True)
    listing = await get(jp_fetch, "nbmodels", "runs")
    assert [r["id"] for r in listing["runs"]] == [run.id]
    assert await status_of(jp_fetch, "nbmodels", "runs", linked) == 404
    assert await status_of(jp_fetch, "nbmodels", "runs", linked, "events") == 404
    assert await status_of(jp_fetch, "nbmodels", "runs", linked, "stop", method="POST") == 404
    assert not (outside / "stop").exists()


def link_file(run, outside, name):
    (run.path / name).unlink(missing_ok=True)
    (run.path / name).symlink_to(outside / name)


@pytest.mark.parametrize("name", ["events.jsonl", "status.json"])
def test_linked_files_are_not_read_by_the_library(run, outside, name):
    link_file(run, outside, name)
    for loaded in (Run.load(run.id), Run.load(run.id, tail_bytes=rundir.TAIL_BYTES)):
        assert loaded.step != 999 and "secret" not in loaded.metrics
        assert all(e.get("step") != 999 for e in loaded.events)
    listed = list_runs()[0]
    assert listed["step"] != 999 and "secret" not in listed["metrics"]
    if name == "events.jsonl":
        assert rundir.read_events(run.path / "events.jsonl", 100) == ([], 100)


def test_a_linked_config_makes_no_run_for_the_library(run, outside):
    link_file(run, outside, "config.json")
    assert list_runs() == []
    with pytest.raises(FileNotFoundError):
        Run.load(run.id)


@pytest.mark.parametrize("name", ["events.jsonl", "status.json"])
async def test_linked_files_are_not_served(jp_fetch, run, outside, name):
    link_file(run, outside, name)
    details = await get(jp_fetch, "nbmodels", "runs", run.id)
    assert details["step"] != 999 and "secret" not in details["metrics"]
    listed = (await get(jp_fetch, "nbmodels", "runs"))["runs"][0]
    assert listed["step"] != 999 and "secret" not in listed["metrics"]
    for cursor in (0, 100):
        page = await get(jp_fetch, "nbmodels", "runs", run.id, "events", cursor=cursor)
        assert all(e.get("step") != 999 for e in page["events"])
        if name == "events.jsonl":  # nothing read, and the cursor says nothing of the outside file's size
            assert page == {"events": [], "cursor": cursor, "more": False}


async def test_a_linked_config_makes_no_run_for_the_routes(jp_fetch, run, outside):
    link_file(run, outside, "config.json")
    assert (await get(jp_fetch, "nbmodels", "runs"))["runs"] == []
    assert await status_of(jp_fetch, "nbmodels", "runs", run.id) == 404
    assert await status_of(jp_fetch, "nbmodels", "runs", run.id, "events") == 404
    assert await status_of(jp_fetch, "nbmodels", "runs", run.id, "stop", method="POST") == 404
    assert not (outside / "stop").exists() and not (run.path / "stop").exists()


def test_a_fifo_in_a_run_folder_hangs_no_reader_and_no_stop_request(run):
    os.mkfifo(run.path / "stop")
    with pytest.raises(ValueError, match="not a plain file"):
        request_stop(run.id)
    (run.path / "status.json").unlink()
    os.mkfifo(run.path / "status.json")
    assert Run.load(run.id).status == "running"  # from the events; the FIFO is skipped


def test_the_writer_never_writes_through_a_planted_link(run, outside):
    # status.json is written to a temporary name, then renamed: a link planted under that name
    # is replaced, and the file it points at is left as it was.
    target = outside / "status-target"
    target.write_text("untouched")
    planted = run.path / f".status.json.{os.getpid()}.tmp"
    planted.symlink_to(target)
    run.set_status("running", "after the link was planted")
    assert target.read_text() == "untouched" and not planted.exists()
    assert rundir.read_json(run.path / "status.json")["message"] == "after the link was planted"
    # The event log is opened without following a link.
    (run.path / "events.jsonl").unlink()
    (run.path / "events.jsonl").symlink_to(outside / "events.jsonl")
    with pytest.raises(OSError):
        rundir.EventLog(run.path / "events.jsonl")
