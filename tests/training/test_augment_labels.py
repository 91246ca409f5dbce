"""Label-mixing augmentation (MixUp, CutMix): the train step one-hots the labels, the mixed soft
labels reach the loss, validation keeps taking integer labels, and runs resume exactly."""

import signal

import keras
import numpy as np
import pytest

from nbmodels import Run, TrainConfig, data, resume, train
from nbmodels.training import augment as augment_module
from tests.conftest import kernel_interrupt_at


def small_convnet():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10)])


@pytest.fixture(scope="module")
def digit_images():
    return data.load("digits", flatten=False)


def weights(model):
    return [np.array(v.numpy()) for v in model.variables]


def test_mixes_labels_finds_mixup_and_cutmix_in_nested_stacks():
    assert augment_module.mixes_labels(keras.Sequential([keras.layers.RandomFlip(),
                                                         keras.Sequential([keras.layers.CutMix()])]))
    assert augment_module.mixes_labels(keras.layers.MixUp())
    assert not augment_module.mixes_labels(keras.Sequential([keras.layers.RandomFlip()]))
    assert not augment_module.mixes_labels(None)


def test_mixup_trains_on_soft_labels_and_validates_on_integer_labels(runs_root, digit_images):
    config = TrainConfig(steps=30, batch_size=32, validate_every=30, seed=1)
    stack = keras.Sequential([keras.layers.MixUp(alpha=0.4)])
    run = train(small_convnet, digit_images, config, augment=stack, verbose=False)
    assert run.status == "finished", run.message
    plain = train(small_convnet, digit_images, config, verbose=False)
    assert not np.allclose(weights(run.model)[0], weights(plain.model)[0])  # the labels were mixed
    # The loss was the categorical one, on soft labels; metrics and validation still report accuracy.
    assert isinstance(run.model.loss, keras.losses.CategoricalCrossentropy)
    assert "val_accuracy" in run.validation_history[-1]["metrics"]
    x, y = digit_images.validation
    loss, accuracy = run.model.evaluate(x, y, verbose=0)  # integer labels, as before
    predicted = np.argmax(run.model.predict(x, verbose=0), -1)  # predict untouched
    assert accuracy == pytest.approx(np.mean(predicted == y), abs=1e-6)
    assert run.validation_history[-1]["metrics"]["val_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_cutmix_run_resumes_exactly_from_disk(runs_root, digit_images):
    stack = keras.Sequential([keras.layers.RandomTranslation(0.1, 0.1), keras.layers.CutMix()])
    config = TrainConfig(steps=24, batch_size=32, validate_every=10, checkpoint_every=5, seed=3)
    reference = train(small_convnet, digit_images, config, augment=stack, verbose=False)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = train(small_convnet, digit_images, config, augment=stack, callbacks=[kernel_interrupt_at(13)],
                    verbose=False)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert run.status == "interrupted" and run.step == 13, (run.status, run.message)
    loaded = Run.load(run.id, root=run.root)
    resume(loaded, small_convnet, digit_images, augment=stack, verbose=False)
    assert loaded.status == "finished", loaded.message
    for got, want in zip(weights(loaded.model), weights(reference.model), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("loss, message", [
    ("categorical_crossentropy", r"mixes labels \(MixUp or CutMix\), which needs integer class labels; the data has "
                                 r"labels of dtype float32"),
    ("mse", r"mixing labels needs a \(sparse\) categorical cross-entropy loss, not 'mse'"),
])
def test_label_mixing_without_class_labels_is_a_clear_error(runs_root, loss, message):
    rng = np.random.default_rng(0)
    soft_targets = data.Dataset(task="regression", train=(rng.random((64, 8, 8, 1), dtype="float32"),
                                                          rng.random((64, 10), dtype="float32")))
    with pytest.raises(ValueError, match=message):
        train(small_convnet, soft_targets, TrainConfig(steps=2, batch_size=32), loss=loss,
              augment=keras.layers.MixUp(), verbose=False)


def test_compile_arguments_are_categorical_for_a_label_mixing_stack():
    # What a recompile (fine-tuning's phase switch) uses, so the soft labels keep their loss.
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    mixing = augment_module.compile_arguments(keras.Sequential([keras.layers.CutMix()]), loss=sparse,
                                              metrics=["accuracy", "sparse_categorical_accuracy"], jit_compile=False)
    assert isinstance(mixing["loss"], keras.losses.CategoricalCrossentropy)
    assert mixing["loss"].get_config()["from_logits"] is True
    assert mixing["metrics"] == ["accuracy", "categorical_accuracy"] and mixing["jit_compile"] is False
    plain = augment_module.compile_arguments(keras.layers.RandomFlip(), loss=sparse, metrics=["accuracy"])
    assert plain == {"loss": sparse, "metrics": ["accuracy"]}


def test_label_mixing_survives_the_fine_tuning_recompile(runs_root, digit_images):
    from nbmodels import recipes

    run = recipes.get_recipe("transfer").train(
        "tiny", config=TrainConfig(steps=4, batch_size=16), data=digit_images, augmentation="mixup",
        fine_tune={"after_steps": 1, "unfreeze": 10, "learning_rate": 1e-3}, verbose=False)
    assert run.status == "finished", run.message
    assert isinstance(run.model.loss, keras.losses.CategoricalCrossentropy)
