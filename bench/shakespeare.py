"""nanoGPT's "baby GPT" on Tiny Shakespeare, trained by nbmodels: does it reach nanoGPT's loss?

The setting of nanoGPT's `config/train_shakespeare_char.py` as its README runs it on a CPU:
4 layers, 4 heads, 128 dims, context 64, batch 12, 2000 iterations, AdamW at lr 1e-3 with
100 warmup steps and cosine decay to 1e-4, gradient clipping at 1.0, weight decay 0.1,
dropout 0. The data is `../shared/data/tinyshakespeare/input.txt` split like nanoGPT (first
90% train, last 10% validation); training windows start at every character (nanoGPT samples
random offsets), validation windows do not overlap.

Peer (measured on these machines, see ../shared/TOOLCHAIN.md): nanoGPT with torch 2.13 on CPU
reaches validation loss 1.8857 at iteration 2000, median 75 ms/iteration. Target: <= 1.88.
nanoGPT estimates its validation loss from 20 random batches; this script evaluates the whole
validation split, which is the steadier number.

AdamW decays only weights with 2+ dimensions, as nanoGPT does; `--weight-decay-on all` decays
every weight (biases, LayerNorm scales too), which is what nbmodels did before, for comparison.

    python bench/shakespeare.py [--steps 2000] [--text PATH] [--json out.json] [--weight-decay-on all]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TARGET = 1.88
PEER = {"validation_loss": 1.8857, "ms_per_iteration": 75.0, "what": "nanoGPT, torch 2.13 CPU, same machines"}
DEFAULT_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--weight-decay-on", choices=("matrices", "all"), default="matrices",
                        help="which weights AdamW decays (TrainConfig.weight_decay_on)")
    args = parser.parse_args(argv)
    if not args.text.is_file():
        print(f"No Tiny Shakespeare at {args.text}; pass --text PATH (nanoGPT's input.txt).")
        return 0

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
        warmup_steps=100, min_lr_ratio=0.1, weight_decay=0.1, weight_decay_on=args.weight_decay_on,
        clip_norm=1.0, validate_every=args.steps,
        checkpoint_every=args.steps, seed=1337, precision="float32",
    )
    gpt = recipes.get_recipe("char_gpt")
    builder = gpt.builder("baby", train, dropout=0.0)

    started = time.perf_counter()
    run = train_run(builder, data, config, name="shakespeare-baby", root=tempfile.mkdtemp())
    wall = time.perf_counter() - started
    validation_loss = run.validation["val_loss"]
    steps = run.step
    # ms/iteration from the run's own throughput (steady state; excludes tracing and validation).
    ms_per_iteration = 1000.0 * config.batch_size / run.samples_per_second if run.samples_per_second else float("nan")

    result = {
        "bench": "shakespeare",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "steps": steps,
        "weight_decay_on": config.weight_decay_on,
        "validation_loss": round(validation_loss, 4),
        "target": TARGET,
        "met": validation_loss <= TARGET,
        "wall_seconds": round(wall, 1),
        "ms_per_iteration": round(ms_per_iteration, 1),
        "peer": PEER,
        "time_ratio_vs_peer": round(ms_per_iteration / PEER["ms_per_iteration"], 2),
        "parameters": gpt.parameter_count("baby", train),
    }
    print(f"baby GPT, Tiny Shakespeare, {steps} iterations: validation loss {validation_loss:.4f} "
          f"(target <= {TARGET}; nanoGPT {PEER['validation_loss']}) -> {'met' if result['met'] else 'MISSED'}")
    print(f"wall {wall:.1f} s, {ms_per_iteration:.1f} ms/iteration (nanoGPT {PEER['ms_per_iteration']:.0f} ms/iteration "
          f"on these machines; ratio {result['time_ratio_vs_peer']:.2f})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
