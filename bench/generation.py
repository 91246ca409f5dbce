"""Generation speed: nbmodels' compiled KV-cache loop against keras-hub's GPT2CausalLM.

Both models have identical dimensions and random weights (tied embeddings, GELU MLP, pre-norm,
learned positions: GPT-2's architecture) and both run their generation loop under XLA
(`jit_compile=True`). Each generates 256 new tokens greedily after a 32-token prompt, at batch
1 and batch 8, with no stop token. Calls alternate (A B, B A, ...) after one untimed warm-up
call each (compilation), and the medians are compared: tokens/s ratio nbmodels / keras-hub,
target >= 1.2.

Two more comparisons inside nbmodels, same model, same tokens:
- streaming (`stream`, chunks of 16, top-5 alternatives) vs one `generate` call with the same
  top-5 bookkeeping: time ratio, target <= 1.10;
- the KV cache vs recomputing every position at every step (`use_cache=False`): speed-up,
  target >= 5.

    python bench/generation.py [--layers 4 --heads 4 --hidden 256 --vocabulary 8192]
                               [--new-tokens 256] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import add_gpt_dimensions, alternate, device_name, import_keras_hub, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

PROMPT = 32


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_gpt_dimensions(parser, sequence_flag="--context", sequence_default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    keras_hub = import_keras_hub()
    if keras_hub is None:
        return 0
    from nbmodels.generation import generate, stream
    from nbmodels.models import GPT, GPTConfig

    keras.utils.set_random_seed(0)
    config = GPTConfig(vocabulary_size=args.vocabulary, sequence_length=args.context, num_layers=args.layers,
                       num_heads=args.heads, hidden_dim=args.hidden)
    ours = GPT(config)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=args.vocabulary, num_layers=args.layers, num_heads=args.heads, hidden_dim=args.hidden,
        intermediate_dim=config.intermediate_dim, dropout=0.0, max_sequence_length=args.context,
    )
    theirs = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    theirs.compile(sampler="greedy", jit_compile=True)
    print(f"models: nbmodels {ours.count_params():,} parameters, keras-hub {theirs.count_params():,}; "
          f"{args.layers} layers, {args.heads} heads, {args.hidden} wide, vocabulary {args.vocabulary}")

    results = {"bench": "generation", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "device": device_name(), "dims": vars(args) | {"json": None}, "rows": []}
    rng = np.random.default_rng(0)
    total = PROMPT + args.new_tokens
    for batch in args.batches:
        prompts = rng.integers(0, args.vocabulary, (batch, PROMPT)).astype("int32")
        token_ids = np.zeros((batch, total), "int32")
        token_ids[:, :PROMPT] = prompts
        padding_mask = np.zeros((batch, total), bool)
        padding_mask[:, :PROMPT] = True

        def run_ours():
            return generate(ours, list(prompts), max_new_tokens=args.new_tokens)

        def run_theirs():
            return theirs.generate({"token_ids": token_ids, "padding_mask": padding_mask}, stop_token_ids=None)

        mine, peer = alternate(run_ours, run_theirs, args.repeats)
        tokens = batch * args.new_tokens
        row = {"what": f"greedy, batch {batch}", "nbmodels_tokens_per_s": tokens / mine,
               "keras_hub_tokens_per_s": tokens / peer, "ratio": peer / mine, "target": ">= 1.2"}
        results["rows"].append(row)
        print(f"{row['what']:>16}: nbmodels {row['nbmodels_tokens_per_s']:9,.0f} tokens/s, keras-hub "
              f"{row['keras_hub_tokens_per_s']:9,.0f} tokens/s -> ratio {row['ratio']:.2f} (target >= 1.2) "
              f"{verdict(row['ratio'], 1.2)}")

    prompts = list(rng.integers(0, args.vocabulary, (1, PROMPT)).astype("int32"))

    def streamed():
        return list(stream(ours, prompts, max_new_tokens=args.new_tokens, top_n=5, chunk_size=16))

    def whole():
        return generate(ours, prompts, max_new_tokens=args.new_tokens, top_n=5)

    streaming, generating = alternate(streamed, whole, args.repeats)
    row = {"what": "streaming vs generate, batch 1, top-5", "time_ratio": streaming / generating, "target": "<= 1.10"}
    results["rows"].append(row)
    print(f"streaming (chunks of 16) / one call: time ratio {row['time_ratio']:.3f} (target <= 1.10) "
          f"{verdict(row['time_ratio'], 1.10, higher_is_better=False)}")

    def recompute():
        return generate(ours, prompts, max_new_tokens=args.new_tokens, use_cache=False)

    def cached():
        return generate(ours, prompts, max_new_tokens=args.new_tokens)

    slow, fast = alternate(recompute, cached, max(2, args.repeats // 2))
    row = {"what": "KV cache vs recompute, batch 1", "speedup": slow / fast, "target": ">= 5"}
    results["rows"].append(row)
    print(f"KV cache vs recomputing every step: {row['speedup']:.1f}x faster (target >= 5) {verdict(row['speedup'], 5)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
