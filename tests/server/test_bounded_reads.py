"""Every route does bounded work however long a run's history is (issue 9, item 5).

What is counted is bytes read, not time: /proc/self/io's `rchar` (bytes passed through read
system calls by this process) before and after each request. The server runs in this process
(pytest-jupyter), so the count covers everything the handlers read.
"""

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from nbmodels.config import TrainConfig
from nbmodels.server.routes import PAGE_BYTES
from nbmodels.runs import rundir
from nbmodels.runs.run import Run, list_runs, request_stop
from tests.server.test_routes import get

PROC_IO = Path("/proc/self/io")
pytestmark = pytest.mark.skipif(not PROC_IO.exists(), reason="counts bytes read with Linux's /proc/self/io")

HISTORY_BYTES = 200 << 20  # the size that took 10.7 s and 1.6 GB of server memory per request
BOUND = 2 << 20  # what one details/stop/listing request may read: the tail, two small JSON files
LAST_STEP = 1_000_000


def bytes_read() -> int:
    for line in PROC_IO.read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar line in /proc/self/io")


async def counted(call):
    """(the result of awaiting `call()`, the bytes this process read meanwhile)."""
    before = bytes_read()
    result = await call()
    return result, bytes_read() - before


def step(k: int, loss: float) -> dict:
    return {"type": "step", "step": k, "epoch": k / 100, "metrics": {"loss": loss}, "time": 1.0}


def write_lines(f, events) -> None:
    f.write("".join(json.dumps(e) + "\n" for e in events).encode())


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A running run (this process, so it is alive) whose events.jsonl is about 200 MB."""
    root = tmp_path_factory.mktemp("long") / "runs"
    run = Run.create(TrainConfig(steps=LAST_STEP), name="long", root=root)
    path = run.path / "events.jsonl"
    block = "".join(json.dumps(step(k, 2.0)) + "\n" for k in range(1, 1001)).encode()  # ~90 kB
    with open(path, "wb") as f:
        write_lines(f, [{"type": "start", "step": 0, "total_steps": LAST_STEP, "time": 1.0}])
        chunk = block * 64
        for _ in range(HISTORY_BYTES // len(chunk) + 1):
            f.write(chunk)
        # The latest values, which a reader must find without reading what comes before.
        write_lines(
            f,
            [
                {"type": "validation", "step": LAST_STEP, "epoch": 1.0, "metrics": {"val_loss": 0.25}},
                {"type": "progress", "step": LAST_STEP, "samples_per_second": 123.0, "eta_seconds": 4.0},
                step(LAST_STEP, 0.125),
            ],
        )
    assert path.stat().st_size > HISTORY_BYTES
    status = {"status": "running", "step": LAST_STEP, "total_steps": LAST_STEP, "epoch": 1.0,
              "metrics": {"loss": 0.125}, "pid": os.getpid(), "host": socket.gethostname(), "updated": 1.0}
    rundir.write_json_atomic(run.path / "status.json", status)
    yield run
    shutil.rmtree(root.parent)


@pytest.fixture
def long_root(long_run, monkeypatch):
    monkeypatch.setenv(rundir.ROOT_ENV, str(long_run.root))
    (long_run.path / "stop").unlink(missing_ok=True)
    return long_run.root


async def test_each_route_reads_a_bounded_amount_of_a_200_mb_history(jp_fetch, long_run, long_root):
    run_id = long_run.id
    details, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs", run_id))
    assert spent < BOUND, f"GET runs/<id> read {spent:,} bytes"
    # The details are the latest values, found at the end of the file.
    assert details["status"] == "running" and details["step"] == details["total_steps"] == LAST_STEP
    assert details["metrics"] == {"loss": 0.125} and details["validation"] == {"val_loss": 0.25}
    assert details["samples_per_second"] == 123.0 and details["eta_seconds"] == 4.0
    assert details["summary"] == f"Run {run_id} running step {LAST_STEP}/{LAST_STEP} loss=0.125 val_loss=0.25"
    assert details["config"]["steps"] == LAST_STEP and details["info"]["name"] == "long"

    listing, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs"))
    assert spent < BOUND and [r["id"] for r in listing["runs"]] == [run_id]

    # Pages of events from the start and from the middle: each bounded by its page size.
    middle = (long_run.path / "events.jsonl").stat().st_size // 2
    for cursor in (0, middle):
        page, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs", run_id, "events", cursor=cursor))
        assert spent < BOUND and len(page["events"]) == 1000 and page["more"] is True

    stopped, spent = await counted(
        lambda: jp_fetch("nbmodels", "runs", run_id, "stop", method="POST", body=b"")
    )
    assert spent < BOUND, f"POST runs/<id>/stop read {spent:,} bytes"
    assert json.loads(stopped.body) == {"id": run_id, "status": "running", "stop_requested": True}
    assert long_run.stop_requested


def test_library_readers_of_latest_values_are_bounded_too(long_run, long_root):
    before = bytes_read()
    latest = Run.load(long_run.id, tail_bytes=rundir.TAIL_BYTES)
    assert bytes_read() - before < BOUND
    assert (latest.step, latest.metrics, latest.validation) == (LAST_STEP, {"loss": 0.125}, {"val_loss": 0.25})
    assert latest.total_steps == LAST_STEP and latest.status == "running"
    before = bytes_read()
    assert request_stop(long_run.id)["stop_requested"] and list_runs()[0]["id"] == long_run.id
    assert bytes_read() - before < BOUND


async def test_a_64_mb_line_is_skipped_in_bounded_pages_and_never_read_twice(jp_fetch, runs_root):
    run = Run.create(TrainConfig(), name="one long line")
    events = run.path / "events.jsonl"
    huge = 64 << 20
    with open(events, "wb") as f:
        write_lines(f, [step(1, 1.0)])
        f.write(b'{"type": "step", "metrics": {"blob": "' + b"x" * huge)  # no newline (yet)
    per_request = PAGE_BYTES + rundir.MAX_LINE_BYTES + (1 << 20)  # a page, one line, buffering

    async def page(cursor):
        answer, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs", run.id, "events", cursor=cursor))
        assert spent < per_request, f"one events page read {spent:,} bytes"
        return answer

    async def poll_until_idle(cursor):
        found, pages = [], 0
        while True:
            answer = await page(cursor)
            found += answer["events"]
            cursor, pages = answer["cursor"], pages + 1
            if not answer["more"]:
                return found, cursor, pages

    found, cursor, pages = await poll_until_idle(0)
    assert [e["step"] for e in found] == [1]
    assert pages > 1  # the long line took several bounded pages
    # Past the long line, though it has no newline yet; a page that starts inside it cannot know
    # it is inside one, so at most a line's worth at the end may wait for its newline.
    assert events.stat().st_size - rundir.MAX_LINE_BYTES < cursor <= events.stat().st_size

    # A poll now reads at most that much: the long line is not read again.
    before = bytes_read()
    assert await get(jp_fetch, "nbmodels", "runs", run.id, "events", cursor=cursor) == {
        "events": [], "cursor": cursor, "more": False}
    assert bytes_read() - before < rundir.MAX_LINE_BYTES + (64 << 10)

    # The writer ends the long line and goes on: the rest of it is skipped, the next event served.
    with open(events, "ab") as f:
        f.write(b'"}}\n')
        write_lines(f, [step(2, 0.5)])
    found, cursor, _ = await poll_until_idle(cursor)
    assert [e["step"] for e in found] == [2] and cursor == events.stat().st_size

    # The details route reads only the tail, even with the long line in it.
    details, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs", run.id))
    assert spent < BOUND and details["step"] == 2


def test_read_events_skips_an_overlong_line_and_keeps_its_neighbours(tmp_path):
    path = tmp_path / "events.jsonl"
    long_line = json.dumps({"type": "step", "step": 2, "blob": "y" * (3 * rundir.MAX_LINE_BYTES)})
    path.write_text("\n".join([json.dumps(step(1, 1.0)), long_line, json.dumps(step(3, 0.5))]) + "\n")
    before = bytes_read()
    events, offset = rundir.read_events(path)
    assert [e["step"] for e in events] == [1, 3] and offset == path.stat().st_size
    assert bytes_read() - before < 2 * path.stat().st_size  # read once, in chunks


def test_a_tail_load_shows_the_same_latest_values_as_a_full_replay(runs_root):
    run = Run.create(TrainConfig(steps=400), name="tail")
    run.set_status("running")
    run.record([{"type": "start", "step": 0, "total_steps": 400}])
    run.record([step(k, 1.0 / k) for k in range(1, 300)])
    run.record([{"type": "validation", "step": 299, "metrics": {"val_loss": 0.5}}])
    run.record([{"type": "resume", "step": 250}] + [step(k, 2.0 / k) for k in range(251, 281)])
    run.record([{"type": "progress", "step": 280, "samples_per_second": 9.0, "learning_rate": 0.01}])
    run._write_status()  # the heartbeat a training process writes every few seconds
    full = Run.load(run.id)
    for tail in (1 << 20, 4000, 700, 1):
        latest = Run.load(run.id, tail_bytes=tail)
        for name in ("status", "step", "total_steps", "epoch", "metrics"):
            assert getattr(latest, name) == getattr(full, name), (tail, name)
        # The tail's history is the end of the full one (the resume's lost stretch dropped).
        assert latest.history == full.history[len(full.history) - len(latest.history):]
    assert Run.load(run.id, tail_bytes=1 << 20).details() == full.details()


async def test_a_cursor_past_any_file_size_is_an_empty_page(jp_fetch, runs_root):
    run = Run.create(TrainConfig(), name="far")
    run.record([step(1, 1.0)])
    for cursor in (10**30, 2**63):
        page = await get(jp_fetch, "nbmodels", "runs", run.id, "events", cursor=cursor)
        assert page == {"events": [], "cursor": cursor, "more": False}


async def test_an_oversized_status_or_config_file_is_not_read_whole(jp_fetch, runs_root):
    run = Run.create(TrainConfig(), name="padded")
    padding = "x" * (8 << 20)
    rundir.write_json_atomic(run.path / "status.json", {"status": "running", "step": 7, "pad": padding})
    listing, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs"))
    assert spent < BOUND and listing["runs"][0]["step"] == 0  # too big to be ours: treated as unreadable
    details, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs", run.id))
    assert spent < BOUND and details["step"] == 0
    config = json.loads((run.path / "config.json").read_text())
    rundir.write_json_atomic(run.path / "config.json", {**config, "pad": padding})
    listing, spent = await counted(lambda: get(jp_fetch, "nbmodels", "runs"))
    assert spent < BOUND and listing["runs"] == []
