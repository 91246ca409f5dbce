"""Generation speed: nbmodels' compiled KV-cache loop against keras-hub's GPT2CausalLM.

Both models have identical dimensions and random weights (tied embeddings, GELU MLP, pre-norm,
learned positions: GPT-2's architecture) and both run their generation loop under XLA
(`jit_compile=True`). Each generates 256 new tokens greedily after a 32-token prompt, at batch
1 and batch 8, with no stop token. Calls alternate (A B, B A, ...) after one untimed warm-up
call each (compilation), and the medians are compared: tokens/s ratio nbmodels / keras-hub,
target >= 1.2.

Two more comparisons inside nbmodels, same model, same tokens:
- streaming (`stream`, chunks of 16, top-5 alternatives) vs one `generate` call with the same
  top-5 bookkeeping: time ratio, target <= 1.10; and the same with `stream`'s default
  `chunk_size="auto"` (chunks of about 1/15 s at the measured pace), reported beside it;
- the KV cache vs recomputing every position at every step (`use_cache=False`): speed-up,
  target >= 5.

    python bench/generation.py [--layers 4 --heads 4 --hidden 256 --vocabulary 8192]
                               [--new-tokens 256] [--repeats 5] [--json out.json]

The size sweep, `--sizes NAME ...`, runs those comparisons (less the recompute one, which takes
minutes at the larger sizes) for each named size below, smallest first, in one process, with
the size's own new-token count and batches; the dimension flags do not combine with it:

    | name  | layers | heads | wide | vocabulary | context | new tokens | batches | parameters |
    |-------|--------|-------|------|------------|---------|------------|---------|------------|
    | tiny  | 2      | 4     | 64   | 256        | 128     | 64         | 1, 8    | 125k       |
    | small | 4      | 4     | 128  | 2,048      | 256     | 128        | 1, 8    | 1.1M       |
    | mid   | 4      | 4     | 256  | 8,192      | 512     | 128        | 1, 8    | 5.4M       |
    | large | 6      | 8     | 512  | 16,000     | 256     | 128        | 1, 4    | 27M        |

(tiny and large are issue 13's two sizes; mid is this script's default dimensions.) Each size
also gets the per-call cost (one new token, batch 1, both libraries) and the roofline: at batch
1 a decoder step reads every weight once, so parameters x bytes per parameter x tokens/s is the
weight traffic it achieved, printed beside the machine's memory read bandwidth measured in the
same run (numpy sums over a 1 GiB float32 array, one thread and one thread per usable CPU, best
of 5, before and after the sweep). The token embedding counts once (it is the tied output
projection, read whole each step); the KV cache and activations are not counted, so the
fraction slightly understates the traffic. Weights that fit in the caches (tiny, small) are not
bound by memory bandwidth: their fraction says little. Sweep targets: ratio >= 1.2 at every
size and batch, streaming <= 1.10 at every size.

    python bench/generation.py --sizes tiny small mid large [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import add_gpt_dimensions, alternate, device_name, import_keras_hub, machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

PROMPT = 32

SIZES = {
    "tiny": dict(layers=2, heads=4, hidden=64, vocabulary=256, context=128, new_tokens=64, batches=[1, 8]),
    "small": dict(layers=4, heads=4, hidden=128, vocabulary=2048, context=256, new_tokens=128, batches=[1, 8]),
    "mid": dict(layers=4, heads=4, hidden=256, vocabulary=8192, context=512, new_tokens=128, batches=[1, 8]),
    "large": dict(layers=6, heads=8, hidden=512, vocabulary=16000, context=256, new_tokens=128, batches=[1, 4]),
}
DIMENSION_FLAGS = ("layers", "heads", "hidden", "vocabulary", "context", "new_tokens", "batches")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_gpt_dimensions(parser, sequence_flag="--context", sequence_default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), metavar="NAME",
                        help=f"sweep these named sizes ({', '.join(SIZES)}; dimensions in the docstring)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.sizes:
        changed = [name for name in DIMENSION_FLAGS if getattr(args, name) != parser.get_default(name)]
        if changed:
            parser.error(f"--sizes takes each size's dimensions from its table; drop "
                         f"{', '.join('--' + name.replace('_', '-') for name in changed)}")

    keras_hub = import_keras_hub()
    if keras_hub is None:
        return 0
    if args.sizes:
        command = " ".join(["python bench/generation.py", *(sys.argv[1:] if argv is None else argv)])
        return sweep(keras_hub, [name for name in SIZES if name in args.sizes], args.repeats, args.json, command)

    load_before = os.getloadavg()
    results = {"bench": "generation", "date": time.strftime("%Y-%m-%d %H:%M"),
               "command": " ".join(["python bench/generation.py", *(sys.argv[1:] if argv is None else argv)]),
               "machine": machine(device=device_name(), load_average_before=load_before),
               "dims": vars(args) | {"json": None, "sizes": None}, "rows": []}
    print(f"load average {load_before[0]:.2f}")
    dims = {name: getattr(args, name) for name in DIMENSION_FLAGS}
    results["rows"] = compare(keras_hub, dims, args.repeats, recompute=True)["rows"]
    results["machine"]["load_average_after"] = os.getloadavg()
    print(f"load average now {results['machine']['load_average_after'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


def build_pair(keras_hub, dims: dict):
    """nbmodels' GPT and keras-hub's GPT2CausalLM (greedy, XLA) of the same dimensions, random weights."""
    import keras

    from nbmodels.models import GPT, GPTConfig

    keras.utils.set_random_seed(0)
    config = GPTConfig(vocabulary_size=dims["vocabulary"], sequence_length=dims["context"],
                       num_layers=dims["layers"], num_heads=dims["heads"], hidden_dim=dims["hidden"])
    ours = GPT(config)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=dims["vocabulary"], num_layers=dims["layers"], num_heads=dims["heads"],
        hidden_dim=dims["hidden"], intermediate_dim=config.intermediate_dim, dropout=0.0,
        max_sequence_length=dims["context"],
    )
    theirs = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    theirs.compile(sampler="greedy", jit_compile=True)
    return ours, theirs


def keras_hub_inputs(prompts, new_tokens: int) -> dict:
    """keras-hub's generate input without a preprocessor: the prompt, then padding to fill."""
    import numpy as np

    batch = len(prompts)
    token_ids = np.zeros((batch, PROMPT + new_tokens), "int32")
    token_ids[:, :PROMPT] = prompts
    padding_mask = np.zeros((batch, PROMPT + new_tokens), bool)
    padding_mask[:, :PROMPT] = True
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def compare(keras_hub, dims: dict, repeats: int, *, recompute: bool, per_call: bool = False) -> dict:
    """Time one size: greedy tokens/s of both at each batch, streaming vs one call, and optionally
    the KV cache vs recomputing and the per-call cost. Prints a line per comparison."""
    import numpy as np

    from nbmodels.generation import generate, stream

    ours, theirs = build_pair(keras_hub, dims)
    parameters = ours.count_params()
    print(f"models: nbmodels {parameters:,} parameters, keras-hub {theirs.count_params():,}; "
          f"{dims['layers']} layers, {dims['heads']} heads, {dims['hidden']} wide, vocabulary {dims['vocabulary']}")
    measured = {"parameters": parameters, "keras_hub_parameters": theirs.count_params(),
                "bytes_per_parameter": max(np.dtype(w.dtype).itemsize for w in ours.weights), "rows": []}
    rng = np.random.default_rng(0)
    new_tokens = dims["new_tokens"]
    for batch in dims["batches"]:
        prompts = rng.integers(0, dims["vocabulary"], (batch, PROMPT)).astype("int32")
        inputs = keras_hub_inputs(prompts, new_tokens)

        def run_ours():
            return generate(ours, list(prompts), max_new_tokens=new_tokens)

        def run_theirs():
            return theirs.generate(inputs, stop_token_ids=None)

        mine, peer = alternate(run_ours, run_theirs, repeats)
        tokens = batch * new_tokens
        row = {"what": f"greedy, batch {batch}", "batch": batch, "nbmodels_tokens_per_s": tokens / mine,
               "keras_hub_tokens_per_s": tokens / peer, "ratio": peer / mine, "target": ">= 1.2"}
        measured["rows"].append(row)
        print(f"{row['what']:>16}: nbmodels {row['nbmodels_tokens_per_s']:9,.0f} tokens/s, keras-hub "
              f"{row['keras_hub_tokens_per_s']:9,.0f} tokens/s -> ratio {row['ratio']:.2f} (target >= 1.2) "
              f"{verdict(row['ratio'], 1.2)}")

    prompts = list(rng.integers(0, dims["vocabulary"], (1, PROMPT)).astype("int32"))

    def streamed():
        return list(stream(ours, prompts, max_new_tokens=new_tokens, top_n=5, chunk_size=16))

    def whole():
        return generate(ours, prompts, max_new_tokens=new_tokens, top_n=5)

    streaming, generating = alternate(streamed, whole, repeats)
    row = {"what": "streaming vs generate, batch 1, top-5", "time_ratio": streaming / generating, "target": "<= 1.10"}
    measured["rows"].append(row)
    print(f"streaming (chunks of 16) / one call: time ratio {row['time_ratio']:.3f} (target <= 1.10) "
          f"{verdict(row['time_ratio'], 1.10, higher_is_better=False)}")

    def streamed_auto():
        return list(stream(ours, prompts, max_new_tokens=new_tokens, top_n=5, chunk_size="auto"))

    streaming, generating = alternate(streamed_auto, whole, repeats)
    row = {"what": "streaming (auto chunks) vs generate, batch 1, top-5", "time_ratio": streaming / generating,
           "target": "<= 1.10"}
    measured["rows"].append(row)
    print(f"streaming (chunk_size='auto') / one call: time ratio {row['time_ratio']:.3f} (target <= 1.10) "
          f"{verdict(row['time_ratio'], 1.10, higher_is_better=False)}")

    if per_call:  # what one call costs beyond its tokens: a single new token after the prompt
        one_inputs = keras_hub_inputs(np.asarray(prompts), 1)

        def one_ours():
            return generate(ours, prompts, max_new_tokens=1)

        def one_theirs():
            return theirs.generate(one_inputs, stop_token_ids=None)

        mine, peer = alternate(one_ours, one_theirs, max(repeats, 9))
        row = {"what": "one new token, batch 1 (per-call cost)", "nbmodels_ms": 1000 * mine,
               "keras_hub_ms": 1000 * peer}
        measured["rows"].append(row)
        print(f"one new token, batch 1: nbmodels {row['nbmodels_ms']:.1f} ms a call, keras-hub "
              f"{row['keras_hub_ms']:.1f} ms a call")

    if recompute:
        def recomputed():
            return generate(ours, prompts, max_new_tokens=new_tokens, use_cache=False)

        def cached():
            return generate(ours, prompts, max_new_tokens=new_tokens)

        slow, fast = alternate(recomputed, cached, max(2, repeats // 2))
        row = {"what": "KV cache vs recompute, batch 1", "speedup": slow / fast, "target": ">= 5"}
        measured["rows"].append(row)
        print(f"KV cache vs recomputing every step: {row['speedup']:.1f}x faster (target >= 5) "
              f"{verdict(row['speedup'], 5)}")
    return measured


def memory_bandwidth(repeats: int = 5) -> dict:
    """Bytes/s of summing a 1 GiB float32 array with numpy: one thread, and split across one
    thread per usable CPU (numpy releases the GIL in the sum); best of `repeats` each."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    array = np.ones(2**28, np.float32)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    chunks = np.array_split(array, 8 * threads)  # several chunks a thread: one slow thread costs less

    def best(function):
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            function()
            times.append(time.perf_counter() - started)
        return array.nbytes / min(times)

    with ThreadPoolExecutor(threads) as pool:
        result = {"one_thread": best(array.sum), "all_threads": best(lambda: list(pool.map(np.sum, chunks))),
                  "threads": threads}
    del array, chunks
    return result


def sweep(keras_hub, names: list[str], repeats: int, json_path: Path | None, command: str) -> int:
    """`compare` for each named size, plus per-call cost and the roofline; a summary table last."""
    import gc

    import keras
    import tensorflow as tf

    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    bandwidth = [memory_bandwidth()]
    print(f"memory read bandwidth (numpy sum, 1 GiB float32, best of 5): one thread "
          f"{bandwidth[0]['one_thread'] / 1e9:.1f} GB/s, {bandwidth[0]['threads']} threads "
          f"{bandwidth[0]['all_threads'] / 1e9:.1f} GB/s; load average {load_before[0]:.2f}")
    sizes = []
    for name in names:
        dims = SIZES[name]
        print(f"--- {name}: {dims['new_tokens']} new tokens after {PROMPT}, context {dims['context']}")
        measured = compare(keras_hub, dims, repeats, recompute=False, per_call=True)
        sizes.append({"name": name, "dims": dims, **measured})
        keras.backend.clear_session()
        gc.collect()
    bandwidth.append(memory_bandwidth())
    load_after = os.getloadavg()
    best = {key: max(b[key] for b in bandwidth) for key in ("one_thread", "all_threads")}
    print(f"memory read bandwidth, best of before and after: one thread {best['one_thread'] / 1e9:.1f} GB/s, "
          f"{bandwidth[0]['threads']} threads {best['all_threads'] / 1e9:.1f} GB/s; load average now "
          f"{load_after[0]:.2f}")

    print()
    print(f"{'size':>6} {'parameters':>11} {'batch':>5} {'nbmodels tok/s':>15} {'keras-hub tok/s':>16} {'ratio':>6} "
          f"{'stream16':>8} {'auto':>5} {'1-token call ms':>16} {'weights GB/s':>13} {'roofline 1 thr / all':>21}")
    worst_ratio, worst_streaming, worst_auto = None, None, None
    for size in sizes:
        rows = {row["what"]: row for row in size["rows"]}
        streaming = rows["streaming vs generate, batch 1, top-5"]["time_ratio"]
        auto = rows["streaming (auto chunks) vs generate, batch 1, top-5"]["time_ratio"]
        call = rows["one new token, batch 1 (per-call cost)"]
        weight_bytes = size["parameters"] * size["bytes_per_parameter"]
        for row in size["rows"]:
            if "ratio" not in row:
                continue
            line = (f"{size['name']:>6} {size['parameters']:>11,} {row['batch']:>5} "
                    f"{row['nbmodels_tokens_per_s']:>15,.0f} {row['keras_hub_tokens_per_s']:>16,.0f} "
                    f"{row['ratio']:>6.2f}")
            if row["batch"] == 1:
                achieved = {who: weight_bytes * row[f"{who}_tokens_per_s"] for who in ("nbmodels", "keras_hub")}
                size["roofline"] = {
                    "weight_bytes": weight_bytes,
                    **{f"{who}_weight_bytes_per_s": value for who, value in achieved.items()},
                    **{f"{who}_fraction_{key}": value / best[key]
                       for who, value in achieved.items() for key in ("one_thread", "all_threads")},
                }
                line += (f" {streaming:>8.3f} {auto:>5.2f} {call['nbmodels_ms']:>7.1f} / {call['keras_hub_ms']:<6.1f} "
                         f"{achieved['nbmodels'] / 1e9:>6.2f} / {achieved['keras_hub'] / 1e9:<5.2f} "
                         f"{size['roofline']['nbmodels_fraction_one_thread']:>10.0%} / "
                         f"{size['roofline']['nbmodels_fraction_all_threads']:<4.0%}")
            print(line.rstrip())
            if worst_ratio is None or row["ratio"] < worst_ratio[0]:
                worst_ratio = (row["ratio"], f"{size['name']}, batch {row['batch']}")
        if worst_streaming is None or streaming > worst_streaming[0]:
            worst_streaming = (streaming, size["name"])
        if worst_auto is None or auto > worst_auto[0]:
            worst_auto = (auto, size["name"])
    print("(stream16, auto: streaming time / one call, chunks of 16 and chunk_size='auto'; "
          "1-token call and weights GB/s: nbmodels / keras-hub; roofline: nbmodels at batch 1, weight bytes/s over "
          "the one-thread and the all-threads bandwidth)")
    print(f"streaming (chunk_size='auto') / one call over sizes: worst {worst_auto[0]:.3f} at {worst_auto[1]} "
          f"(target <= 1.10 at every size) {verdict(worst_auto[0], 1.10, higher_is_better=False)}")
    print(f"streaming (chunks of 16) / one call over sizes: worst {worst_streaming[0]:.3f} at {worst_streaming[1]} "
          f"(target <= 1.10 at every size) {verdict(worst_streaming[0], 1.10, higher_is_better=False)}")
    print(f"generation tokens/s ratio over sizes: worst {worst_ratio[0]:.2f} at {worst_ratio[1]} "
          f"(target >= 1.2 at every size and batch) {verdict(worst_ratio[0], 1.2)}")

    if json_path:
        results = {
            "bench": "generation --sizes", "date": started,
            "command": command,
            "machine": machine(device=device_name(), tensorflow=tf.__version__, keras=keras.__version__,
                               keras_hub=keras_hub.__version__, load_average_before=load_before,
                               load_average_after=load_after),
            "repeats": repeats, "prompt_tokens": PROMPT, "memory_bandwidth": {"runs": bandwidth, "best": best},
            "sizes": sizes,
            "worst": {"ratio": worst_ratio[0], "ratio_at": worst_ratio[1],
                      "streaming": worst_streaming[0], "streaming_at": worst_streaming[1],
                      "streaming_auto": worst_auto[0], "streaming_auto_at": worst_auto[1]},
        }
        json_path.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
