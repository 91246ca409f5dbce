"""What one sidebar request costs on a long run: the server's reads before and after bounding them.

Issue 9, item 5: `GET runs/<id>` and `POST runs/<id>/stop` replayed the whole events.jsonl (a
200 MB file: 10.7 s and +1.6 GB of server memory per request, and the sidebar polls every 2 s),
and a 64 MB line without a newline was re-read by every `/events` poll. Now a run's details come
from status.json plus the last `rundir.TAIL_BYTES` of events.jsonl, stop reads status.json only,
and an events page reads a bounded amount, skipping over-long lines once.

Side by side, on the same files: "before" is the server's work at BASELINE (the commit before the
fix, read from git and loaded as modules next to today's), "after" is today's route functions
(`run_details`, `stop_run`, `event_page`: what each handler runs in its thread). Each (variant,
request) runs in its own fresh process, so its peak memory (VmHWM) is its own. Per request:
median seconds, bytes read (/proc/self/io rchar, every read system call of the process) and the
growth of peak memory. Exit code 0 either way.

    python bench/server_reads.py [--megabytes 200] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BASELINE = "7b6679279b84441f3f34da1a8f40bcabfe5b9172"  # main before issue 9 item 5
TARGET_BYTES = 2 << 20  # what one details or stop request may read, whatever the history's length
REQUESTS = ("details", "stop", "events_long_line")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200, help="size of the long run's events.jsonl")
    parser.add_argument("--line-megabytes", type=int, default=64, help="the unfinished line /events polls meet")
    parser.add_argument("--repeats", type=int, default=5, help="details and stop requests, per variant")
    parser.add_argument("--polls", type=int, default=20, help="/events polls, per variant, following the cursor")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--measure", nargs=3, metavar=("VARIANT", "REQUEST", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        repeats = args.polls if args.measure[1] == "events_long_line" else args.repeats
        print(json.dumps(_measure(*args.measure, repeats=repeats)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="nbmodels-bench-server-")) / "runs"
    try:
        started = time.perf_counter()
        _write_runs(root, args.megabytes << 20, args.line_megabytes << 20)
        print(f"wrote {args.megabytes} MB of history and a {args.line_megabytes} MB line "
              f"in {time.perf_counter() - started:.1f} s")
        variants = ("before", "after") if _baseline_available() else ("after",)
        if variants == ("after",):
            print(f"git cannot show {BASELINE[:10]}: measuring 'after' only")
        rows = {}
        for request in REQUESTS:
            for variant in variants:
                command = [sys.executable, __file__, "--measure", variant, request, str(root),
                           "--repeats", str(args.repeats), "--polls", str(args.polls)]
                out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
                rows[f"{variant}/{request}"] = json.loads(out.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)

    results = _results(args, rows)
    _print(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _write_runs(root: Path, history_bytes: int, line_bytes: int) -> None:
    """Two runs marked running on another host with a fresh heartbeat, so both variants treat
    them as active (a stop request writes the stop file)."""
    from nbmodels.config import TrainConfig
    from nbmodels.runs import rundir
    from nbmodels.runs.run import Run

    def step(k):
        return {"type": "step", "step": k, "epoch": k / 1000, "metrics": {"loss": 2.0, "accuracy": 0.5}, "time": 1.0}

    for name, size in (("long", history_bytes), ("line", line_bytes)):
        run = Run.create(TrainConfig(steps=10**6), name=name, root=root)
        with open(run.path / "events.jsonl", "wb") as f:
            f.write(json.dumps({"type": "start", "step": 0, "total_steps": 10**6, "time": 1.0}).encode() + b"\n")
            if name == "long":
                block = "".join(json.dumps(step(k)) + "\n" for k in range(1, 1001)).encode() * 64
                for _ in range(size // len(block) + 1):
                    f.write(block)
            else:  # one good line, then a line still being written, without its newline
                f.write(json.dumps(step(1)).encode() + b"\n")
                (root / "line.start").write_text(str(f.tell()))
                f.write(b'{"type": "step", "metrics": {"blob": "' + b"x" * size)
        status = {"status": "running", "step": 10**6, "total_steps": 10**6, "metrics": {"loss": 2.0},
                  "pid": os.getpid(), "host": "elsewhere", "updated": time.time() + 10**6}
        rundir.write_json_atomic(run.path / "status.json", status)
        (root / f"{name}.id").write_text(run.id)


def _baseline_available() -> bool:
    return subprocess.run(["git", "cat-file", "-e", BASELINE], cwd=REPO, capture_output=True).returncode == 0


def _baseline_modules():
    """rundir and run as they were at BASELINE, as modules beside today's."""
    def source(path):
        return subprocess.run(["git", "show", f"{BASELINE}:{path}"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout

    old_rundir = types.ModuleType("baseline_rundir")
    exec(compile(source("nbmodels/training/rundir.py"), "baseline/rundir.py", "exec"), old_rundir.__dict__)
    old_run = types.ModuleType("baseline_run")
    sys.modules["baseline_run"] = old_run
    # Its imports of the run-directory module (then nbmodels.training.rundir) go to the baseline's.
    old_run.rundir = old_rundir
    code = (source("nbmodels/training/run.py").replace("from nbmodels.training import rundir\n", "")
            .replace("from nbmodels.training.rundir import", "from baseline_rundir import"))
    sys.modules["baseline_rundir"] = old_rundir
    exec(compile(code, "baseline/run.py", "exec"), old_run.__dict__)
    return old_rundir, old_run


def _requests(variant: str, root: Path):
    """request name -> (a call doing one request's work, given the cursor; returns the next cursor)."""
    os.environ["NBMODELS_RUNS_DIR"] = str(root)
    long_id, line_id = (root / "long.id").read_text(), (root / "line.id").read_text()
    line_start = int((root / "line.start").read_text())  # where the unfinished line begins
    if variant == "before":
        old_rundir, old_run = _baseline_modules()

        def details(cursor):  # the old RunHandler: Run.load, then details()
            run = old_run.Run.load(long_id)
            {**run.details(), "info": run.info}
            return cursor

        def stop(cursor):  # the old StopHandler: Run.load, then request_stop()
            run = old_run.Run.load(long_id)
            if run.active:
                run.request_stop()
            return cursor

        def events(cursor):  # the old EventsHandler: read_events from the cursor, 1,000 at most
            return old_rundir.read_events(root / line_id / "events.jsonl", cursor, 1000)[1]
    else:
        from nbmodels.server import routes

        def details(cursor):
            routes.run_details(long_id)
            return cursor

        def stop(cursor):
            routes.stop_run(long_id)
            return cursor

        def events(cursor):
            return routes.event_page(line_id, cursor, 1000)["cursor"]

    return {"details": (details, 0), "stop": (stop, 0), "events_long_line": (events, line_start)}


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _peak_memory() -> int:
    """This process's peak resident memory in bytes: VmHWM, which (unlike ru_maxrss) starts
    afresh at exec rather than carrying over the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(variant: str, request: str, root: str, repeats: int) -> dict:
    call, cursor = _requests(variant, Path(root))[request]
    peak_before = _peak_memory()
    seconds, read = [], []
    for _ in range(repeats):
        # The client follows the cursor it is given, as the sidebar does.
        before, started = _rchar(), time.perf_counter()
        cursor = call(cursor)
        seconds.append(time.perf_counter() - started)
        read.append(_rchar() - before)
    peak_after = _peak_memory()
    return {"seconds": seconds, "bytes_read": read, "peak_memory_growth_bytes": peak_after - peak_before}


def _results(args, rows: dict) -> dict:
    return {
        "benchmark": "server_reads",
        "date": dt.date.today().isoformat(),
        "machine": machine(host=socket.gethostname()),
        "settings": {
            "history_megabytes": args.megabytes,
            "unfinished_line_megabytes": args.line_megabytes,
            "repeats": args.repeats,
            "polls": args.polls,
            "baseline": BASELINE,
        },
        "target_bytes_per_request": TARGET_BYTES,
        "requests": {
            key: {**row, "median_seconds": statistics.median(row["seconds"]),
                  "max_bytes_read": max(row["bytes_read"])}
            for key, row in rows.items()
        },
    }


def _print(results: dict) -> None:
    m = results["machine"]
    print(f"server reads: {results['settings']['history_megabytes']} MB events.jsonl; an /events poll meeting "
          f"a {results['settings']['unfinished_line_megabytes']} MB unfinished line; "
          f"{results['settings']['repeats']} requests each, a fresh process per row")
    print(f"machine: {m['processor']}, {m['cpu_count']} CPUs; python {m['python']}\n")
    print(f"{'request':<26}{'median s':>10}{'MB read: first':>16}{'max':>9}{'last':>9}{'peak mem +MB':>14}")
    for key, row in results["requests"].items():
        first, most, last = (b / 2**20 for b in (row["bytes_read"][0], max(row["bytes_read"]), row["bytes_read"][-1]))
        print(f"{key:<26}{row['median_seconds']:>10.4f}{first:>16.2f}{most:>9.2f}{last:>9.2f}"
              f"{row['peak_memory_growth_bytes'] / 2**20:>14.1f}")
    rows = results["requests"]
    if "before/details" in rows:
        for request in ("details", "stop"):
            before, after = rows[f"before/{request}"], rows[f"after/{request}"]
            print(f"{request}: {before['median_seconds'] / after['median_seconds']:,.0f}x faster, "
                  f"{before['max_bytes_read'] / max(after['max_bytes_read'], 1):,.0f}x fewer bytes read")
    worst = max(rows[f"after/{request}"]["max_bytes_read"] for request in ("details", "stop"))
    verdict = "PASS" if worst <= results["target_bytes_per_request"] else "MISS"
    print(f"\nbytes read by one details or stop request, after: {worst / 2**20:.2f} MB "
          f"(target <= {results['target_bytes_per_request'] / 2**20:.0f} MB) {verdict}")


if __name__ == "__main__":
    sys.exit(main())
