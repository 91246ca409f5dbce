"""What watching a run costs: the same recorded fit with a MetricsPanel attached and without.

Design target (DESIGN.md, "Throttle, don't drop"; issue 4): time ratio <= 1.03.

Both variants are bench/recording_overhead.py's recorded fit (an MLP on digits, `model.fit`
over the same cached step-addressed stream, a `RunCallback` feeding a real `Run`, flushing
every 0.5 s); the watched variant also has a `MetricsPanel` observing that Run, created before
the fit starts. So the difference is the panel alone: its observer on every flush, the
throttled redraw (series update, trace arrays, one `batch_update` of a FigureWidget), the
header, and the comm traffic.

Comm traffic is real: everything runs inside `nbmodels.dashboards.testing.kernel_comms()`,
an in-process ipykernel registered as the kernel, so every widget update is serialized by
ipywidgets (binary buffers for the float arrays), published by ipykernel's Comm through
`Session.send` (JSON packing and HMAC signing) and handed to the IOPub thread, as in
JupyterLab; only the last hop (a ZMQ socket to a browser) is an in-memory socket where the
messages are counted. Variants alternate (A B, B A, ...) for --repeats pairs after one
untimed fit each; the ratio is median watched / median plain, with the paired ratios beside.

    python bench/dashboard_overhead.py [--steps 400] [--repeats 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from recording_overhead import _Bench, _cpu_name  # noqa: E402  (bench/ is on sys.path as the script's folder)

from nbmodels.dashboards import MetricsPanel  # noqa: E402
from nbmodels.dashboards.testing import kernel_comms  # noqa: E402

TARGET = 1.03


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="batches per timed fit")
    parser.add_argument("--repeats", type=int, default=15, help="timed fits of each variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--interval", type=float, default=0.5, help="the panel's redraw interval, seconds")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="nbmodels-bench-") as root, kernel_comms() as traffic:
        bench = _Bench(args.steps, args.batch_size, (64,), root)
        plain, watched, fits = [], [], []

        def fit(watch: bool) -> float:
            recorder = bench.recorder()
            panel = MetricsPanel(recorder.run, interval=args.interval) if watch else None
            traffic.settle()
            before = (traffic.messages, traffic.bytes, panel.redraws if panel else 0)
            elapsed = bench.fit(recorder=recorder)
            if panel is not None:
                traffic.settle()
                fits.append({"messages": traffic.messages - before[0], "bytes": traffic.bytes - before[1],
                             "redraws": panel.redraws - before[2], "seconds": elapsed})
                panel.close()
            return elapsed

        fit(False), fit(True)  # untimed: tracing, caches, plotly's first figure
        fits.clear()
        for repeat in range(args.repeats):
            for watch in (False, True) if repeat % 2 == 0 else (True, False):
                (watched if watch else plain).append(fit(watch))

    results = _results(args, plain, watched, fits)
    _print(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _results(args, plain, watched, fits) -> dict:
    ratio = statistics.median(watched) / statistics.median(plain)
    paired = [w / p for w, p in zip(watched, plain)]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
    spread = (quartiles[2] - quartiles[0]) / 1.349 * 1.2533 / math.sqrt(len(paired))
    per_fit = {k: statistics.median(f[k] for f in fits) for k in ("messages", "bytes", "redraws")}
    return {
        "benchmark": "dashboard_overhead",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": _cpu_name(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "gpus": len(tf.config.list_physical_devices("GPU")),
        },
        "settings": {"model": "mlp 64 -> 64 -> 10 (digits)", "batch_size": args.batch_size, "steps_per_fit": args.steps,
                     "repeats": args.repeats, "redraw_interval_s": args.interval,
                     "comm": "in-process ipykernel (ipykernel Comm, Session.send, IOPub thread)"},
        "plain_seconds": plain,
        "watched_seconds": watched,
        "ratio": ratio,
        "paired_ratio_median": statistics.median(paired),
        "paired_ratio_quartiles": [quartiles[0], quartiles[2]],
        "paired_ratio_standard_error": spread,
        "per_watched_fit": per_fit,
        "target": TARGET,
        "passed": ratio <= TARGET,
    }


def _print(r: dict) -> None:
    m, s, f = r["machine"], r["settings"], r["per_watched_fit"]
    print(f"dashboard overhead: {s['model']}, batch {s['batch_size']}, {s['steps_per_fit']} steps a fit, "
          f"{s['repeats']} fits each, interleaved; comm: {s['comm']}")
    print(f"machine: {m['processor']}, {m['cpu_count']} CPUs, {m['gpus']} GPUs; "
          f"tensorflow {m['tensorflow']}, keras {m['keras']}, python {m['python']}")
    print()
    print(f"{'variant':<34} {'median s':>9} {'steps/s':>9} {'min s':>8} {'max s':>8}")
    for label, times in (("recorded fit", r["plain_seconds"]), ("recorded fit + MetricsPanel", r["watched_seconds"])):
        median = statistics.median(times)
        print(f"{label:<34} {median:>9.3f} {s['steps_per_fit'] / median:>9.0f} {min(times):>8.3f} {max(times):>8.3f}")
    print()
    print(f"per watched fit (median): {f['redraws']:.0f} redraws, {f['messages']:.0f} comm messages, "
          f"{f['bytes'] / 1024:.0f} KiB")
    low, high = r["paired_ratio_quartiles"]
    print(f"paired ratios: median {r['paired_ratio_median']:.3f} +- {r['paired_ratio_standard_error']:.3f} "
          f"(standard error), quartiles {low:.3f} .. {high:.3f}")
    verdict = "PASS" if r["passed"] else "MISS"
    print(f"dashboard overhead ratio: {r['ratio']:.3f} (target <= {r['target']}) {verdict}")


if __name__ == "__main__":
    sys.exit(main())
