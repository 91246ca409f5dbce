"""The GPU path (issue 13 item 4): GPT-2-124M training throughput and MFU, memory, the auto settings,
`devices()`, and generation against keras-hub, in one process on one accelerator.

1. Training. GPT-2 small's shapes (12 layers, 12 heads, 768 wide, vocabulary 50,257, sequence 1,024,
   tied embeddings, no dropout) through `nbmodels.train` with `TrainConfig(precision="auto",
   xla="auto")` and auto `steps_per_execution`, on random token ids generated here (offline),
   `--batch` sequences a step (default 16), `--steps` steps (default 40). Tokens/s come from the
   run's own step events: every step has a time (a compiled call's time spread evenly over its
   steps); the first `--skip` steps, and at least the whole first call (tracing, XLA compile,
   autotuning), are left out; tokens/s = timed steps x batch x sequence / their seconds.
   Model FLOPs utilisation = tokens/s x FLOPs per token / the chip's dense bf16 peak, FLOPs per token
   = 6 x parameters (every weight, the tied embedding once: it is the output projection's matrix)
   + 12 x layers x sequence x width (attention's scores and mixing, forward and backward, the
   PaLM / nanoGPT `estimate_mfu` count, causal half not subtracted). Target >= 40%. The same
   without the attention term is printed beside it. Peaks (TFLOP/s, dense, bf16; T4: fp16):
   H100 SXM 989, H100 PCIe 756, H100 NVL 835, H200 / GH200 989, A100 312, L40S 362, L40 181, L4 121,
   T4 65; found from TensorFlow's device name (else nvidia-smi's); `--peak-tflops` overrides; a CPU
   or an unknown chip gets a nominal 1 TFLOP/s, said so (the line then means nothing).
   Also: TensorFlow's allocator peak (`get_memory_info("GPU:0")["peak"]`, bytes in use, not reserved)
   against the recipes' `estimate_memory` for this model, batch and precision (sanity target: within
   2x either way; "n/a" on a CPU); and what the run's start event says "auto" resolved to: precision
   must be mixed_bfloat16 on compute capability >= 8 (mixed_float16 on 7.x, float32 on a CPU) and
   XLA on for a GPU.
2. Devices. `nbmodels.devices()` as it reports itself, sampled once a second while training runs
   (NVML utilisation needs `pynvml`); `nvidia-smi`'s utilisation is sampled beside it as a check.
   Target: `devices()` reports a GPU's utilisation and memory (MISS names what is missing).
3. Generation. `nbmodels.generation.generate` vs keras-hub `GPT2CausalLM.generate` (bench/generation.py's
   `build_pair`: same dimensions, random weights, XLA on both, float32 unless
   `--generation-precision`), greedy, 128 new tokens after a 32-token prompt, batch 1 and 32,
   `alternate()` medians of `--repeats` calls. Target: tokens/s ratio nbmodels / keras-hub >= 1.2.

    python bench/gpu.py [--batch 16] [--steps 40] [--skip 10] [--peak-tflops T] [--repeats 5]
                        [--parts train generation] [--generation-precision float32|mixed_bfloat16]
                        [--json out.json] [--save]

`--save` writes bench/results/gpu-<device>.{txt,json} (device from its name, e.g. nvidia-h100-80gb-hbm3)
with the machine, date, command and load in the header. Expected time on one H100/H200: about 5 minutes
(imports 20 s; GPT-2 build + XLA compile 1-2 min; 40 steps under 10 s; the end-of-run checkpoint of
1.5 GB a few seconds; generation: 4 XLA compiles of about 30 s each, then 2 x 2 x 6 calls of at most
a few seconds); run it under `timeout 540`.

`--smoke` runs every code path at tiny shapes (2 layers, 2 heads, 64 wide, vocabulary 256, sequence
64, batch 4, 64 steps; generation batches 1 and 4, 16 new tokens, 2 repeats): under ~2 minutes on a
CPU, where MFU is against the nominal peak and GPU memory is "n/a".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import alternate, device_name, import_keras_hub, machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

RESULTS = Path(__file__).resolve().parent / "results"
GPT2 = dict(layers=12, heads=12, hidden=768, vocabulary=50257, sequence=1024)
SMOKE = dict(layers=2, heads=2, hidden=64, vocabulary=256, sequence=64)
MFU_TARGET = 0.40
NOMINAL_PEAK_TFLOPS = 1.0
# Dense bf16 TFLOP/s (T4: fp16, it has no bf16), the vendors' datasheet figures without sparsity.
# First match wins: the more specific names come first ("H100 PCIe" before "H100", "L40S" before "L4").
PEAKS = (
    (r"GH200|H200", 989.0, "H200 / GH200"),
    (r"H100.*PCIe", 756.0, "H100 PCIe"),
    (r"H100.*NVL", 835.0, "H100 NVL"),
    (r"H100", 989.0, "H100 SXM"),
    (r"A100", 312.0, "A100"),
    (r"L40S", 362.0, "L40S"),
    (r"L40\b", 181.0, "L40"),
    (r"\bL4\b", 121.0, "L4"),
    (r"\bT4\b", 65.0, "T4 (fp16)"),
)

OUTPUT: list[str] = []  # every printed line, for --save's .txt


def say(line: str = "") -> None:
    print(line, flush=True)
    OUTPUT.append(line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes: every code path in ~2 minutes on a CPU")
    parser.add_argument("--batch", type=int, help="training sequences a step (default 16; smoke 4)")
    parser.add_argument("--steps", type=int, help="training steps in all, compile included (default 40; smoke 64)")
    parser.add_argument("--skip", type=int, default=10, help="first steps left out of the timing (at least a call)")
    parser.add_argument("--peak-tflops", type=float, help="the chip's dense bf16 peak, overriding the table")
    parser.add_argument("--generation-batches", type=int, nargs="+", help="default 1 32 (smoke 1 4)")
    parser.add_argument("--new-tokens", type=int, help="generated tokens a call (default 128; smoke 16)")
    parser.add_argument("--repeats", type=int, help="timed calls each in generation (default 5; smoke 2)")
    parser.add_argument("--generation-precision", default="float32", help="Keras dtype policy for generation")
    parser.add_argument("--parts", nargs="+", choices=("train", "generation"), default=["train", "generation"])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--save", action="store_true", help="write bench/results/gpu-<device>.{txt,json}")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.batch = args.batch or (4 if smoke else 16)
    args.steps = args.steps or (64 if smoke else 40)
    args.generation_batches = args.generation_batches or ([1, 4] if smoke else [1, 32])
    args.new_tokens = args.new_tokens or (16 if smoke else 128)
    args.repeats = args.repeats or (2 if smoke else 5)
    dims = SMOKE if smoke else GPT2
    command = " ".join(["python bench/gpu.py", *(sys.argv[1:] if argv is None else argv)])

    wall_started = time.perf_counter()
    load_before = os.getloadavg()
    chip = detect_chip()
    peak_tflops, peak_source = peak_for(chip, args.peak_tflops)
    say(f"gpu bench{' (smoke)' if smoke else ''}: {time.strftime('%Y-%m-%d %H:%M')}, {command}")
    say(f"device: {chip['name']}{', compute ' + chip['compute_capability'] if chip['compute_capability'] else ''}"
        f"{', driver ' + chip['driver'] if chip.get('driver') else ''}; peak {peak_tflops:g} TFLOP/s ({peak_source}); "
        f"load average {load_before[0]:.2f}")
    results = {"bench": "gpu", "smoke": smoke, "date": time.strftime("%Y-%m-%d %H:%M"), "command": command,
               "chip": chip, "peak_tflops": peak_tflops, "peak_source": peak_source, "dims": dims,
               "settings": {k: v for k, v in vars(args).items() if k not in ("json", "save")}}
    verdicts = []

    if "train" in args.parts:
        sampler = DeviceSampler()
        sampler.start()
        try:
            training = train_gpt(dims, args.batch, args.steps, args.skip)
        finally:
            sampler.stop()
        training["mfu"] = mfu(training, dims, peak_tflops)
        training["memory_estimate"] = estimate_memory(dims, args.batch, training.get("precision") or "float32")
        results["training"] = training
        results["devices"] = sampler.report()
        verdicts += report_training(training, chip, dims, peak_source)
        verdicts += report_devices(results["devices"], chip)

    if "generation" in args.parts:
        import keras

        keras.backend.clear_session()
        gc.collect()
        keras_hub = import_keras_hub()
        if keras_hub is None:
            results["generation"] = {"skipped": "keras-hub is not installed"}
        else:
            results["generation"] = generation(keras_hub, dims, args)
            for row in results["generation"]["rows"]:
                verdicts.append(f"generation tokens/s ratio nbmodels / keras-hub, batch {row['batch']}: "
                                f"{row['ratio']:.2f} (target >= 1.2) {verdict(row['ratio'], 1.2)}")

    results["wall_seconds"] = time.perf_counter() - wall_started
    results["machine"] = machine(device=chip["name"], load_average_before=load_before,
                                 load_average_after=os.getloadavg(), **versions())
    say(f"whole bench: {results['wall_seconds']:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    for line in verdicts:  # the grep-able lines, last
        say(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    if args.save:
        save(results, chip["name"], smoke)
    return 0


# ---- the chip ---------------------------------------------------------------------------------


def detect_chip() -> dict:
    """The first GPU as TensorFlow names it (else "CPU"), its compute capability, and what
    nvidia-smi says (name, driver, memory) when it is there."""
    import tensorflow as tf

    chip = {"name": device_name(), "compute_capability": None, "nvidia_smi": None, "driver": None}
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        chip["compute_capability"] = "{}.{}".format(*capability) if capability else None
    rows = nvidia_smi("name,driver_version,memory.total,compute_cap")
    if rows:
        name, driver, memory, capability = (rows[0] + [None] * 4)[:4]
        chip.update(nvidia_smi={"name": name, "driver": driver, "memory_total": memory, "compute_cap": capability},
                    driver=driver)
        if chip["name"] == "CPU":  # TensorFlow sees no GPU but the machine has one: say so, name it
            chip["tensorflow_sees_no_gpu"] = True
        chip["compute_capability"] = chip["compute_capability"] or capability
    return chip


def nvidia_smi(fields: str) -> list[list[str]] | None:
    """nvidia-smi's CSV rows for `fields` (one per GPU), or None without it."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [[cell.strip() for cell in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


def peak_for(chip: dict, override: float | None) -> tuple[float, str]:
    """The dense bf16 peak in TFLOP/s and where it came from."""
    if override:
        return override, "--peak-tflops"
    names = [chip["name"], (chip.get("nvidia_smi") or {}).get("name") or ""]
    for pattern, tflops, label in PEAKS:
        if any(re.search(pattern, name) for name in names):
            return tflops, f"table: {label}"
    return NOMINAL_PEAK_TFLOPS, "nominal: no table entry for this device, pass --peak-tflops"


# ---- training ----------------------------------------------------------------------------------


def train_gpt(dims: dict, batch: int, steps: int, skip: int) -> dict:
    """One `nbmodels.train` of GPT at `dims`, precision and XLA auto; tokens/s from its step events."""
    import keras
    import numpy as np

    from nbmodels import TrainConfig, train
    from nbmodels.models import GPT

    config = gpt_config(dims)

    def gpt2():
        return GPT(config, name="gpt2_shapes")

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, dims["vocabulary"], (batch * steps, dims["sequence"] + 1)).astype("int32")
    data = (tokens[:, :-1], tokens[:, 1:])  # one pass over the data = the run: no validation, one checkpoint
    train_config = TrainConfig(steps=steps, batch_size=batch, precision="auto", xla="auto", learning_rate=6e-4,
                               weight_decay=0.1, clip_norm=1.0, seed=0)
    root = tempfile.mkdtemp(prefix="nbmodels-gpu-bench-")
    started_wall, started = time.time(), time.perf_counter()
    try:
        run = train(gpt2, data, train_config, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    name="gpu-bench", root=root, verbose=False)
        wall = time.perf_counter() - started
        events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines() if line.strip()]
        status, message = run.status, run.message
        peak = gpu_peak_memory()
        del run
    finally:
        shutil.rmtree(root, ignore_errors=True)
    start = next((e for e in events if e.get("type") == "start"), {})
    steps_seen = {e["step"]: e for e in events if e.get("type") == "step"}
    progress = [e for e in events if e.get("type") == "progress"]
    per_call = int(start.get("steps_per_execution") or 1)
    # Time from the end of the first call (and of `skip` steps) on: compile and autotune left out.
    first = max(skip, per_call)
    first -= first % per_call  # a call's end: step times inside a call are spread, only its end is measured
    order = sorted(steps_seen)
    result = {"status": status, "message": message, "wall_s": wall, "steps": max(order, default=0),
              "batch": batch, "sequence": dims["sequence"], "precision": start.get("precision"),
              "xla": start.get("xla"), "strategy": start.get("strategy"), "devices": start.get("devices"),
              "parameters": start.get("parameters"), "steps_per_execution": per_call, "skipped_steps": first,
              "start_event_s": start.get("time", started_wall) - started_wall,
              "tensorflow_peak_bytes": peak,
              "run_memory": (progress[-1].get("memory") if progress else None),
              "run_tokens_per_second": (progress[-1].get("tokens_per_second") if progress else None),
              "final_loss": steps_seen[order[-1]]["metrics"].get("loss") if order else None}
    last = order[-1] if order else 0
    if status != "finished" or first not in steps_seen or last <= first:
        result["error"] = (f"run ended {status!r}: {message}" if status != "finished" else
                           f"too few steps to time: {last} steps, {per_call} a call, the first {first} left out; "
                           "raise --steps")
        return result
    seconds = steps_seen[last]["time"] - steps_seen[first]["time"]
    ends = [steps_seen[k]["time"] for k in order if k >= first and k % per_call == 0]
    call_ms = [1000 * (b - a) / per_call for a, b in zip(ends, ends[1:])]
    result.update(timed_steps=last - first, timed_seconds=seconds,
                  tokens_per_second=(last - first) * batch * dims["sequence"] / seconds,
                  ms_per_step=1000 * seconds / (last - first),
                  ms_per_step_median=statistics.median(call_ms) if call_ms else None,
                  first_call_s=steps_seen[order[min(per_call, len(order)) - 1]]["time"] - started_wall)
    return result


def gpt_config(dims: dict):
    from nbmodels.models import GPTConfig

    return GPTConfig(vocabulary_size=dims["vocabulary"], sequence_length=dims["sequence"],
                     num_layers=dims["layers"], num_heads=dims["heads"], hidden_dim=dims["hidden"], dropout=0.0)


def gpu_peak_memory() -> int | None:
    """TensorFlow's allocator peak on GPU:0 (bytes in use at most, not reserved), None on a CPU."""
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        return None
    try:
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except (ValueError, RuntimeError):
        return None


def estimate_memory(dims: dict, batch: int, precision: str) -> int:
    """The recipes' `estimate_memory` for this GPT: the char_gpt recipe (the GPT family's
    activation count) with its model config replaced by these dimensions."""
    from nbmodels.recipes import get_recipe

    config = gpt_config(dims)

    class FixedShape(type(get_recipe("char_gpt"))):  # not registered: only its estimate is used
        def make_model_config(self, size, shape):
            return config

    return FixedShape().estimate_memory(batch_size=batch, precision=precision)


def mfu(training: dict, dims: dict, peak_tflops: float) -> dict | None:
    """Model FLOPs utilisation, with and without attention's FLOPs (see the docstring)."""
    if not training.get("tokens_per_second") or not training.get("parameters"):
        return None
    dense = 6 * training["parameters"]
    attention = 12 * dims["layers"] * dims["sequence"] * dims["hidden"]
    peak = peak_tflops * 1e12
    rate = training["tokens_per_second"]
    return {"flops_per_token": dense + attention, "dense_flops_per_token": dense,
            "attention_flops_per_token": attention, "achieved_tflops": rate * (dense + attention) / 1e12,
            "with_attention": rate * (dense + attention) / peak, "dense_only": rate * dense / peak}


def expected_precision(chip: dict) -> str:
    from nbmodels.devices import precision_for

    capability = chip.get("compute_capability")
    if chip["name"] == "CPU" or not capability:
        return precision_for("CPU")
    return precision_for("GPU", tuple(int(part) for part in str(capability).split(".")[:2]))


def report_training(training: dict, chip: dict, dims: dict, peak_source: str) -> list[str]:
    """Print the training rows; return the grep-able verdict lines."""
    from nbmodels.devices import format_bytes

    say(f"training: {dims['layers']} layers, {dims['heads']} heads, {dims['hidden']} wide, vocabulary "
        f"{dims['vocabulary']:,}, sequence {dims['sequence']}, batch {training['batch']}; "
        f"{training.get('parameters') or 0:,} parameters; run {training['status']} in {training['wall_s']:.1f} s "
        f"(start event after {training['start_event_s']:.1f} s)")
    say(f"  resolved: precision {training['precision']}, XLA {'on' if training['xla'] else 'off'}, "
        f"strategy {training['strategy']}, devices {training['devices']}, "
        f"steps_per_execution {training['steps_per_execution']}")
    if "error" in training:
        say(f"  error: {training['error']}")
        return [f"training tokens/s: n/a ({training['error']}) MISS"]
    m = training["mfu"]
    say(f"  {training['timed_steps']} steps timed after the first {training['skipped_steps']} "
        f"(first call ended {training['first_call_s']:.1f} s after train() was called): "
        f"{training['tokens_per_second']:,.0f} tokens/s, {training['ms_per_step']:.1f} ms/step "
        f"(median per call {training['ms_per_step_median'] or float('nan'):.1f}); the Run's own smoothed figure "
        f"{training['run_tokens_per_second'] or float('nan'):,.0f} tokens/s; final loss {training['final_loss']:.3f}")
    say(f"  FLOPs/token {m['flops_per_token'] / 1e9:.3f} G (6N {m['dense_flops_per_token'] / 1e9:.3f} G + attention "
        f"12*L*T*C {m['attention_flops_per_token'] / 1e9:.3f} G): {m['achieved_tflops']:.1f} TFLOP/s achieved; MFU "
        f"{m['with_attention']:.1%} with attention, {m['dense_only']:.1%} 6N only (peak: {peak_source})")
    peak, estimate = training["tensorflow_peak_bytes"], training["memory_estimate"]
    run_memory = training["run_memory"] or {}
    say(f"  memory: TensorFlow allocator peak {format_bytes(peak) if peak else 'n/a'}, "
        f"estimate_memory(batch {training['batch']}, {training['precision']}) {format_bytes(estimate)}; the run's "
        f"last progress event: {run_memory.get('device')} peak {format_bytes(run_memory.get('peak_bytes'))}")
    if peak is None:
        memory_line = "peak GPU memory / estimate_memory: n/a (no GPU) (target 0.5-2.0) n/a"
    else:
        ratio = peak / estimate
        memory_line = (f"peak GPU memory / estimate_memory: {ratio:.2f} (target 0.5-2.0) "
                       f"{'PASS' if 0.5 <= ratio <= 2.0 else 'MISS'}")
    expected = expected_precision(chip)
    gpu = chip["name"] != "CPU"
    nominal = " (nominal peak: not a measurement)" if peak_source.startswith("nominal") else ""
    return [
        f"training tokens/s: {training['tokens_per_second']:,.0f} (batch {training['batch']} x "
        f"{training['sequence']}; no target) {'PASS' if training['tokens_per_second'] > 0 else 'MISS'}",
        f"MFU (6N + attention): {m['with_attention']:.1%}{nominal} (target >= {MFU_TARGET:.0%}) "
        f"{verdict(m['with_attention'], MFU_TARGET)}",
        memory_line,
        f"precision auto: {training['precision']} (target {expected} on this device) "
        f"{'PASS' if training['precision'] == expected else 'MISS'}",
        f"XLA auto: {'on' if training['xla'] else 'off'} (target on for a GPU"
        f"{'' if gpu else '; a CPU: off for runs this short'}) "
        f"{'PASS' if bool(training['xla']) == gpu or not gpu else 'MISS'}",
    ]


# ---- devices() ---------------------------------------------------------------------------------


class DeviceSampler:
    """`nbmodels.devices()` and nvidia-smi's utilisation, once a second in a thread while training."""

    def __init__(self, every: float = 1.0):
        self.every, self.samples, self.smi = every, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="device-sampler", daemon=True)
        self.first: list[dict] = []
        self.error: str | None = None

    def start(self) -> None:
        import nbmodels

        self.first = [device.to_dict() for device in nbmodels.devices()]  # every kind, before training
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from nbmodels.devices import devices

        while not self._stop.wait(self.every):
            try:
                self.samples.append([device.to_dict() for device in devices("GPU")])
            except Exception as error:  # noqa: BLE001 - a bench reports
                self.error = f"{type(error).__name__}: {error}"
                return
            rows = nvidia_smi("utilization.gpu,memory.used")
            if rows:
                self.smi.append([float(cell) if cell.replace(".", "", 1).isdigit() else None for cell in rows[0]])

    def report(self) -> dict:
        try:
            import pynvml  # noqa: F401

            have_pynvml = True
        except ImportError:
            have_pynvml = False
        gpu_samples = [sample[0] for sample in self.samples if sample]
        utilisation = [s["utilization"] for s in gpu_samples if s.get("utilization") is not None]
        smi_utilisation = [row[0] for row in self.smi if row and row[0] is not None]
        return {"before_training": self.first, "gpu_samples": len(gpu_samples), "samples": len(self.samples),
                "last_gpu_sample": gpu_samples[-1] if gpu_samples else None, "pynvml_importable": have_pynvml,
                "utilization_samples": utilisation, "nvidia_smi_utilization_samples": smi_utilisation,
                "error": self.error}


def report_devices(report: dict, chip: dict) -> list[str]:
    say("devices(), before training:")
    for device in report["before_training"]:
        say(f"  {json.dumps(device)}")
    last = report["last_gpu_sample"]
    util, smi = report["utilization_samples"], report["nvidia_smi_utilization_samples"]
    say(f"  while training: {report['samples']} samples, {report['gpu_samples']} with a GPU; devices() utilisation "
        f"{_spread(util)}; nvidia-smi utilisation {_spread(smi)}; pynvml importable: {report['pynvml_importable']}"
        f"{'; sampler error ' + report['error'] if report['error'] else ''}")
    if chip["name"] == "CPU":
        note = "; nvidia-smi sees a GPU that TensorFlow does not" if chip.get("tensorflow_sees_no_gpu") else ""
        return [f"devices() GPU utilisation: n/a (no GPU{note}) (target reported on a GPU) n/a"]
    missing = [] if last is None else [k for k in ("memory_total", "memory_used", "utilization", "compute_capability")
                                       if last.get(k) is None]
    if last is None:
        missing = ["the GPU itself"]
    if missing and not report["pynvml_importable"]:
        missing.append("(pynvml is not installed: pip install nvidia-ml-py)")
    value = f"{statistics.mean(util):.0f}% mean" if util else "none"
    return [f"devices() GPU utilisation: {value}{'; missing ' + ', '.join(missing) if missing else ''} "
            f"(target utilisation and memory reported) {'MISS' if missing else 'PASS'}"]


def _spread(values: list) -> str:
    if not values:
        return "none"
    return f"mean {statistics.mean(values):.0f}%, min {min(values):.0f}, max {max(values):.0f} ({len(values)} samples)"


# ---- generation --------------------------------------------------------------------------------


def generation(keras_hub, dims: dict, args) -> dict:
    """bench/generation.py's comparison at these dimensions and batches (its helpers, imported)."""
    import keras
    import numpy as np

    from generation import PROMPT, build_pair, keras_hub_inputs  # bench/generation.py, not edited
    from nbmodels.generation import generate

    keras.config.set_dtype_policy(args.generation_precision)
    try:
        ours, theirs = build_pair(keras_hub, {"layers": dims["layers"], "heads": dims["heads"],
                                              "hidden": dims["hidden"], "vocabulary": dims["vocabulary"],
                                              "context": dims["sequence"]})
    finally:
        keras.config.set_dtype_policy("float32")
    say(f"generation: nbmodels {ours.count_params():,} parameters, keras-hub {theirs.count_params():,}; "
        f"{args.generation_precision}, greedy, {args.new_tokens} new tokens after {PROMPT}, XLA on both, "
        f"{args.repeats} timed calls each, alternating")
    rng = np.random.default_rng(0)
    rows = []
    for batch in args.generation_batches:
        prompts = rng.integers(0, dims["vocabulary"], (batch, PROMPT)).astype("int32")
        inputs = keras_hub_inputs(prompts, args.new_tokens)

        def run_ours():
            return generate(ours, list(prompts), max_new_tokens=args.new_tokens)

        def run_theirs():
            return theirs.generate(inputs, stop_token_ids=None)

        compiled = time.perf_counter()
        mine, peer = alternate(run_ours, run_theirs, args.repeats)
        tokens = batch * args.new_tokens
        row = {"batch": batch, "nbmodels_tokens_per_s": tokens / mine, "keras_hub_tokens_per_s": tokens / peer,
               "ratio": peer / mine, "nbmodels_s": mine, "keras_hub_s": peer,
               "seconds_with_compile": time.perf_counter() - compiled}
        rows.append(row)
        say(f"  batch {batch:>3}: nbmodels {row['nbmodels_tokens_per_s']:10,.0f} tokens/s, keras-hub "
            f"{row['keras_hub_tokens_per_s']:10,.0f} tokens/s -> ratio {row['ratio']:.2f} "
            f"({row['seconds_with_compile']:.0f} s with both compiles)")
    return {"precision": args.generation_precision, "new_tokens": args.new_tokens, "prompt": PROMPT,
            "repeats": args.repeats, "rows": rows}


# ---- results -----------------------------------------------------------------------------------


def versions() -> dict:
    import keras
    import tensorflow as tf

    found = {"tensorflow": tf.__version__, "keras": keras.__version__,
             "tensorflow_cuda": tf.sysconfig.get_build_info().get("cuda_version"),
             "tensorflow_cudnn": tf.sysconfig.get_build_info().get("cudnn_version")}
    try:
        import keras_hub

        found["keras_hub"] = keras_hub.__version__
    except ImportError:
        pass
    return found


def save(results: dict, device: str, smoke: bool) -> None:
    """bench/results/gpu-<device>.{txt,json}; a smoke run gets -smoke in its name."""
    slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-") or "unknown"
    stem = RESULTS / f"gpu-{slug}{'-smoke' if smoke else ''}"
    RESULTS.mkdir(exist_ok=True)
    m = results["machine"]
    header = [f"# bench/gpu.py on {device} ({results['chip'].get('nvidia_smi')}), {m['processor']}, "
              f"{m['usable_cpus']} usable CPUs", f"# date {results['date']}; command: {results['command']}",
              f"# load average before {m['load_average_before'][0]:.2f}, after {m['load_average_after'][0]:.2f}; "
              f"{', '.join(f'{k} {v}' for k, v in m.items() if k.startswith(('tensorflow', 'keras')))}"]
    stem.with_suffix(".txt").write_text("\n".join(header + OUTPUT) + "\n")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"saved {stem}.txt and .json")


if __name__ == "__main__":
    sys.exit(main())
