"""TopKIndex vs keras-rs BruteForceRetrieval: exact top-100 of 1M candidates for 1,024 queries.

Both get the same float32 candidates (1,000,000 x 64) and queries (1,024 x 64, standard normal,
seeded) and return the 100 best candidates per query by dot product. The peer is keras-rs
`BruteForceRetrieval(candidates, k=100)` called inside `tf.function` (compiled, not eager): one
(1,024 x 1M) score matrix (4 GB) and one `top_k` over it. `TopKIndex` (nbmodels.models.
recommenders.index) scores (256 x 65,536) tiles in one compiled loop and reads only the groups of
candidates that can still enter the running top-100 (see its module docstring).

Timing, in this process: untimed first calls of each (tracing), then `--repeats` calls each,
alternating A B, B A, ... so drift on a busy machine hits both; medians of wall-clock time are
compared, and the process CPU time of each call is recorded beside them (less sensitive to other
jobs on the machine). The ids of the two must be identical.

Peak memory, each variant in a fresh process of its own so neither pollutes the other: VmHWM after
the data, the libraries and a first tiny op exist is the baseline; the growth of VmHWM over two
searches (building the layer or index, which copies the candidates, included) is compared.

Exclusion (what BruteForceRetrieval cannot do): `--exclude` ids per query (default 100, random)
left out by `TopKIndex.search(..., exclude=...)`, against the workaround TensorFlow Recommenders
users reach for: brute force for k + M, then drop the excluded ids in numpy. Reported, no target.

The targets are for the full size; `--quick` (100k candidates, 256 queries) is a smoke run whose
memory ratio means little (a 64 MB tile and the candidate copy weigh as much as the whole score
matrix there). The full run needs about 6 GB (brute force's score matrix) and ~3 minutes on 2
cores. Exit code 0 either way.

    python bench/retrieval.py [--quick] [--repeats 5] [--exclude 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from _common import alternate, machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

TIME_TARGET, MEMORY_TARGET = 0.8, 0.25  # TopKIndex / BruteForceRetrieval, at most
SIZES = {
    "full": dict(candidates=1_000_000, queries=1024, dim=64, k=100),
    "quick": dict(candidates=100_000, queries=256, dim=64, k=100),  # a smoke run, ~1/40 of the work
}
VARIANTS = ("TopKIndex", "BruteForceRetrieval")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k candidates, 256 queries (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="timed searches of each variant, alternating")
    parser.add_argument("--exclude", type=int, default=100, help="ids left out per query in the exclusion part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--measure-memory", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = SIZES["quick" if args.quick else "full"]
    if args.measure_memory:
        print(json.dumps(_peak_memory_growth(args.measure_memory, size, args.seed)))
        return 0

    load_before = os.getloadavg()
    memory = {}
    for variant in VARIANTS:  # each in a fresh process, before this one holds anything large
        command = [sys.executable, __file__, "--measure-memory", variant, "--seed", str(args.seed)]
        command += ["--quick"] if args.quick else []
        out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
        memory[variant] = json.loads(out.strip().splitlines()[-1])
        print(f"  peak memory, {variant}: +{memory[variant]['peak_growth_bytes'] / 2**20:,.0f} MB", flush=True)

    import keras
    import keras_rs
    import tensorflow as tf

    timing = _time_side_by_side(size, args.repeats, args.seed)
    excluding = _time_exclusion(size, args.repeats, args.exclude, args.seed) if args.exclude else None
    info = machine(tensorflow=tf.__version__, keras=keras.__version__, keras_rs=keras_rs.__version__,
                   gpus=len(tf.config.list_physical_devices("GPU")),
                   load_average_before=[round(x, 2) for x in load_before],
                   load_average_after=[round(x, 2) for x in os.getloadavg()])
    results = _results(args, size, memory, timing, excluding, info)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _data(size: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (N, d) and queries (Q, d), float32 standard normal (drawn as float32: no
    float64 copy lifts the memory baseline)."""
    rng = np.random.default_rng(seed)
    candidates = rng.standard_normal((size["candidates"], size["dim"]), dtype=np.float32)
    queries = rng.standard_normal((size["queries"], size["dim"]), dtype=np.float32)
    return candidates, queries


def _search(variant: str, candidates: np.ndarray, k: int):
    """One variant's search, queries (numpy) -> (scores, ids) as numpy; its layer or index is
    built here, as a user builds it (each copies the candidates)."""
    import keras_rs
    import tensorflow as tf

    from nbmodels.models.recommenders.index import TopKIndex

    if variant == "TopKIndex":
        index = TopKIndex(candidates)
        return lambda queries: index.search(queries, k)
    layer = keras_rs.layers.BruteForceRetrieval(candidates, k=k)
    compiled = tf.function(lambda queries: layer(queries))
    return lambda queries: tuple(t.numpy() for t in compiled(queries))


def _peak_memory() -> int:
    """This process's peak resident memory in bytes: VmHWM (ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_memory_growth(variant: str, size: dict, seed: int) -> dict:
    """In a fresh process: the growth of peak memory while one variant is built and searches twice."""
    import keras_rs  # noqa: F401  (both libraries loaded before the baseline, in both processes)
    import tensorflow as tf

    import nbmodels.models.recommenders.index  # noqa: F401

    candidates, queries = _data(size, seed)
    tiny = tf.ones((8, 8))
    tf.math.top_k(tf.matmul(tiny, tiny), 2)  # TensorFlow's thread pools and kernels exist before the baseline
    baseline = _peak_memory()
    started = time.perf_counter()
    search = _search(variant, candidates, size["k"])
    search(queries), search(queries)
    return {"peak_growth_bytes": _peak_memory() - baseline, "baseline_bytes": baseline,
            "seconds": time.perf_counter() - started}


def _timed(function, walls: list, cpus: list):
    """`function` recording every call's wall-clock and process CPU seconds."""
    def call():
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        return result
    return call


def _spread(values: list) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "all": values}


def _time_side_by_side(size: dict, repeats: int, seed: int) -> dict:
    """Alternating timed searches of both variants on the same queries, and their answers compared."""
    candidates, queries = _data(size, seed)
    searches = {name: _search(name, candidates, size["k"]) for name in VARIANTS}
    answers = {name: search(queries) for name, search in searches.items()}  # also traces both
    walls, cpus = {name: [] for name in VARIANTS}, {name: [] for name in VARIANTS}
    calls = [_timed(lambda s=searches[name]: s(queries), walls[name], cpus[name]) for name in VARIANTS]
    alternate(*calls, repeats)  # its first call of each is untimed; so the first sample here is dropped
    walls = {name: values[1:] for name, values in walls.items()}
    cpus = {name: values[1:] for name, values in cpus.items()}
    (mine_scores, mine_ids), (peer_scores, peer_ids) = answers["TopKIndex"], answers["BruteForceRetrieval"]
    return {
        "wall_seconds": {name: _spread(values) for name, values in walls.items()},
        "cpu_seconds": {name: _spread(values) for name, values in cpus.items()},
        # A B, B A, ...: the ratio of each pair, to show how much one repeat can move
        "pair_ratios": [mine / peer for mine, peer in zip(walls["TopKIndex"], walls["BruteForceRetrieval"])],
        "identical_ids": bool(np.array_equal(mine_ids, peer_ids)),
        "rows_with_different_ids": int((mine_ids != peer_ids).any(axis=1).sum()),
        "max_score_difference": float(np.abs(mine_scores - peer_scores).max()),
    }


def _time_exclusion(size: dict, repeats: int, excluded_per_query: int, seed: int) -> dict:
    """TopKIndex with `exclude` vs brute force for k + M then dropping the excluded ids (numpy)."""
    import keras_rs
    import tensorflow as tf

    from nbmodels.models.recommenders.index import TopKIndex

    candidates, queries = _data(size, seed)
    k, rng = size["k"], np.random.default_rng(seed + 1)
    excluded = np.stack([rng.choice(len(candidates), excluded_per_query, replace=False) for _ in queries])
    index = TopKIndex(candidates)
    layer = keras_rs.layers.BruteForceRetrieval(candidates, k=k + excluded_per_query)
    brute_force = tf.function(lambda q: layer(q))

    def workaround():
        scores, ids = (t.numpy() for t in brute_force(queries))
        dropped = (ids[:, :, None] == excluded[:, None, :]).any(axis=-1)  # (Q, k + M)
        keep = np.argsort(dropped, axis=1, kind="stable")[:, :k]  # the first k kept, in order
        return np.take_along_axis(scores, keep, 1), np.take_along_axis(ids, keep, 1)

    searches = {"TopKIndex": lambda: index.search(queries, k, exclude=list(excluded)),
                "brute force k+M, then drop": workaround}
    answers = {name: search() for name, search in searches.items()}
    walls, cpus = {name: [] for name in searches}, {name: [] for name in searches}
    alternate(*[_timed(search, walls[name], cpus[name]) for name, search in searches.items()], repeats)
    mine, peer = answers["TopKIndex"][1], answers["brute force k+M, then drop"][1]
    return {
        "excluded_per_query": excluded_per_query,
        "wall_seconds": {name: _spread(values[1:]) for name, values in walls.items()},
        "cpu_seconds": {name: _spread(values[1:]) for name, values in cpus.items()},
        "identical_ids": bool(np.array_equal(mine, peer)),
        "excluded_returned": int(sum(np.isin(row, banned).sum() for row, banned in zip(mine, excluded))),
    }


def _results(args, size, memory, timing, excluding, info) -> dict:
    wall, cpu = timing["wall_seconds"], timing["cpu_seconds"]
    time_ratio = wall["TopKIndex"]["median"] / wall["BruteForceRetrieval"]["median"]
    memory_ratio = memory["TopKIndex"]["peak_growth_bytes"] / memory["BruteForceRetrieval"]["peak_growth_bytes"]
    results = {
        "benchmark": "retrieval",
        "date": dt.date.today().isoformat(),
        "machine": info,
        "settings": {**size, "repeats": args.repeats, "seed": args.seed, "quick": args.quick,
                     "data": "float32 standard normal candidates and queries, dot-product scores",
                     "peer": "keras_rs.layers.BruteForceRetrieval(candidates, k=k) inside tf.function"},
        "timing": timing,
        "peak_memory": memory,
        "time_ratio": time_ratio,
        "cpu_time_ratio": cpu["TopKIndex"]["median"] / cpu["BruteForceRetrieval"]["median"],
        "memory_ratio": memory_ratio,
        "targets": {"time_ratio": TIME_TARGET, "memory_ratio": MEMORY_TARGET, "identical_ids": True},
        "passed": time_ratio <= TIME_TARGET and memory_ratio <= MEMORY_TARGET and timing["identical_ids"],
    }
    if excluding:
        walls = excluding["wall_seconds"]
        excluding["time_ratio"] = walls["TopKIndex"]["median"] / walls["brute force k+M, then drop"]["median"]
        results["exclusion"] = excluding
    return results


def _print(r: dict) -> None:
    m, s, t = r["machine"], r["settings"], r["timing"]
    print()
    print(f"retrieval: top-{s['k']} of {s['candidates']:,} candidates x {s['dim']} dims for {s['queries']:,} queries; "
          f"{s['repeats']} searches each, interleaved; peak memory each in its own process")
    print(f"machine: {m['processor']}, {m['cpu_count']} CPUs, {m['gpus']} GPUs, load average "
          f"{m['load_average_before'][0]} before, {m['load_average_after'][0]} after; tensorflow {m['tensorflow']}, "
          f"keras {m['keras']}, keras-rs {m['keras_rs']}")
    print()
    print(f"{'variant':<22}{'wall s median':>14}{'min':>7}{'max':>7}{'cpu s median':>14}{'peak memory +MB':>17}")
    for name in VARIANTS:
        wall, cpu = t["wall_seconds"][name], t["cpu_seconds"][name]
        print(f"{name:<22}{wall['median']:>14.3f}{wall['min']:>7.2f}{wall['max']:>7.2f}{cpu['median']:>14.3f}"
              f"{r['peak_memory'][name]['peak_growth_bytes'] / 2**20:>17,.0f}")
    pairs = t["pair_ratios"]
    print(f"pair by pair, time ratio {min(pairs):.3f} .. {max(pairs):.3f}; cpu time ratio {r['cpu_time_ratio']:.3f}")
    print(f"ids identical: {t['identical_ids']} ({t['rows_with_different_ids']} of {s['queries']} rows differ); "
          f"largest score difference {t['max_score_difference']:.2e}")
    if "exclusion" in r:
        e = r["exclusion"]
        mine, peer = (e["wall_seconds"][name]["median"] for name in e["wall_seconds"])
        print(f"excluding {e['excluded_per_query']} ids per query: TopKIndex {mine:.3f} s, brute force for "
              f"k+{e['excluded_per_query']} then dropping them {peer:.3f} s (time ratio {e['time_ratio']:.3f}); "
              f"ids identical: {e['identical_ids']}; excluded ids returned: {e['excluded_returned']}")
    print()
    print(f"retrieval time ratio TopKIndex / BruteForceRetrieval: {r['time_ratio']:.3f} (target <= {TIME_TARGET}) "
          f"{verdict(r['time_ratio'], TIME_TARGET, higher_is_better=False)}")
    print(f"retrieval peak memory ratio: {r['memory_ratio']:.3f} (target <= {MEMORY_TARGET}) "
          f"{verdict(r['memory_ratio'], MEMORY_TARGET, higher_is_better=False)}")
    print(f"retrieval: time {r['time_ratio']:.3f}, memory {r['memory_ratio']:.3f}, identical ids "
          f"{t['identical_ids']} {'PASS' if r['passed'] else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
