"""nanoGPT's "baby GPT" on Tiny Shakespeare: nbmodels vs nanoGPT's own `train.py`, side by side.

The setting of nanoGPT's `config/train_shakespeare_char.py` as its README runs it on a CPU:
4 layers, 4 heads, 128 dims, context 64, batch 12, 2000 iterations, AdamW at lr 1e-3 with
100 warmup steps and cosine decay to 1e-4, gradient clipping at 1.0, weight decay 0.1,
dropout 0. The data is `../shared/data/tinyshakespeare/input.txt` split like nanoGPT (first
90% train, last 10% validation); nbmodels' training windows start at every character (nanoGPT
samples random offsets), its validation windows do not overlap.

Compared: milliseconds per training iteration (target: nbmodels / nanoGPT <= 1.0, with
nbmodels' defaults) and the validation loss after the last iteration (target <= 1.88, nanoGPT's
level; issue 13: no worse than 1.807 at 2000 iterations).

With `--nanogpt PATH` (a nanoGPT checkout, or a bare git directory of one) and a Python that
imports torch and numpy (`--nanogpt-python`, default this interpreter), nanoGPT's own
`train.py` runs in the same invocation on a scratch copy under the temp directory: its
`data/shakespeare_char/prepare.py` on the same input.txt, then the README's CPU command
(`--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64
--batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=N --lr_decay_iters=N
--dropout=0.0`, plus `--out_dir` in the scratch copy; `--eval_interval=N` when N is not a
multiple of the config's 250, so the last iteration is evaluated). Nothing in the checkout
changes. `--rounds R` repeats both, alternating the order (A B, B A, ...) so drift on a busy
machine hits both. Without a checkout or without torch the script trains nbmodels alone and
compares with the stored peer figure (../shared/TOOLCHAIN.md), and says so.

Timing, the same for both: the time of each iteration (nanoGPT's own `iter N: ... time X ms`
lines; nbmodels' per-step event times), the first 10 iterations left out (tracing, warm-up) and
the last (nanoGPT evaluates before it); the headline is the median over windows of 25
consecutive iterations (the mean cost, jitter included; the median drops windows holding an
evaluation), the plain per-iteration median is printed too. Threads: torch gets
OMP_NUM_THREADS = `--threads` (default: the CPUs this process may use); TensorFlow keeps its
default (one intra-op thread per usable CPU, the same number) unless `--threads` is given.
nanoGPT estimates its validation loss from 20 random batches; nbmodels evaluates the whole
validation split, which is the steadier number. Exit code 0 either way (a bench reports).

AdamW decays only weights with 2+ dimensions, as nanoGPT does; `--weight-decay-on all` decays
every weight (biases, LayerNorm scales too), which is what nbmodels did before, for comparison.

    python bench/shakespeare.py [--steps 2000] [--nanogpt PATH [--nanogpt-python PY]] [--rounds R]
                                [--threads N] [--xla auto|on|off] [--text PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

TARGET_RATIO = 1.0  # ms/iteration, nbmodels / nanoGPT
TARGET_LOSS = 1.88  # validation loss at 2000 iterations: nanoGPT's level
NO_WORSE_THAN = 1.807  # issue 13: the validation loss at 2000 iterations must not get worse than this
# Stored peer figures (../shared/TOOLCHAIN.md): the loss with torch 2.13, the time with torch 2.14 on a quiet machine.
PEER = {"what": "nanoGPT, torch 2.14 CPU, these machines, quiet (../shared/TOOLCHAIN.md)",
        "ms_per_iteration": 30.4, "ms_per_iteration_range": [30.2, 30.6],
        "validation_loss": 1.8857, "validation_loss_at": 2000}
SKIP_FIRST, WINDOW = 10, 25
WARMUP = 100  # nanoGPT's warmup_iters, nbmodels' warmup_steps
DEFAULT_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"
ITER_LINE = re.compile(r"^iter (\d+): loss ([0-9.naif]+), time ([0-9.]+)ms")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([0-9.naif]+), val loss ([0-9.naif]+)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="training iterations (2000: the issue's setting)")
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--weight-decay-on", choices=("matrices", "all"), default="matrices",
                        help="which weights AdamW decays (TrainConfig.weight_decay_on)")
    parser.add_argument("--xla", choices=("auto", "on", "off"), default="auto", help="TrainConfig.xla for nbmodels")
    parser.add_argument("--nanogpt", type=Path,
                        help="a nanoGPT checkout (or its bare git directory): run it side by side")
    parser.add_argument("--nanogpt-python", default=sys.executable,
                        help="the Python that runs nanoGPT (needs torch and numpy); default: this one")
    parser.add_argument("--rounds", type=int, default=None,
                        help="trainings of each, alternating order (default: 2 up to 500 steps, else 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both (default: torch gets the usable CPUs, TensorFlow its default)")
    parser.add_argument("--omp-wait-policy", choices=("default", "passive", "active"), default="default",
                        help="OMP_WAIT_POLICY for torch (default: unset, torch's own spin-waiting); passive "
                             "keeps nanoGPT's threads from collapsing on an oversubscribed machine")
    args = parser.parse_args(argv)
    if args.steps <= WARMUP + SKIP_FIRST:
        parser.error(f"--steps must be more than {WARMUP + SKIP_FIRST}: {WARMUP} warmup steps, then cosine decay")
    if not args.text.is_file():
        print(f"No Tiny Shakespeare at {args.text}; pass --text PATH (nanoGPT's input.txt).")
        return 0
    rounds = args.rounds or (2 if args.steps <= 500 else 1)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch_threads = args.threads or usable

    import tensorflow as tf

    if args.threads:  # before TensorFlow starts its runtime
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    import keras

    nanogpt, why_not = None, None
    if args.nanogpt is None:
        why_not = "no --nanogpt PATH given"
    else:
        nanogpt, why_not = NanoGPT.prepare(args.nanogpt, args.nanogpt_python, args.text, torch_threads,
                                            args.omp_wait_policy)

    load_before = os.getloadavg()
    runs = {"nbmodels": [], "nanoGPT": []}
    try:
        for index in range(rounds):
            order = ("nbmodels", "nanoGPT") if index % 2 == 0 else ("nanoGPT", "nbmodels")
            for who in order:
                if who == "nanoGPT" and nanogpt is None:
                    continue
                result = train_nbmodels(args) if who == "nbmodels" else nanogpt.train(args.steps)
                runs[who].append(result)
                print(f"  {who:<8} round {index + 1}/{rounds}: {result['ms_per_iteration']:.1f} ms/iteration "
                      f"(median of {WINDOW}-iteration windows), validation loss {_loss(result['validation_loss'])}, "
                      f"wall {result['wall_seconds']:.0f} s", flush=True)
    finally:
        if nanogpt is not None:
            nanogpt.cleanup()
    load_after = os.getloadavg()

    info = machine(tensorflow=tf.__version__, keras=keras.__version__,
                   torch=nanogpt.torch_version if nanogpt else None,
                   load_average_before=[round(x, 2) for x in load_before],
                   load_average_after=[round(x, 2) for x in load_after])
    results = _results(args, rounds, runs, info, nanogpt, why_not, torch_threads,
                       tf.config.threading.get_intra_op_parallelism_threads())
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


# ---- nbmodels --------------------------------------------------------------------------


def train_nbmodels(args) -> dict:
    """One training through `nbmodels.train` with the setting above; per-step times from its events."""
    import keras

    from nbmodels import TrainConfig, recipes
    from nbmodels import train as train_run
    from nbmodels.data.text.corpus import char_windows

    keras.utils.set_random_seed(1337)
    text = args.text.read_text(encoding="utf-8")
    train = char_windows(text, context=64, stride=1, validation_split=0.1)
    # Non-overlapping validation windows: every validation character scored once.
    data = dataclasses.replace(train, validation=char_windows(text, context=64, validation_split=0.1).validation)
    config = TrainConfig(
        steps=args.steps, batch_size=12, optimizer="adamw", learning_rate=1e-3, lr_schedule="warmup_cosine",
        warmup_steps=WARMUP, min_lr_ratio=0.1, weight_decay=0.1, weight_decay_on=args.weight_decay_on,
        clip_norm=1.0, validate_every=args.steps, checkpoint_every=args.steps, seed=1337, precision="float32",
        xla=args.xla,
    )
    gpt = recipes.get_recipe("char_gpt")
    builder = gpt.builder("baby", train, dropout=0.0)
    root = tempfile.mkdtemp(prefix="nbmodels-shakespeare-")
    try:
        started = time.perf_counter()
        run = train_run(builder, data, config, name="shakespeare-baby", root=root)
        wall = time.perf_counter() - started
        if run.status != "finished":
            raise RuntimeError(f"the nbmodels run ended {run.status!r}: {run.message}")
        events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines() if line.strip()]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    start = next((e for e in events if e.get("type") == "start"), {})
    step_end = {e["step"]: e["time"] for e in events if e.get("type") == "step"}
    # Ends of steps SKIP_FIRST .. steps-1, then the time of each of steps SKIP_FIRST+1 .. steps-1.
    ends = [step_end[k] for k in range(SKIP_FIRST, run.step) if k in step_end]
    timing = _timing(ends)
    return {
        "steps": run.step,
        "validation_loss": float(run.validation["val_loss"]),
        "wall_seconds": wall,
        "xla": start.get("xla"),
        "parameters": gpt.parameter_count("baby", train),
        # the Run's own smoothed throughput, as the sidebar shows it
        "ms_per_iteration_run_throughput": 1000.0 * config.batch_size / run.samples_per_second
        if run.samples_per_second else None,
        **timing,
    }


# ---- nanoGPT ---------------------------------------------------------------------------


class NanoGPT:
    """A scratch copy of a nanoGPT checkout with the shakespeare_char data prepared, and its train.py."""

    def __init__(self, scratch: Path, python: str, torch_version: str, threads: int, wait_policy: str, source: str):
        self.scratch, self.python, self.torch_version, self.threads, self.wait_policy, self.source = (
            scratch, python, torch_version, threads, wait_policy, source)
        self.command: list[str] = []

    @classmethod
    def prepare(cls, path: Path, python: str, text: Path, threads: int, wait_policy: str = "default"):
        """(NanoGPT, None) when it can run; (None, why not) otherwise."""
        path = path.expanduser().resolve()
        probe = subprocess.run([python, "-c", "import numpy, torch; print(torch.__version__)"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            return None, f"{python} cannot import torch and numpy ({last}); pass --nanogpt-python"
        torch_version = probe.stdout.strip()
        scratch = Path(tempfile.mkdtemp(prefix="nanogpt-scratch-"))
        try:
            if (path / "train.py").is_file():
                shutil.copytree(path, scratch, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".git", "out*", "*.bin", "*.pt", "wandb"))
                source = f"{path} (checkout)"
            elif (path / "HEAD").is_file() and (path / "objects").is_dir():  # a bare git directory
                commit = subprocess.run(["git", "--git-dir", str(path), "rev-parse", "HEAD"],
                                        capture_output=True, text=True, check=True).stdout.strip()
                archive = subprocess.run(["git", "--git-dir", str(path), "archive", "HEAD"],
                                         capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
                source = f"{path} (git HEAD {commit[:12]})"
            else:
                shutil.rmtree(scratch, ignore_errors=True)
                return None, f"{path} is neither a nanoGPT checkout (no train.py) nor its git directory"
            missing = [p for p in ("train.py", "model.py", "configurator.py", "config/train_shakespeare_char.py",
                                   "data/shakespeare_char/prepare.py") if not (scratch / p).is_file()]
            if missing:
                shutil.rmtree(scratch, ignore_errors=True)
                return None, f"{path} lacks nanoGPT's {', '.join(missing)}"
            data = scratch / "data" / "shakespeare_char"
            shutil.copyfile(text, data / "input.txt")  # prepare.py downloads it only when it is missing
            # prepare.py imports requests (for the download it will not do): a stand-in when it is not installed.
            stub = ("import importlib.util, runpy, sys, types\n"
                    "if importlib.util.find_spec('requests') is None:\n"
                    "    sys.modules['requests'] = types.ModuleType('requests')\n"
                    "runpy.run_path('prepare.py', run_name='__main__')\n")
            prepared = subprocess.run([python, "-c", stub], cwd=data, capture_output=True, text=True)
            if prepared.returncode != 0 or not (data / "train.bin").is_file():
                shutil.rmtree(scratch, ignore_errors=True)
                return None, f"nanoGPT's prepare.py failed: {prepared.stderr.strip()[-400:]}"
        except (OSError, subprocess.CalledProcessError) as error:
            shutil.rmtree(scratch, ignore_errors=True)
            return None, f"could not set up nanoGPT from {path}: {error}"
        return cls(scratch, python, torch_version, threads, wait_policy, source), None

    def train(self, steps: int) -> dict:
        """One run of nanoGPT's train.py, the README's CPU command; its log parsed."""
        out_dir = self.scratch / "out-shakespeare-char"
        shutil.rmtree(out_dir, ignore_errors=True)
        self.command = [
            self.python, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
            "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12", "--n_layer=4",
            "--n_head=4", "--n_embd=128", f"--max_iters={steps}", f"--lr_decay_iters={steps}", "--dropout=0.0",
            f"--out_dir={out_dir}",
        ]
        if steps % 250:  # the config evaluates every 250: make the last iteration one that is evaluated
            self.command.append(f"--eval_interval={steps}")
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "PYTHONUNBUFFERED": "1"}
        if self.wait_policy != "default":
            env["OMP_WAIT_POLICY"] = self.wait_policy.upper()
        started = time.perf_counter()
        done = subprocess.run(self.command, cwd=self.scratch, env=env, capture_output=True, text=True,
                              timeout=600 + 5 * steps)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"nanoGPT's train.py exited {done.returncode}: {done.stderr.strip()[-800:]}")
        iteration_ms, evaluations = {}, {}
        for line in done.stdout.splitlines():
            if match := ITER_LINE.match(line):
                iteration_ms[int(match.group(1))] = float(match.group(3))
            elif match := EVAL_LINE.match(line):
                evaluations[int(match.group(1))] = float(match.group(3))
        if steps not in evaluations:
            raise RuntimeError(f"nanoGPT's log has no validation loss at iteration {steps}: {done.stdout[-800:]}")
        # Iterations SKIP_FIRST+1 .. steps-1 (iteration `steps` also holds the last evaluation).
        ends, clock = [], 0.0
        for k in range(SKIP_FIRST, steps):
            clock += iteration_ms.get(k, float("nan")) / 1000.0
            ends.append(clock)
        return {
            "steps": steps,
            "validation_loss": evaluations[steps],
            "validation_losses": evaluations,
            "wall_seconds": wall,
            **_timing(ends),
        }

    def cleanup(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


# ---- timing and reporting --------------------------------------------------------------


def _timing(ends: list[float]) -> dict:
    """From the end times of consecutive iterations: the per-iteration median and the median of
    WINDOW-iteration window means, in ms."""
    deltas = [b - a for a, b in zip(ends, ends[1:])]
    windows = [(ends[i + WINDOW] - ends[i]) / WINDOW for i in range(0, len(ends) - WINDOW, WINDOW)]
    return {
        "ms_per_iteration": 1000.0 * statistics.median(windows),
        "ms_per_iteration_median_single": 1000.0 * statistics.median(deltas),
        "ms_windows": [round(1000.0 * w, 2) for w in windows],
        "timed_iterations": len(deltas),
    }


def _loss(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _results(args, rounds, runs, info, nanogpt, why_not, torch_threads, tf_threads) -> dict:
    def pooled(trainings):
        if not trainings:
            return None
        return {
            "ms_per_iteration": statistics.median(w for t in trainings for w in t["ms_windows"]),
            "ms_per_iteration_median_single": statistics.median(t["ms_per_iteration_median_single"] for t in trainings),
            "validation_loss": trainings[0]["validation_loss"],
            "trainings": trainings,
        }

    mine, peer = pooled(runs["nbmodels"]), pooled(runs["nanoGPT"])
    side_by_side = peer is not None
    reference_ms = peer["ms_per_iteration"] if side_by_side else PEER["ms_per_iteration"]
    ratio = mine["ms_per_iteration"] / reference_ms
    full = args.steps == 2000
    usable = info["usable_cpus"] or info["cpu_count"]
    # Other jobs alone saturating the CPUs before, or us plus them after.
    busy = info["load_average_before"][0] > usable or info["load_average_after"][0] > usable + 1
    return {
        "benchmark": "shakespeare",
        "date": dt.datetime.now().isoformat(timespec="minutes"),
        "command": "python bench/shakespeare.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "settings": {
            "model": "baby GPT: 4 layers, 4 heads, 128 wide, context 64, dropout 0",
            "batch_size": 12, "steps": args.steps, "rounds": rounds, "xla": args.xla,
            "weight_decay_on": args.weight_decay_on,
            "threads": {"torch (OMP_NUM_THREADS)": torch_threads, "torch OMP_WAIT_POLICY": args.omp_wait_policy,
                        "tensorflow intra-op": tf_threads or f"default ({info['usable_cpus']} usable CPUs)"},
            "timing": f"median over {WINDOW}-iteration windows, iterations {SKIP_FIRST + 1}..{args.steps - 1}",
            "nanogpt_source": nanogpt.source if nanogpt else None,
            "nanogpt_command": " ".join(nanogpt.command[1:]) if nanogpt and nanogpt.command else None,
        },
        "side_by_side": side_by_side,
        "busy": busy,
        "why_not_side_by_side": why_not,
        "nbmodels": mine,
        "nanogpt": peer,
        "stored_peer": PEER,
        "ratio": ratio,
        "target": TARGET_RATIO,
        "passed": ratio <= TARGET_RATIO,
        "validation_target": TARGET_LOSS if full else None,
        "validation_no_worse_than": NO_WORSE_THAN if full else None,
        "validation_met": (mine["validation_loss"] <= NO_WORSE_THAN) if full else None,
    }


def _print(r: dict) -> None:
    s, m, mine, peer = r["settings"], r["machine"], r["nbmodels"], r["nanogpt"]
    print()
    print(f"shakespeare: {s['model']}, batch {s['batch_size']}, {s['steps']} iterations, {s['rounds']} round(s); "
          f"nbmodels xla={s['xla']!r} (ran with XLA {'on' if mine['trainings'][0]['xla'] else 'off'})")
    print(f"machine: {m['processor']}, {m['usable_cpus']} usable CPUs; tensorflow {m['tensorflow']}, "
          f"keras {m['keras']}, torch {m['torch'] or '-'}; load average {m['load_average_before']} before, "
          f"{m['load_average_after']} after")
    print(f"threads: {', '.join(f'{k} {v}' for k, v in s['threads'].items())}; timing: {s['timing']}")
    if r["side_by_side"]:
        print(f"nanoGPT: {s['nanogpt_source']}: python {s['nanogpt_command']}")
    print()
    print(f"{'':<10} {'ms/iteration':>12} {'(single-iteration median)':>26} {'val loss':>9}")
    rows = [("nbmodels", mine), ("nanoGPT", peer)] if peer else [("nbmodels", mine)]
    for name, v in rows:
        print(f"{name:<10} {v['ms_per_iteration']:>12.1f} {v['ms_per_iteration_median_single']:>26.1f} "
              f"{_loss(v['validation_loss']):>9}")
    stored = r["stored_peer"]
    if not r["side_by_side"]:
        print(f"{'nanoGPT':<10} {stored['ms_per_iteration']:>12.1f} {'(stored figure, not run)':>26} "
              f"{stored['validation_loss']:>9.4f}")
        print(f"\nnanoGPT did not run here ({r['why_not_side_by_side']}): the ratio is against the stored figure, "
              f"{stored['what']}: {stored['ms_per_iteration_range'][0]}-{stored['ms_per_iteration_range'][1]} "
              f"ms/iteration, validation loss {stored['validation_loss']} at {stored['validation_loss_at']}."
              + (" Pass --nanogpt PATH for a side-by-side run."
                 if r["why_not_side_by_side"].startswith("no --nanogpt") else ""))
    print("(nanoGPT's validation loss is its estimate from 20 random batches; nbmodels' is the whole split)")
    print()
    if r["validation_met"] is not None:
        loss = mine["validation_loss"]
        print(f"baby GPT validation loss at 2000 iterations: {loss:.4f} (target <= {TARGET_LOSS}; "
              f"no worse than {NO_WORSE_THAN}) {verdict(loss, NO_WORSE_THAN, higher_is_better=False)}")
    if r["busy"] and not r["side_by_side"]:
        print(f"warning: load average {m['load_average_before'][0]} before, {m['load_average_after'][0]} after, on "
              f"{m['usable_cpus']} usable CPUs: the machine is oversubscribed and the stored figure is from a quiet "
              f"one; the ratio is not a fair comparison.")
    elif r["busy"]:
        print(f"warning: load average {m['load_average_before'][0]} before, {m['load_average_after'][0]} after, on "
              f"{m['usable_cpus']} usable CPUs: the machine is oversubscribed. torch's OpenMP threads spin-wait and "
              f"collapse then (seen here: 2 threads at 600-4000 ms/iteration under load 7, ~30 quiet), TensorFlow's "
              f"pool degrades gently; the ratio is not a fair comparison. Rerun on a quiet machine"
              + (", or with --omp-wait-policy passive." if s["threads"]["torch OMP_WAIT_POLICY"] == "default" else
                 f" (torch waited {s['threads']['torch OMP_WAIT_POLICY']}ly here, which avoids the collapse, but "
                 f"both shared the CPUs with other jobs)."))
    label = "nanoGPT side by side" if r["side_by_side"] else "nanoGPT's stored figure"
    caveat = "; oversubscribed machine, not a fair comparison" if r["busy"] else ""
    print(f"baby GPT ms/iteration nbmodels / {label}: {r['ratio']:.2f} (target <= {TARGET_RATIO}{caveat}) "
          f"{verdict(r['ratio'], TARGET_RATIO, higher_is_better=False)}")


if __name__ == "__main__":
    sys.exit(main())
