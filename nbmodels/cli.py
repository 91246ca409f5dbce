"""`nbmodels demo | devices | runs list|show|stop` — the terminal's view of the same runs."""

from __future__ import annotations

import argparse
import json
import sys

from nbmodels.runs import rundir
from nbmodels.runs.formatting import LIST_HEADER, format_seconds, list_row
from nbmodels.runs.run import Run, list_runs, request_stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbmodels", description=__doc__.split("—")[1].strip())
    parser.add_argument("--root", help="runs folder (default: $NBMODELS_RUNS_DIR or ~/.nbmodels/runs)")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a small model on the embedded digits set, headless")
    demo.add_argument("--epochs", type=int, default=20)

    devices = commands.add_parser("devices", help="list CPU/GPU/TPU devices and the precision they suit")
    devices.add_argument("--json", action="store_true", help="machine-readable output")

    runs = commands.add_parser("runs", help="list, show or stop training runs")
    run_commands = runs.add_subparsers(dest="action", required=True)
    listing = run_commands.add_parser("list", help="every run, newest first")
    listing.add_argument("--json", action="store_true")
    show = run_commands.add_parser("show", help="one run: config, status, last metrics")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true")
    stop = run_commands.add_parser("stop", help="ask a run to stop after its current step and checkpoint")
    stop.add_argument("run_id")

    args = parser.parse_args(argv)
    try:
        return {"demo": _demo, "devices": _devices, "runs": _runs}[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"nbmodels: {error}", file=sys.stderr)
        return 2


def _demo(args) -> int:
    from nbmodels.demo import run_demo

    run = run_demo(epochs=args.epochs, root=args.root)
    return 0 if run.status == "finished" else 1


def _devices(args) -> int:
    from nbmodels.devices import devices, recommended_precision

    found = devices()
    if args.json:
        print(json.dumps([d.to_dict() for d in found], indent=2))
        return 0
    for device in found:
        print(device.summary())
    if not any(d.kind != "CPU" for d in found):
        print("CPU only: no GPU or TPU found.")
    print(f"precision='auto' resolves to {recommended_precision()}")
    return 0


def _runs(args) -> int:
    if args.action == "list":
        runs = list_runs(args.root)
        if args.json:
            print(json.dumps(runs, indent=2))
        elif not runs:
            print("No runs yet. `nbmodels demo` makes one.")
        else:
            print(LIST_HEADER)
            for row in runs:
                print(list_row(row))
        return 0
    if args.action == "stop":
        answer = request_stop(args.run_id, root=args.root)  # reads status.json only, however long the run
        if not answer["stop_requested"]:
            print(f"Run {answer['id']} is {answer['status']}; nothing to stop.")
        else:
            print(f"Asked run {answer['id']} to stop; it checkpoints and ends 'stopped' after its current step.")
        return 0
    run = Run.load(args.run_id, root=args.root, tail_bytes=rundir.TAIL_BYTES)  # latest values, not the history
    if args.action == "show":
        details = run.details()
        if args.json:
            print(json.dumps(details, indent=2))
        else:
            print(run.summary())
            if run.message:
                print(f"  {run.message}")
            if run.active and run.eta_seconds is not None:
                print(f"  ETA {format_seconds(run.eta_seconds)}")
            print(f"  checkpoint: {details['checkpoint'] or 'none'}")
            print("  config: " + ", ".join(f"{k}={v}" for k, v in details["config"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
