"""TextClassifier: shapes, padding, `.keras` round trip, mixed precision, config checks, and
training on key_token until it is right and its attention lands on the key token."""

import doctest

import keras
import numpy as np
import pytest

from nbmodels import TrainConfig, data, train
from nbmodels.models import TextClassifier, TextClassifierConfig
from nbmodels.models.text import classifier as text_classifier_module
from tests.harness import check_model


def tiny(**overrides):
    fields = dict(vocabulary_size=12, sequence_length=8, num_classes=3)
    return TextClassifier(TextClassifierConfig.preset("tiny", **{**fields, **overrides}))


def token_ids(batch=2, length=6, seed=0):
    return np.random.default_rng(seed).integers(1, 12, size=(batch, length)).astype("int32")


@pytest.mark.parametrize("pooling, attended", [("cls", 7), ("mean", 6)])
def test_logits_and_attention_scores_have_documented_shapes(pooling, attended):
    keras.utils.set_random_seed(0)
    model = tiny(pooling=pooling, num_layers=2)
    x = token_ids()
    logits, scores = model(x, return_attention_scores=True)
    assert tuple(logits.shape) == (2, 3) and keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert tuple(scores.shape) == (2, 2, 2, attended, attended)  # (layers, B, heads, S, S)
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(logits), atol=1e-5)
    assert tuple(model(keras.Input((None,), dtype="int32")).shape) == (None, 3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_changes_nothing(pooling):
    keras.utils.set_random_seed(0)
    model = tiny(pooling=pooling)
    x = token_ids(length=5)
    padded = np.concatenate([x, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(np.asarray(model(padded)), np.asarray(model(x)), atol=1e-5)
    scores = np.asarray(model.attention_scores(padded))
    assert np.all(scores[..., -3:] == 0), "a query attended to padding"


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_passes_the_model_checks(pooling):
    # Build, symbolic and eager calls, .keras round trip (same logits), a fit step with and
    # without XLA, and mixed_bfloat16 (finite float32 logits, finite loss): tests/harness.py.
    checked = check_model(
        lambda: tiny(pooling=pooling),
        token_ids(),
        np.array([0, 2], "int32"),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        expected_output_shape=(2, 3),
    )
    assert isinstance(checked.restored, TextClassifier) and checked.restored.config == checked.model.config
    assert checked.mixed_precision_model.blocks[0].compute_dtype == "bfloat16"


def test_presets():
    base = TextClassifierConfig.preset("base", vocabulary_size=30522, sequence_length=512, num_classes=2)
    assert (base.num_layers, base.num_heads, base.hidden_dim, base.intermediate_dim) == (12, 12, 768, 3072)
    assert TextClassifierConfig.preset("small", vocabulary_size=9, sequence_length=4, num_classes=2).num_layers == 4
    with pytest.raises(ValueError, match="TextClassifierConfig.preset got 'large'"):
        TextClassifierConfig.preset("large", vocabulary_size=9, sequence_length=4, num_classes=2)


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("vocabulary_size", 0, "whole number >= 1"),
        ("num_classes", 1, "whole number >= 2"),
        ("num_heads", 3, "must divide hidden_dim=32"),
        ("dropout", -0.1, "in [0, 1)"),
        ("pooling", "max", "choose one of 'cls', 'mean'"),
        ("padding_id", 12, "below vocabulary_size=12"),
    ],
)
def test_config_errors_name_the_field_value_and_what_is_allowed(field, value, allowed):
    fields = dict(vocabulary_size=12, sequence_length=8, num_classes=3, num_heads=2, hidden_dim=32)
    with pytest.raises(ValueError) as error:
        TextClassifierConfig(**{**fields, field: value})
    message = str(error.value)
    assert f"TextClassifierConfig.{field}={value!r} is not allowed" in message and allowed in message


def test_learns_key_token_and_attends_to_the_key(runs_root):
    dataset = data.load("key_token", n=2000, sequence_length=16, vocabulary_size=32, num_classes=4)
    config = TextClassifierConfig.preset(
        "tiny", vocabulary_size=32, sequence_length=16, num_classes=4, padding_id=dataset.extras["padding_id"]
    )

    def text_classifier():
        return TextClassifier(config)

    run = train(text_classifier, dataset, TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3), verbose=False)
    assert run.status == "finished"
    assert run.validation_history[-1]["metrics"]["val_accuracy"] >= 0.95

    x, _ = dataset.validation
    scores = np.asarray(run.model.attention_scores(x))  # (layers, B, heads, T + 1, T + 1)
    from_cls = scores[-1, :, :, 0, 1:].mean(axis=1)  # last layer, CLS query, heads averaged: (B, T)
    hits = np.argmax(from_cls, axis=1) == dataset.ground_truth["validation_key_positions"]
    assert hits.mean() >= 0.8, f"attention found the key token in {hits.mean():.0%} of examples"


def test_docstring_examples():
    result = doctest.testmod(text_classifier_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
