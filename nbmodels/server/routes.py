"""REST routes under ``<base_url>/nbmodels/``; every one needs an authenticated user.

    GET  runs                       every run under the runs root, newest first
    GET  runs/<id>                  one run: config, status, latest values, summary line
    GET  runs/<id>/events?cursor=&limit=
                                    events from a byte cursor on, and the cursor to continue from
    POST runs/<id>/stop             ask an active run to stop (writes its `stop` file)
    GET  devices                    CPU/GPU/TPU with memory and utilization

The run-directory files are written by other processes at any moment, so everything read
here goes through `nbmodels.runs.rundir`, which skips what it cannot parse: a half-written
or malformed file shows up as missing values, never as a 500.

Every request does bounded work however long a run's history is (the sidebar polls every 2 s):
a run's details come from status.json plus the last `rundir.TAIL_BYTES` of events.jsonl, an
events page reads at most `PAGE_BYTES` (plus one line of at most `rundir.MAX_LINE_BYTES`), and
a stop request reads status.json and creates one file. Nothing under the runs root is read or
written through a symbolic link: a linked run folder is no run (404), a linked file is absent.
"""

from __future__ import annotations

import asyncio
import json
import math

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from nbmodels.server.devices import DeviceMonitor
from nbmodels.runs import rundir
from nbmodels.runs.run import Run, list_runs, request_stop

DEFAULT_EVENTS = 1000
MAX_EVENTS = 5000  # one page stays a few hundred kB however far behind a client is
PAGE_BYTES = 4 << 20  # ...and reads at most this much, however much of the file is junk

# Any path component is captured, so that bad ids reach `run_id_or_400` and get a clear
# answer instead of falling through to a generic 404 page.
_ID = r"([^/]+)"


def to_json(value) -> str:
    """JSON a browser can parse: a diverged run's NaN or infinite metrics become null."""

    def clean(item):
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {str(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        return item

    return json.dumps(clean(value), allow_nan=False, default=str)


def run_id_or_400(run_id: str) -> str:
    """The run id if it is one plain path component, else a 400 naming the rule."""
    if not rundir.is_run_id(run_id):
        raise tornado.web.HTTPError(400, reason=f"{run_id!r} is not a run id: letters, digits, '_', '-' and '.' only")
    return run_id


def int_argument(handler: APIHandler, name: str, default: int, maximum: int | None = None) -> int:
    value = handler.get_argument(name, None)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise tornado.web.HTTPError(400, reason=f"{name} must be a non-negative integer, got {value!r}")
    return number if maximum is None else min(number, maximum)


async def in_thread(function, *args):
    """Disk reads of unbounded size run off the event loop, so one big run cannot stall the server."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def run_details(run_id: str) -> dict:
    """`GET runs/<id>`: Run.details() and info, from status.json and the tail of events.jsonl."""
    try:
        run = Run.load(run_id, tail_bytes=rundir.TAIL_BYTES)
    except FileNotFoundError as error:
        raise tornado.web.HTTPError(404, reason=f"no run {run_id!r}") from error
    return {**run.details(), "info": run.info}


def stop_run(run_id: str) -> dict:
    """`POST runs/<id>/stop`: writes the stop request of an active run, reads nothing else."""
    try:
        return request_stop(run_id)
    except FileNotFoundError as error:
        raise tornado.web.HTTPError(404, reason=f"no run {run_id!r}") from error
    except ValueError as error:  # `stop` is a symbolic link or not a file: refused, nothing written
        raise tornado.web.HTTPError(409, reason=str(error)) from error


def event_page(run_id: str, cursor: int, limit: int) -> dict:
    """`GET runs/<id>/events`: one bounded page from byte `cursor` on."""
    path = rundir.run_dir(run_id)
    if not rundir.is_run_dir(path):
        raise tornado.web.HTTPError(404, reason=f"no run {run_id!r}")
    events, cursor, more = rundir.read_event_page(path / "events.jsonl", cursor, limit, PAGE_BYTES)
    # `more`: the page stopped early, so the client reads again at once instead of waiting for
    # its next poll.
    return {"events": events, "cursor": cursor, "more": more}


class RunsHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self):
        runs = await in_thread(list_runs)
        self.finish(to_json({"root": str(rundir.runs_root()), "runs": runs}))


class RunHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        self.finish(to_json(await in_thread(run_details, run_id_or_400(run_id))))


class EventsHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self, run_id):
        run_id = run_id_or_400(run_id)
        cursor = int_argument(self, "cursor", 0)
        limit = int_argument(self, "limit", DEFAULT_EVENTS, MAX_EVENTS) or DEFAULT_EVENTS
        self.finish(to_json(await in_thread(event_page, run_id, cursor, limit)))


class StopHandler(APIHandler):
    @tornado.web.authenticated
    async def post(self, run_id):
        self.finish(to_json(await in_thread(stop_run, run_id_or_400(run_id))))


class DevicesHandler(APIHandler):
    @tornado.web.authenticated
    async def get(self):
        self.finish(to_json(await self.settings["nbmodels_devices"].snapshot()))


def route_table(base_url: str) -> list[tuple[str, type]]:
    """The (pattern, handler) pairs, under ``<base_url>/nbmodels/``."""
    prefix = url_path_join(base_url, "nbmodels")
    return [
        (url_path_join(prefix, "runs") + "/?", RunsHandler),
        (url_path_join(prefix, "runs", _ID) + "/?", RunHandler),
        (url_path_join(prefix, "runs", _ID, "events") + "/?", EventsHandler),
        (url_path_join(prefix, "runs", _ID, "stop") + "/?", StopHandler),
        (url_path_join(prefix, "devices") + "/?", DevicesHandler),
    ]


def setup_handlers(web_app) -> None:
    web_app.settings.setdefault("nbmodels_devices", DeviceMonitor())
    web_app.add_handlers(".*$", route_table(web_app.settings["base_url"]))
