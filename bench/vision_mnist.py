"""keras.io's "Simple MNIST convnet" trained by nbmodels vs by a plain `model.fit`: accuracy and time per epoch.

The model is keras.io's (two Conv2D/MaxPooling2D stages, Flatten, Dropout 0.5, Dense; 34,826
parameters): `ConvNet(ConvNetConfig.preset("mnist"))` trained by `nbmodels.train`, and the
keras.io `Sequential` trained as the example trains it (`model.fit(x, y_one_hot, batch_size=128)`
with Adam and categorical crossentropy). nbmodels' `TrainConfig` matches it: optimizer "adam",
lr 1e-3 constant, batch 128, the same epochs, float32, XLA as Keras chooses on this device.
nbmodels' model returns logits (its loss is sparse crossentropy from logits), keras.io's ends in
a softmax: the same function, computed a little differently.

Data: the MNIST files in `../shared/data/mnist` (LeCun's IDX format). Only the 10,000 test images
are there, so both train on the first 8,000 and validate on the last 2,000 after every epoch.
nbmodels drops the last partial batch of an epoch (62 batches of 128 = 7,936 images) where
`model.fit` runs a 63rd batch of 64, so the script prints the time ratio per epoch and per
training image; the verdict uses the second, which does not flatter nbmodels.

Timing: each variant trains `--repeats` times for `--epochs` epochs, the variants alternating
(A B, B A, ...) so drift on a busy machine hits both. One callback, the same in both, takes the
time at epoch boundaries without touching any batch: an epoch is the time from one epoch's end to
the next (its validation and nbmodels' end-of-epoch checkpoint included). The first epoch of
every training (tracing, compiling) is left out; the median of the rest is compared. The same
callback splits each epoch into training, validation and the rest (epoch-end hooks, the next
epoch's start), which shows where a difference goes. Exit code 0 either way (a bench reports);
2 when the data is missing.

    python bench/vision_mnist.py [--epochs 5] [--repeats 4] [--data PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from nbmodels import TrainConfig, train  # noqa: E402
from nbmodels.models import ConvNet, ConvNetConfig  # noqa: E402
from _common import machine  # noqa: E402  (bench/ is on sys.path when run as a script)

TARGET = 1.03
TRAIN_IMAGES, VALIDATION_IMAGES = 8000, 2000
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
# keras.io's example: Adam (lr 1e-3), batch 128, categorical crossentropy (it trains 15 epochs).
BATCH_SIZE, LEARNING_RATE = 128, 1e-3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per training (the first is not timed)")
    parser.add_argument("--repeats", type=int, default=4, help="trainings of each variant, alternating")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with MNIST's t10k IDX files")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch (compiling) is not timed")
    missing = [name for name in (IMAGES, LABELS) if not (args.data / name).is_file()]
    if missing:
        print(f"No MNIST test set at {args.data} (missing {', '.join(missing)}); pass --data PATH, "
              f"a folder holding LeCun's {IMAGES} and {LABELS}.")
        return 2

    images, labels = load_mnist_test(args.data)
    split = {
        "train": (images[:TRAIN_IMAGES], labels[:TRAIN_IMAGES]),
        "validation": (images[-VALIDATION_IMAGES:], labels[-VALIDATION_IMAGES:]),
    }
    runs = {"nbmodels": [], "model.fit": []}
    with tempfile.TemporaryDirectory(prefix="nbmodels-bench-") as root:
        for repeat in range(args.repeats):
            order = ("nbmodels", "model.fit") if repeat % 2 == 0 else ("model.fit", "nbmodels")
            for variant in order:
                trainer = train_nbmodels if variant == "nbmodels" else train_plain
                clock = _EpochClock()
                trainer(split, args.epochs, args.seed + repeat, clock, root)
                runs[variant].append(clock.summary())
                print(f"  {variant:<9} training {repeat + 1}/{args.repeats}: "
                      f"{', '.join(f'{s:.2f}' for s in clock.epoch_seconds)} s/epoch, "
                      f"val_accuracy {clock.val_accuracy[-1]:.4f}", flush=True)

    results = _results(args, runs, machine(tensorflow=tf.__version__, keras=keras.__version__,
                                           gpus=len(tf.config.list_physical_devices("GPU"))))
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def load_mnist_test(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's 10,000 test images (N, 28, 28, 1) float32 in [0, 1] and their labels (N,) int64.

    IDX format: a big-endian header (magic 0x803 + count, rows, cols for images; 0x801 + count
    for labels), then one unsigned byte per pixel or label.
    """
    with gzip.open(folder / IMAGES, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw[:16], ">u4")
    if magic != 0x803:
        raise ValueError(f"{folder / IMAGES} is not an IDX image file (magic {magic:#x}, expected 0x803)")
    images = np.frombuffer(raw[16:], np.uint8).reshape(count, rows, cols, 1)
    with gzip.open(folder / LABELS, "rb") as f:
        raw = f.read()
    magic, count = np.frombuffer(raw[:8], ">u4")
    if magic != 0x801:
        raise ValueError(f"{folder / LABELS} is not an IDX label file (magic {magic:#x}, expected 0x801)")
    labels = np.frombuffer(raw[8:], np.uint8).astype("int64")
    return images.astype("float32") / 255.0, labels  # keras.io scales to [0, 1] the same way


def keras_io_convnet():
    """keras.io's Simple MNIST convnet, layer for layer."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def train_plain(split, epochs, seed, clock, root) -> None:
    """The keras.io example's own training: compile with Adam and categorical crossentropy on
    one-hot labels, `fit` on the arrays (shuffled each epoch), validating every epoch."""
    keras.utils.set_random_seed(seed)
    model = keras_io_convnet()
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(LEARNING_RATE),
                  metrics=["accuracy"])
    (x, y), (x_val, y_val) = split["train"], split["validation"]
    model.fit(x, keras.utils.to_categorical(y, 10), batch_size=BATCH_SIZE, epochs=epochs,
              validation_data=(x_val, keras.utils.to_categorical(y_val, 10)), callbacks=[clock], verbose=0)


def train_nbmodels(split, epochs, seed, clock, root) -> None:
    """The same model and optimizer through `nbmodels.train`: a Run recording every step, the
    step-addressed index stream, a checkpoint after every validation."""
    config = TrainConfig(epochs=epochs, batch_size=BATCH_SIZE, optimizer="adam", learning_rate=LEARNING_RATE,
                         lr_schedule="constant", weight_decay=0.0, seed=seed)
    run = train(lambda: ConvNet(ConvNetConfig.preset("mnist")), split, config,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                name="vision-mnist", root=root, callbacks=[clock], verbose=False)
    if run.status != "finished":
        raise RuntimeError(f"the nbmodels run ended {run.status!r}: {run.message}")


class _EpochClock(keras.callbacks.Callback):
    """Times at epoch boundaries only (no batch hook, so neither variant pays for it): an epoch
    is end to end; its parts are training (start -> validation), validation, and the rest."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds, self.train_seconds, self.validation_seconds, self.val_accuracy = [], [], [], []

    def on_train_begin(self, logs=None):
        self._last_end = time.perf_counter()  # so the first epoch also holds tracing: never compared

    def on_epoch_begin(self, epoch, logs=None):
        self._begin = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._test_begin = time.perf_counter()

    def on_test_end(self, logs=None):
        self._test_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.epoch_seconds.append(now - self._last_end)
        self.train_seconds.append(self._test_begin - self._begin)
        self.validation_seconds.append(self._test_end - self._test_begin)
        self.val_accuracy.append(float((logs or {})["val_accuracy"]))
        self._last_end = now

    def summary(self) -> dict:
        return {"epoch_seconds": self.epoch_seconds, "train_seconds": self.train_seconds,
                "validation_seconds": self.validation_seconds, "val_accuracy": self.val_accuracy}


def _timed(runs: list[dict], key: str) -> list[float]:
    """`key`'s values of every epoch but each training's first."""
    return [value for run in runs for value in run[key][1:]]


def _results(args, runs: dict, machine: dict) -> dict:
    images = {"nbmodels": TRAIN_IMAGES // BATCH_SIZE * BATCH_SIZE, "model.fit": TRAIN_IMAGES}
    variants = {}
    for variant, trainings in runs.items():
        epoch, train_part, validation = (statistics.median(_timed(trainings, key))
                                         for key in ("epoch_seconds", "train_seconds", "validation_seconds"))
        variants[variant] = {
            "ms_per_epoch": epoch * 1e3,
            "ms_training": train_part * 1e3,
            "ms_validation": validation * 1e3,
            "ms_rest": (epoch - train_part - validation) * 1e3,  # epoch-end hooks, checkpoint, the next start
            "images_per_epoch": images[variant],
            "val_accuracy": statistics.median(t["val_accuracy"][-1] for t in trainings),
            "trainings": trainings,
        }
    mine, plain = variants["nbmodels"], variants["model.fit"]
    per_epoch = mine["ms_per_epoch"] / plain["ms_per_epoch"]
    per_image = per_epoch * plain["images_per_epoch"] / mine["images_per_epoch"]
    return {
        "benchmark": "vision_mnist",
        "date": dt.date.today().isoformat(),
        "machine": machine,
        "settings": {
            "model": "keras.io Simple MNIST convnet (34,826 parameters)",
            "data": f"MNIST t10k: first {TRAIN_IMAGES} train, last {VALIDATION_IMAGES} validation",
            "optimizer": f"adam, lr {LEARNING_RATE} constant, no weight decay",
            "batch_size": BATCH_SIZE, "epochs": args.epochs, "repeats": args.repeats, "seed": args.seed,
            "timed_epochs_each": (args.epochs - 1) * args.repeats,
        },
        "variants": variants,
        "ratio_per_epoch": per_epoch,
        "ratio_per_image": per_image,
        "target": TARGET,
        "passed": per_image <= TARGET,
    }


def _print(r: dict) -> None:
    m, s = r["machine"], r["settings"]
    print()
    print(f"vision_mnist: {s['model']}; {s['data']}; {s['optimizer']}, batch {s['batch_size']}, "
          f"{s['epochs']} epochs x {s['repeats']} trainings each, interleaved; first epoch of each not timed")
    print(f"machine: {m['processor']}, {m['cpu_count']} CPUs, {m['gpus']} GPUs; "
          f"tensorflow {m['tensorflow']}, keras {m['keras']}, python {m['python']}")
    print()
    print(f"{'variant':<10} {'val acc':>8} {'ms/epoch':>9} {'training':>9} {'validation':>11} {'rest':>7} {'images':>7}")
    for name, v in r["variants"].items():
        print(f"{name:<10} {v['val_accuracy']:>8.4f} {v['ms_per_epoch']:>9.0f} {v['ms_training']:>9.0f} "
              f"{v['ms_validation']:>11.0f} {v['ms_rest']:>7.0f} {v['images_per_epoch']:>7}")
    print()
    print(f"time ratio nbmodels / model.fit: {r['ratio_per_epoch']:.3f} per epoch, "
          f"{r['ratio_per_image']:.3f} per training image")
    verdict = "PASS" if r["passed"] else "MISS"
    print(f"vision_mnist time ratio: {r['ratio_per_image']:.3f} (target <= {r['target']}) {verdict}")


if __name__ == "__main__":
    sys.exit(main())
