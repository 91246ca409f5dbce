"""GPT: shapes, causality, attention scores, `.keras` round trip, mixed precision, sizes, config checks."""

import doctest
import os

import keras
import numpy as np
import pytest

from nbmodels.models import GPT, GPTConfig
from nbmodels.models.text import gpt
from tests.harness import check_model

VOCABULARY = 11


def tiny(**overrides):
    return GPT(GPTConfig.preset("tiny", vocabulary_size=VOCABULARY, sequence_length=8, **overrides))


def token_ids(batch=2, length=8, seed=0):
    return np.random.default_rng(seed).integers(0, VOCABULARY, size=(batch, length)).astype("int32")


def test_logits_and_attention_scores_have_documented_shapes():
    keras.utils.set_random_seed(0)
    model = tiny()
    x = token_ids(length=5)
    logits, scores = model(x, return_attention_scores=True)
    assert tuple(logits.shape) == (2, 5, VOCABULARY) and keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert tuple(scores.shape) == (2, 2, 2, 5, 5)  # (layers, B, heads, T, T)
    scores = np.asarray(scores)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(scores, k=1) == 0), "a query attended to a later token"
    # The fused path (no scores) computes the same logits.
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(logits), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(model.attention_scores(x)), scores)
    symbolic = model(keras.Input((None,), dtype="int32"))
    assert tuple(symbolic.shape) == (None, None, VOCABULARY)


def test_future_tokens_never_change_past_logits():
    keras.utils.set_random_seed(0)
    model = tiny()
    x = token_ids(length=8)
    changed = x.copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % VOCABULARY
    before, after = np.asarray(model(x)), np.asarray(model(changed))
    np.testing.assert_allclose(after[:, :5], before[:, :5], atol=1e-6)
    assert not np.allclose(after[:, 5:], before[:, 5:]), "later logits should see the changed tokens"


@pytest.mark.parametrize("tie_weights", [True, False])
def test_passes_the_model_checks(tie_weights):
    # Build, symbolic and eager calls, .keras round trip (same logits), a fit step with and
    # without XLA, and mixed_bfloat16 (finite float32 logits, finite loss): tests/harness.py.
    sequence = token_ids(length=9)  # next-token targets: each position predicts the next id
    checked = check_model(
        lambda: tiny(tie_weights=tie_weights),
        sequence[:, :-1],
        sequence[:, 1:],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        expected_output_shape=(2, 8, VOCABULARY),
    )
    assert isinstance(checked.restored, GPT) and checked.restored.config == checked.model.config
    mixed = checked.mixed_precision_model
    assert mixed.blocks[0].compute_dtype == "bfloat16"
    logits, scores = mixed(token_ids(), return_attention_scores=True)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(logits))) and np.all(np.isfinite(np.asarray(scores)))


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizer_travels_inside_the_keras_file(tmp_path, kind):
    from nbmodels.data import CharTokenizer
    from nbmodels.data.text.subword import BPETokenizer

    text = "the cat sat on the mat; the dog sat on the log. " * 20
    tokenizer = CharTokenizer.from_text(text) if kind == "char" else BPETokenizer.train(text, vocabulary_size=280)
    keras.utils.set_random_seed(0)
    model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
    path = os.path.join(tmp_path, "gpt.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.tokenizer == tokenizer
    before = model.generate("the cat", max_new_tokens=6, jit_compile=False)
    after = restored.generate("the cat", max_new_tokens=6, jit_compile=False)
    assert after.text == before.text and len(after.token_ids[0]) == 6


def test_tokenizer_must_match_the_vocabulary():
    from nbmodels.data import CharTokenizer

    with pytest.raises(ValueError, match="The tokenizer has 3 tokens but this GPT's vocabulary_size is 11"):
        tiny().tokenizer = CharTokenizer.from_text("abc")


def test_untied_head_adds_one_vocabulary_matrix():
    difference = tiny(tie_weights=False).count_params() - tiny().count_params()
    assert difference == VOCABULARY * 32


@pytest.mark.filterwarnings("ignore:Layer .* does not have a `quantize` method")
def test_tied_output_projection_survives_int8_quantization():
    # The tied projection goes through the embedding layer itself, which reads the quantized
    # table with its scale; reading the raw `.embeddings` gave logits thousands of times too large.
    keras.utils.set_random_seed(0)
    model = tiny()
    x = token_ids(length=6)
    before = np.asarray(model(x))
    model.quantize("int8")
    after = np.asarray(model(x))
    assert after.dtype == np.float32
    assert np.abs(after - before).max() < 0.1 * np.abs(before).max()


def test_learns_to_predict_a_repeated_sequence():
    keras.utils.set_random_seed(0)
    model = tiny()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    sequence = np.tile(np.arange(1, 10, dtype="int32"), (32, 1))  # next token = this one + 1
    before = model.evaluate(sequence[:, :-1], sequence[:, 1:], verbose=0)
    repeated = np.repeat(sequence, 30, axis=0)  # 30 steps in one epoch
    model.fit(repeated[:, :-1], repeated[:, 1:], batch_size=32, verbose=0)
    after = model.evaluate(sequence[:, :-1], sequence[:, 1:], verbose=0)
    assert np.isfinite(after) and after < before / 4, (before, after)


def test_gpt2_size_has_gpt2_small_parameter_count():
    config = GPTConfig.preset("gpt2")
    assert (config.num_layers, config.num_heads, config.hidden_dim, config.intermediate_dim) == (12, 12, 768, 3072)
    # nanoGPT's count for GPT-2 small with tied embeddings, position embeddings included.
    assert GPT(config).count_params() == config.parameter_count() == 124_439_808
    untied = GPTConfig.preset("gpt2", tie_weights=False)
    assert untied.parameter_count() == 124_439_808 + 50257 * 768


def test_presets_and_overrides():
    assert GPTConfig.preset("baby").num_layers == 4 and GPTConfig.preset("baby").hidden_dim == 128
    assert GPTConfig.preset("shakespeare_char").hidden_dim == 384
    config = GPTConfig.preset("tiny", vocabulary_size=65, dropout=0.1)
    assert (config.vocabulary_size, config.dropout, config.intermediate_dim) == (65, 0.1, 128)
    with pytest.raises(ValueError, match="GPTConfig.preset got 'huge': choose one of 'tiny'"):
        GPTConfig.preset("huge")
    # The config round-trips through the model's JSON config.
    assert GPT.from_config(tiny().get_config()).config == tiny().config


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("vocabulary_size", 0, "whole number >= 1"),
        ("sequence_length", 2.5, "whole number >= 1"),
        ("num_layers", True, "whole number >= 1"),
        ("num_heads", 5, "must divide hidden_dim=32"),
        ("intermediate_dim", -1, "whole number >= 1"),
        ("dropout", 1.0, "in [0, 1)"),
        ("tie_weights", "yes", "True or False"),
        ("layer_norm_epsilon", 0, "> 0"),
    ],
)
def test_config_errors_name_the_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError) as error:
        GPTConfig(**{**GPTConfig.preset("tiny").to_dict(), field: value})
    message = str(error.value)
    assert f"GPTConfig.{field}={value!r} is not allowed" in message and allowed in message


def test_docstring_examples():
    result = doctest.testmod(gpt, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
