"""The server extension against a real jupyter_server, over real run directories."""

import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from nbmodels.server.routes import route_table
from nbmodels.runs import rundir
from nbmodels.runs.run import list_runs

REPO = Path(__file__).resolve().parents[2]

# Every route with a method it serves; "x" stands for a run id.
ROUTES = [
    ("GET", "nbmodels/runs"),
    ("GET", "nbmodels/runs/x"),
    ("GET", "nbmodels/runs/x/events"),
    ("POST", "nbmodels/runs/x/stop"),
    ("GET", "nbmodels/devices"),
]


def strict_json(body: bytes):
    """Parse as a browser's JSON.parse would: NaN and Infinity are not JSON."""
    return json.loads(body, parse_constant=lambda name: pytest.fail(f"{name} in a JSON answer"))


async def get(jp_fetch, *parts, **params):
    response = await jp_fetch(*parts, params=params)
    assert response.code == 200
    return strict_json(response.body)


async def status_of(jp_fetch, *parts, method="GET", token=True):
    headers = {} if token else {"Authorization": ""}
    body = b"" if method == "POST" else None
    try:
        response = await jp_fetch(*parts, method=method, body=body, headers=headers)
    except HTTPClientError as error:
        return error.code
    return response.code


async def raw_status(http_server_client, jp_base_url, jp_auth_header, path, method="GET"):
    """A request with the path sent byte for byte (jp_fetch would percent-encode it again)."""
    response = await http_server_client.fetch(
        jp_base_url + path,
        method=method,
        body=b"" if method == "POST" else None,
        headers=jp_auth_header,
        raise_error=False,
    )
    return response.code


@pytest.fixture
def copied_runs(trained_root, runs_root):
    """The trained runs, copied into this test's own runs root (so a test may damage them)."""
    shutil.copytree(trained_root, runs_root)
    return runs_root


@pytest.mark.parametrize("method, path", ROUTES)
async def test_every_route_refuses_requests_without_a_token(jp_fetch, copied_runs, method, path):
    run_id = list_runs()[0]["id"]
    parts = path.replace("/x", "/" + run_id).split("/")
    assert await status_of(jp_fetch, *parts, method=method, token=False) == 403
    # ...and the same request with the token is served, so the 403 above was about the token.
    assert await status_of(jp_fetch, *parts, method=method) == 200


def test_every_handler_is_authenticated(jp_web_app):
    # The check jupyter_server runs on extension routes (it warns, unless configured to
    # refuse, about methods without @web.authenticated): none of ours may be reported.
    for pattern, handler in route_table(jp_web_app.settings["base_url"]):
        assert jp_web_app._check_handler_auth(pattern, handler) == []


async def test_listing_one_run_and_paging_events_on_runs_written_by_train(jp_fetch, trained_root, monkeypatch):
    monkeypatch.setenv(rundir.ROOT_ENV, str(trained_root))
    listing = await get(jp_fetch, "nbmodels", "runs")
    assert listing["root"] == str(trained_root)
    runs = {r["name"]: r for r in listing["runs"]}
    assert sorted(runs) == ["longer", "short"]
    assert [r["id"] for r in listing["runs"]] == [r["id"] for r in list_runs()]  # newest first
    for name, steps in (("short", 30), ("longer", 45)):
        assert runs[name]["status"] == "finished"
        assert runs[name]["step"] == runs[name]["total_steps"] == steps
        assert set(runs[name]["metrics"]) >= {"loss", "accuracy"}

    run_id = runs["longer"]["id"]
    details = await get(jp_fetch, "nbmodels", "runs", run_id)
    assert details["config"]["steps"] == 45 and details["config"]["checkpoint_every"] == 15
    assert details["status"] == "finished" and details["checkpoint"].endswith("step-000000045")
    assert details["summary"].startswith(f"Run {run_id} finished step 45/45")

    # Page through events 7 at a time: together the pages are the whole file, in order.
    events_file = trained_root / run_id / "events.jsonl"
    cursor, pages, paged = 0, 0, []
    while True:
        page = await get(jp_fetch, "nbmodels", "runs", run_id, "events", cursor=cursor, limit=7)
        paged += page["events"]
        pages += 1
        assert page["cursor"] >= cursor
        cursor = page["cursor"]
        if not page["more"]:
            break
    everything, end = rundir.read_events(events_file)
    assert paged == everything and cursor == end == events_file.stat().st_size
    assert pages == math.ceil(len(everything) / 7) + (len(everything) % 7 == 0)
    assert [e["step"] for e in paged if e["type"] == "step"] == list(range(1, 46))
    assert {"start", "step", "validation", "checkpoint", "status"} <= {e["type"] for e in paged}

    # At the end of the file a poll costs nothing and returns nothing.
    idle = await get(jp_fetch, "nbmodels", "runs", run_id, "events", cursor=cursor)
    assert idle == {"events": [], "cursor": cursor, "more": False}


@pytest.mark.parametrize(
    "path",
    [
        "nbmodels/runs/..",
        "nbmodels/runs/%2e%2e",
        "nbmodels/runs/..%2Foutside",
        "nbmodels/runs/%2E%2E%2Foutside",
        "nbmodels/runs/%2Ftmp",
        "nbmodels/runs/%252e%252e%252Foutside",  # encoded twice
        "nbmodels/runs/..%5Coutside",  # a backslash
        "nbmodels/runs/.hidden",
        "nbmodels/runs/a%00b",
        "nbmodels/runs/../outside",
        "nbmodels/runs//tmp",
        "nbmodels/runs/..%2Foutside/events",
        "nbmodels/runs/%2Ftmp/events",
        "nbmodels/runs/..%2F..%2Foutside/events",
    ],
)
async def test_ids_that_leave_the_runs_root_are_refused(
    http_server_client, jp_base_url, jp_auth_header, runs_root, path
):
    # A readable run just outside the root: reaching it would be a traversal.
    outside = runs_root.parent / "outside"
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps({"name": "secret"}))
    (outside / "events.jsonl").write_text(json.dumps({"type": "secret"}) + "\n")
    runs_root.mkdir()
    assert await raw_status(http_server_client, jp_base_url, jp_auth_header, path) in (400, 404)
    stop = path.removesuffix("/events") + "/stop"
    assert await raw_status(http_server_client, jp_base_url, jp_auth_header, stop, method="POST") in (400, 404)
    assert not (outside / "stop").exists()


async def test_bad_cursor_and_limit_are_400(jp_fetch, copied_runs):
    run_id = list_runs()[0]["id"]
    for params in ({"cursor": "-1"}, {"cursor": "abc"}, {"limit": "many"}):
        with pytest.raises(HTTPClientError) as error:
            await jp_fetch("nbmodels", "runs", run_id, "events", params=params)
        assert error.value.code == 400


async def test_unknown_run_is_404(jp_fetch, copied_runs):
    for parts, method in ((("nbmodels", "runs", "no-such-run"), "GET"),
                          (("nbmodels", "runs", "no-such-run", "events"), "GET"),
                          (("nbmodels", "runs", "no-such-run", "stop"), "POST")):
        assert await status_of(jp_fetch, *parts, method=method) == 404


MALFORMED = [
    b"not json at all",
    b'{"type": "step", "step": 3, "metrics": {"loss": 0.5',  # truncated
    b"[1, 2, 3]",
    b'{"step": 4}',  # no type
    b'{"type": 7}',
    b"\xff\xfe\x00garbage",
    b"",
    b"null",
    b'"a string"',
    b"{}}",
]


async def test_malformed_lines_and_a_half_written_status_are_skipped(jp_fetch, copied_runs):
    run = next(r for r in list_runs() if r["name"] == "short")
    path = copied_runs / run["id"]
    good, _ = rundir.read_events(path / "events.jsonl")
    with open(path / "events.jsonl", "ab") as f:
        for i in range(1000):
            f.write(MALFORMED[i % len(MALFORMED)] + b"\n")
        f.write(b'{"type": "step", "step": 31, "epoch": 2.2, "metrics": {"loss": NaN, "accuracy": Infinity}}\n')
        f.write(b'{"type": "step", "step": 32, "metrics": {"lo')  # being written: no newline yet
    (path / "status.json").write_text('{"status": "runn')
    # A run whose config.json is half-written, and a folder that is not a run id.
    broken = copied_runs / "20990101-000000-broken-0000"
    broken.mkdir()
    (broken / "config.json").write_text('{"name": "bro')
    (copied_runs / "not a run").mkdir()

    listing = await get(jp_fetch, "nbmodels", "runs")
    listed = {r["id"]: r for r in listing["runs"]}
    assert set(listed) == {r["id"] for r in list_runs()} and broken.name not in listed
    assert listed[run["id"]]["status"] == "created"  # status unknown: the status file is unreadable

    details = await get(jp_fetch, "nbmodels", "runs", run["id"])
    assert details["step"] == 31  # from the events, which survive a bad status file

    cursor, events = 0, []
    while True:
        page = await get(jp_fetch, "nbmodels", "runs", run["id"], "events", cursor=cursor, limit=100)
        events += page["events"]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert events[: len(good)] == good
    assert [e.get("step") for e in events[len(good):]] == [31]  # the malformed 1,000 are gone
    assert events[-1]["metrics"] == {"loss": None, "accuracy": None}  # NaN is not JSON
    # The unfinished last line is left for the next poll.
    assert cursor == (path / "events.jsonl").stat().st_size - len(b'{"type": "step", "step": 32, "metrics": {"lo')
    assert await status_of(jp_fetch, "nbmodels", "runs", broken.name) == 404


async def test_devices_lists_this_machine_without_tensorflow_in_the_server(jp_fetch):
    # The first request waits for the child process that lists devices (it imports TensorFlow:
    # 5 s on a quiet machine, more than the client's default 20 s on a busy CI box).
    from nbmodels.server.devices import LIST_TIMEOUT

    response = await jp_fetch("nbmodels", "devices", request_timeout=LIST_TIMEOUT + 10)
    assert response.code == 200
    answer = strict_json(response.body)
    assert answer["error"] is None
    cpus = [d for d in answer["devices"] if d["kind"] == "CPU"]
    assert cpus and cpus[0]["memory_total"] > 0 and 0 < cpus[0]["memory_used"] <= cpus[0]["memory_total"]
    assert answer["cpu_only"] == (not any(d["kind"] != "CPU" for d in answer["devices"]))
    assert all(d["utilization"] is None for d in cpus)


def test_the_server_extension_imports_without_tensorflow():
    # A fresh interpreter: this test process may have imported TensorFlow for other tests.
    code = "import sys, nbmodels.server.routes; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_stop_request_reaches_a_training_run_in_another_process(jp_fetch, runs_root):
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.training.scripts", "long_run", str(runs_root)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            runs = (await get(jp_fetch, "nbmodels", "runs"))["runs"]
            if runs and runs[0]["status"] == "running" and runs[0]["step"] > 0:
                break
            assert child.poll() is None, child.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the training child never reported a step"
            time.sleep(0.3)
        run_id = runs[0]["id"]
        response = await jp_fetch("nbmodels", "runs", run_id, "stop", method="POST", body=b"")
        assert strict_json(response.body)["stop_requested"] is True
        output, _ = child.communicate(timeout=180)
        assert child.returncode == 0, output[-3000:]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    details = await get(jp_fetch, "nbmodels", "runs", run_id)
    assert details["status"] == "stopped"
    assert details["checkpoint"], "a stopped run keeps a checkpoint"
    checkpoint = Path(details["checkpoint"])
    assert (checkpoint / "progress.json").exists()
    assert checkpoint.name == f"step-{details['step']:09d}"  # checkpointed where it stopped
    again = await jp_fetch("nbmodels", "runs", run_id, "stop", method="POST", body=b"")
    assert strict_json(again.body)["stop_requested"] is False  # nothing left to stop
