"""train() on every kind of data: named features without targets, rows loaded lazily by index,
tf.data pipelines, and training-only augmentation; each resumed exactly."""

import signal
import threading

import keras
import numpy as np
import pytest

from nbmodels import Run, TrainConfig, data, resume, train
from nbmodels.training.inputs import as_training_data
from tests.conftest import kernel_interrupt_at, make_mlp


def weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def interrupted_then_resumed(builder, dataset, config, stop_at, **options):
    """Train until a real SIGINT at step `stop_at` (as Jupyter's interrupt button), then resume in
    this process; returns the finished run."""
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = train(builder, dataset, config, callbacks=[kernel_interrupt_at(stop_at)], verbose=False, **options)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert run.status == "interrupted" and run.step == stop_at, (run.status, run.message)
    resume(run, callbacks=(), verbose=False)  # without the interrupter
    assert run.status == "finished", run.message
    return run


def assert_same_weights(got, want):
    for a, b in zip(weights(got), weights(want), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


# ---- named features, no targets -------------------------------------------------------------


class InBatchSoftmaxLoss(keras.layers.Layer):
    """Scores every user against every item of the batch; the loss says each user's own item is
    the right one (retrieval on positive pairs: no targets)."""

    def call(self, users, items):
        scores = keras.ops.matmul(users, keras.ops.transpose(items))  # (B, B)
        own = keras.ops.arange(keras.ops.shape(scores)[0])
        self.add_loss(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(own, scores, from_logits=True)))
        return scores


def two_tower():
    user = keras.Input((), dtype="int32", name="user")
    item = keras.Input((), dtype="int32", name="item")
    users = keras.layers.Dropout(0.2)(keras.layers.Embedding(40, 8)(user))  # dropout: RNG state resumes too
    items = keras.layers.Embedding(10, 8)(item)
    return keras.Model({"user": user, "item": item}, InBatchSoftmaxLoss()(users, items), name="two_tower")


def positive_pairs(n, seed=0):
    users = np.random.default_rng(seed).integers(0, 40, n).astype("int32")
    return {"user": users, "item": (users % 10).astype("int32")}


def test_dict_features_without_targets_train_and_resume_exactly(runs_root):
    dataset = data.Dataset(task="retrieval", train=(positive_pairs(320), None),
                           validation=(positive_pairs(64, seed=1), None))
    config = TrainConfig(steps=40, batch_size=16, validate_every=15, checkpoint_every=10, seed=5,
                         learning_rate=1e-2)
    reference = train(two_tower, dataset, config, verbose=False)
    assert reference.status == "finished", reference.message
    losses = [e["metrics"]["loss"] for e in reference.history]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # the model's own loss, without any y, went down
    assert "val_loss" in reference.validation_history[-1]["metrics"]

    run = interrupted_then_resumed(two_tower, dataset, config, stop_at=23)
    assert_same_weights(run.model, reference.model)


def test_a_model_without_a_loss_still_needs_targets_to_have_one(runs_root, xor_data):
    def uncompiled():
        return keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])

    with pytest.raises(ValueError, match="train\\(\\) needs a loss"):
        train(uncompiled, xor_data["train"], TrainConfig(steps=1, batch_size=32), verbose=False)


# ---- rows loaded lazily ---------------------------------------------------------------------


class RowReads:
    """A per-row loader over xor-like rows that records each row it reads."""

    def __init__(self, n):
        rng = np.random.default_rng(0)
        self.x = rng.uniform(-1, 1, size=(n, 8)).astype("float32")
        self.y = ((self.x[:, 0] > 0) ^ (self.x[:, 1] > 0)).astype("int32")
        self.reads, self.lock = [], threading.Lock()

    def __call__(self, index):
        with self.lock:
            self.reads.append(index)
        return self.x[index], self.y[index]


def test_a_lazy_source_reads_only_the_rows_of_the_batches_served(runs_root):
    rows, batch_size, steps, prefetch = 4096, 16, 12, 2
    loader = RowReads(rows)
    source = data.LazySource(rows, load_row=loader, threads=4, prefetch=prefetch)
    read_after = {}

    class Snapshot(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            with loader.lock:
                read_after[int(self.model.optimizer.iterations.numpy())] = list(loader.reads)

    config = TrainConfig(steps=steps, batch_size=batch_size, seed=4)
    run = train(make_mlp, source, config, callbacks=[Snapshot()], verbose=False)
    assert run.status == "finished", run.message

    batches = [b.numpy().tolist() for b in as_training_data(source).batch_indices(batch_size, 4, 0, steps)]
    probe = [0]  # the first example, read once for shapes and dtypes
    ahead = 2 * prefetch + 1  # loading in parallel, loaded and waiting, handed to the step
    for step, reads in read_after.items():
        served = {i for b in batches[:step] for i in b}
        allowed = served | {i for b in batches[: step + ahead] for i in b} | set(probe)
        assert served <= set(reads), f"step {step}: a served row was not read"
        assert set(reads) <= allowed, f"step {step}: rows beyond the next {ahead} batches were read"
        assert len(reads) <= len(probe) + (step + ahead) * batch_size  # each row once, never the whole set
    # All in all: the probe and the rows of the batches trained on, each once; nothing else.
    assert sorted(loader.reads) == sorted(probe + [i for b in batches for i in b])


def test_a_lazy_source_that_does_not_fit_the_model_is_refused_from_its_first_row(runs_root):
    loader = RowReads(1000)
    too_wide = data.LazySource(1000, load_row=lambda i: (np.r_[loader(i)[0], 0.0].astype("float32"), loader.y[i]))
    with pytest.raises(ValueError, match=r"train x has shape \(1, 9\).*takes examples of shape \(8,\)"):
        train(make_mlp, too_wide, TrainConfig(steps=3, batch_size=32), verbose=False)
    assert loader.reads == [0]  # checked on its first example: nothing else was read

    empty = data.LazySource(0, load_row=loader)
    with pytest.raises(ValueError, match="no examples.*empty LazySource"):
        train(make_mlp, empty, TrainConfig(steps=3, batch_size=32), verbose=False)


def test_a_lazy_source_resumes_exactly(runs_root, xor_data):
    x, y = xor_data["train"]
    source = data.LazySource(len(x), load_batch=lambda indices: (x[indices], y[indices]))
    validation = data.LazySource(64, load_row=lambda i: (xor_data["validation"][0][i], xor_data["validation"][1][i]))
    dataset = {"train": source, "validation": validation}
    config = TrainConfig(steps=30, batch_size=32, validate_every=12, checkpoint_every=10, seed=3)
    builder = lambda: make_mlp(dropout=0.2)  # noqa: E731
    reference = train(builder, dataset, config, verbose=False)
    run = interrupted_then_resumed(builder, dataset, config, stop_at=17)
    assert_same_weights(run.model, reference.model)
    # The same batches as the arrays themselves give: one stream of indices for every source.
    in_memory = train(builder, xor_data, config, verbose=False)
    assert_same_weights(in_memory.model, reference.model)


# ---- tf.data --------------------------------------------------------------------------------


def test_tf_data_is_accepted_and_resumed_by_replay_with_a_warning(runs_root, xor_data):
    import tensorflow as tf

    def pipeline():
        x, y = xor_data["train"]
        # Deterministic: the same order every time it is read (a seeded shuffle, not reshuffled per read).
        tf.random.set_seed(0)
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(448, seed=1, reshuffle_each_iteration=False)

    config = TrainConfig(steps=30, batch_size=32, checkpoint_every=10, seed=3)
    reference = train(make_mlp, {"train": pipeline(), "validation": tuple(xor_data["validation"])}, config,
                      verbose=False)
    assert reference.status == "finished" and reference.step == 30
    with pytest.warns(UserWarning, match="cannot be read by index.*deterministic"):
        run = interrupted_then_resumed(make_mlp, {"train": pipeline()}, config, stop_at=20)
    assert_same_weights(run.model, reference.model)  # a deterministic pipeline replays the same batches


# ---- augmentation ---------------------------------------------------------------------------


class FlipFirstFeature(keras.layers.Layer):
    """Negates feature 0 in training, which flips every xor label: what a model learns through it
    is the opposite of the raw data's labels."""

    def call(self, x, training=None):
        return x * keras.ops.convert_to_tensor([-1.0] + [1.0] * 7) if training else x


def test_augmentation_applies_in_training_only_and_is_not_saved(runs_root, xor_data, tmp_path):
    config = TrainConfig(steps=420, batch_size=32, learning_rate=1e-2, validate_every=420)
    run = train(make_mlp, xor_data, config, augment=FlipFirstFeature(), verbose=False)
    assert run.status == "finished", run.message
    x, y = xor_data["validation"]
    # Trained on flipped features: right on flipped examples, wrong on raw ones...
    flip = np.array([-1.0] + [1.0] * 7, "float32")
    flipped_accuracy = np.mean(np.argmax(run.model.predict(x * flip, verbose=0), -1) == y)
    raw_accuracy = np.mean(np.argmax(run.model.predict(x, verbose=0), -1) == y)
    assert flipped_accuracy > 0.8 and raw_accuracy < 0.2
    # ...and validation saw the raw examples, as predict() does: evaluation is not augmented.
    assert run.validation_history[-1]["metrics"]["val_accuracy"] == pytest.approx(raw_accuracy, abs=1e-6)
    # The model saved is the builder's: no augmentation layer in it, same predictions.
    run.model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dense"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), run.model.predict(x, verbose=0), atol=1e-6)


def test_random_augmentation_resumes_exactly(runs_root, xor_data):
    augment = keras.Sequential([keras.layers.GaussianNoise(0.5), keras.layers.GaussianDropout(0.3)])
    config = TrainConfig(steps=40, batch_size=32, validate_every=15, checkpoint_every=10, seed=3)
    reference = train(make_mlp, xor_data, config, augment=augment, verbose=False)
    plain = train(make_mlp, xor_data, config, verbose=False)
    assert not np.allclose(weights(plain.model)[0], weights(reference.model)[0])  # it did change training
    run = interrupted_then_resumed(make_mlp, xor_data, config, stop_at=26, augment=augment)
    assert_same_weights(run.model, reference.model)


def test_a_run_loaded_from_disk_resumes_with_the_augmentation_it_is_given(runs_root, xor_data):
    augment = keras.Sequential([keras.layers.GaussianNoise(0.5), keras.layers.GaussianDropout(0.3)])
    config = TrainConfig(steps=40, batch_size=32, validate_every=15, checkpoint_every=10, seed=3)
    reference = train(make_mlp, xor_data, config, augment=augment, verbose=False)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = train(make_mlp, xor_data, config, augment=augment, callbacks=[kernel_interrupt_at(20)], verbose=False)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert run.status == "interrupted" and run.step == 20, (run.status, run.message)
    loaded = Run.load(run.id, root=run.root)  # as another process reads it: no builder, data or augment
    resume(loaded, make_mlp, xor_data, augment=augment, verbose=False)
    assert loaded.status == "finished", loaded.message
    assert_same_weights(loaded.model, reference.model)


def test_augment_must_be_a_keras_layer(runs_root, xor_data):
    with pytest.raises(ValueError, match=r"train\.augment=.* is not allowed: it must be a Keras layer stack"):
        train(make_mlp, xor_data, TrainConfig(steps=1), augment=lambda x: x, verbose=False)
