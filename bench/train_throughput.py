"""Training throughput: nbmodels' GPT against keras-hub's GPT2 of identical dimensions.

Both are the same architecture (GPT-2: learned positions, pre-norm blocks, GELU MLP, tied
embeddings), randomly initialised, trained by the same Keras `fit` with the same AdamW, loss,
batch, sequence length and XLA setting, on the same random token batches. keras-hub's model is
`GPT2CausalLM(GPT2Backbone(...), preprocessor=None)`, so both produce vocabulary logits.
Fits of --steps batches alternate (A B, B A, ...) after one untimed warm-up fit each; the
median training tokens/s are compared: ratio nbmodels / keras-hub, target >= 1.0.

    python bench/train_throughput.py [--layers 4 --heads 4 --hidden 256 --vocabulary 8192]
                                     [--sequence 256 --batch 8] [--steps 20] [--repeats 5]
                                     [--precision float32|mixed_bfloat16] [--no-xla] [--json out.json]
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_gpt_dimensions(parser, sequence_flag="--sequence", sequence_default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--no-xla", dest="xla", action="store_false")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    keras_hub = import_keras_hub()
    if keras_hub is None:
        return 0
    from nbmodels.models import GPT, GPTConfig

    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)
    config = GPTConfig(vocabulary_size=args.vocabulary, sequence_length=args.sequence, num_layers=args.layers,
                       num_heads=args.heads, hidden_dim=args.hidden)
    ours = GPT(config)
    theirs = keras_hub.models.GPT2CausalLM(
        backbone=keras_hub.models.GPT2Backbone(
            vocabulary_size=args.vocabulary, num_layers=args.layers, num_heads=args.heads,
            hidden_dim=args.hidden, intermediate_dim=config.intermediate_dim, dropout=0.0,
            max_sequence_length=args.sequence,
        ),
        preprocessor=None,
    )
    for model in (ours, theirs):
        model.compile(optimizer=keras.optimizers.AdamW(1e-4),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=args.xla)

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, args.vocabulary, (args.batch * args.steps, args.sequence + 1)).astype("int32")
    x, y = tokens[:, :-1], tokens[:, 1:]
    ours_data = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch).cache()
    theirs_data = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": x, "padding_mask": np.ones_like(x, bool)}, y)).batch(args.batch).cache()

    def fit(model, data):
        def run():
            model.fit(data, epochs=1, verbose=0)
        return run

    print(f"parameters: nbmodels {ours.count_params():,}, keras-hub {theirs.count_params():,}; "
          f"batch {args.batch} x {args.sequence} tokens, {args.precision}, XLA {'on' if args.xla else 'off'}")
    mine, peer = alternate(fit(ours, ours_data), fit(theirs, theirs_data), args.repeats)
    tokens_per_fit = args.batch * args.sequence * args.steps
    result = {
        "bench": "train_throughput", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "device": device_name(), "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "nbmodels_tokens_per_s": tokens_per_fit / mine, "keras_hub_tokens_per_s": tokens_per_fit / peer,
        "ratio": peer / mine, "target": ">= 1.0",
    }
    print(f"training: nbmodels {result['nbmodels_tokens_per_s']:,.0f} tokens/s, keras-hub "
          f"{result['keras_hub_tokens_per_s']:,.0f} tokens/s -> ratio {result['ratio']:.2f} (target >= 1.0) "
          f"{verdict(result['ratio'], 1.0)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
