"""Two-tower retrieval on MovieLens 100K, its factorized top-K accuracy next to the TensorFlow
Recommenders tutorial's published one.

The TFRS "basic retrieval" tutorial (tensorflow.org/recommenders/examples/basic_retrieval) trains
32-dimensional user and movie id embeddings with an in-batch softmax on a random 80/20 split of
the 100,000 ratings (every rating is an interaction), 3 epochs, and reports on the test split the
share of (user, movie) pairs whose movie is among the user's top K over the whole catalogue, seen
movies included: top-1 0.0010, top-5 0.0087, top-10 0.0212, top-50 0.1218, top-100 0.2334.

Two variants run here on the same split, each for `--epochs` epochs:
- "ids, as TFRS": `TwoTower` with id embeddings of 32 only (no features, no log-Q), like the
  tutorial's model (its optimizer was Adagrad 0.1 with batches of 8,192; ours is Adam 0.01 with
  batches of 256, what nbmodels' recipe uses);
- "recipe": the `two_tower` recipe's defaults (genres and user features, log-Q correction).
`nbmodels.inspect.retrieval_report` gives both the factorized top-K (TFRS's definition) and the
keras-rs ranking metrics with seen movies left out, with the popularity baseline beside them.

MovieLens may not be redistributed (GroupLens licence), so it is not in this repository: pass
`--path` a folder holding the original `u.data`, `u.item`, `u.user` (or set
NBMODELS_MOVIELENS_PATH), or run online and it is downloaded. Without either it says so and exits
0 (a bench reports; it never fails CI).

    python bench/movielens.py --path ~/data/ml-100k [--epochs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine  # noqa: E402

# The tutorial's test-split figures after 3 epochs (factorized top-K categorical accuracy).
TFRS_PUBLISHED = {1: 0.0010, 5: 0.0087, 10: 0.0212, 50: 0.1218, 100: 0.2334}
KS = tuple(TFRS_PUBLISHED)


def load(path: str | None):
    """MovieLens 100K with a random 80/20 split, or None (with the reason printed)."""
    from nbmodels import data
    from nbmodels.data import DownloadError

    try:
        return data.load("movielens_100k", **({"path": path} if path else {}), split="random",
                         validation_split=0.2, seed=42)
    except DownloadError as error:
        print(f"movielens: skipped, no data: {error}")
    except ValueError as error:  # a folder without u.data, and such
        print(f"movielens: skipped: {error}")
    return None


def train_variant(name, builder, dataset, config):
    from nbmodels import train

    started = time.perf_counter()
    run = train(builder, dataset, config, name=f"movielens-{name}", verbose=False)
    seconds = time.perf_counter() - started
    if run.status != "finished":
        raise SystemExit(f"{name}: the run ended {run.status}: {run.message}")
    return run.model, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default=os.environ.get("NBMODELS_MOVIELENS_PATH"),
                        help="a folder with MovieLens 100K's original files (default: download)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    dataset = load(args.path)
    if dataset is None:
        return 0

    from nbmodels import TrainConfig, recipes
    from nbmodels.inspect import retrieval_report
    from nbmodels.models.recommenders import TwoTower, TwoTowerConfig

    extras = dataset.extras
    config = TrainConfig(epochs=args.epochs, batch_size=256, optimizer="adam", learning_rate=1e-2, seed=0)
    ids_config = TwoTowerConfig(num_users=extras["num_users"], num_items=extras["num_items"], embedding_dim=32)
    recipe = recipes.get_recipe("two_tower")
    variants = {
        "ids, as TFRS": lambda: TwoTower(ids_config, name="two_tower_ids"),
        "recipe": recipe.builder("small", dataset, **recipe.model_overrides(recipe.train_options)),
    }
    print(f"MovieLens 100K: {extras['num_users']} users, {extras['num_items']} movies, "
          f"{len(dataset.train[0]['user']):,} train / {len(dataset.validation[0]['user']):,} test pairs; "
          f"{args.epochs} epochs, Adam 0.01, batch 256")
    results = {}
    for name, builder in variants.items():
        model, seconds = train_variant(name.split(",")[0], builder, dataset, config)
        report = retrieval_report(model, dataset, ks=KS)
        results[name] = {"seconds": seconds, **report.to_dict()}
        popularity = report.popularity

    header = f"{'factorized top-K accuracy':<28}{'TFRS tutorial':>14}" + "".join(f"{name:>16}" for name in variants)
    print("\n" + header + f"{'popularity':>12}")
    for k in KS:
        key = f"factorized_top_k/top_{k}_categorical_accuracy"
        print(f"{'top-' + str(k):<28}{TFRS_PUBLISHED[k]:>14.4f}"
              + "".join(f"{results[name][key]:>16.4f}" for name in variants) + f"{popularity[key]:>12.4f}")
    print(f"\n{'seen movies left out':<28}{'':>14}" + "".join(f"{name:>16}" for name in variants)
          + f"{'popularity':>12}")
    for metric in ("recall_at_10", "ndcg_at_10", "recall_at_100"):
        print(f"{metric:<28}{'':>14}" + "".join(f"{results[name][metric]:>16.4f}" for name in variants)
              + f"{popularity[metric]:>12.4f}")
    print(f"{'training seconds':<28}{'':>14}" + "".join(f"{results[name]['seconds']:>16.1f}" for name in variants))
    ratio = results["ids, as TFRS"]["factorized_top_k/top_100_categorical_accuracy"] / TFRS_PUBLISHED[100]
    print(f"\nmovielens top-100 accuracy / TFRS tutorial's: {ratio:.2f} (ids only, same split protocol)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bench": "movielens", "date": dt.date.today().isoformat(), "machine": machine(),
                       "epochs": args.epochs, "tfrs_published": TFRS_PUBLISHED, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
