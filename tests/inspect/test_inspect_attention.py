"""inspect.attention: maps of real tiny models, rollout, key attention, and a trained
classifier whose CLS attention finds the key token."""

import dataclasses
import doctest

import numpy as np
import pytest

from nbmodels import TrainConfig, data, train
from nbmodels.data.text.tokenizers import CharTokenizer
from nbmodels.inspect import AttentionMap, attention_maps, attention_rollout, key_attention
from nbmodels.inspect import attention as attention_module
from nbmodels.models import GPT, GPTConfig, TextClassifier, TextClassifierConfig


@pytest.fixture(scope="module")
def gpt():
    return GPT(GPTConfig.preset("tiny"))  # 2 layers, 2 heads, sequence_length 16, vocabulary 64


@pytest.fixture(scope="module")
def classifier():
    config = TextClassifierConfig.preset("tiny", vocabulary_size=32, sequence_length=8, num_classes=3, num_layers=2)
    return TextClassifier(config)


def upper_triangle(matrix):
    return matrix[..., np.triu_indices(matrix.shape[-1], k=1)[0], np.triu_indices(matrix.shape[-1], k=1)[1]]


def test_gpt_map_shape_labels_and_causality(gpt):
    attention = attention_maps(gpt, np.array([[3, 4, 5, 6, 7], [9, 9, 9, 9, 9]]), index=1)
    assert attention.scores.shape == (2, 2, 5, 5) and attention.scores.dtype == np.float32
    assert attention.tokens == ["9"] * 5 and attention.causal
    np.testing.assert_allclose(attention.scores.sum(axis=-1), 1.0, atol=1e-5)
    assert np.all(upper_triangle(attention.scores) == 0)
    assert attention.summary() == "AttentionMap: 2 layers x 2 heads, 5 queries x 5 keys, causal"

    rollout = attention_rollout(attention)
    assert rollout.shape == (5, 5) and rollout.dtype == np.float32
    np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(upper_triangle(rollout) == 0)
    np.testing.assert_allclose(rollout[0], [1, 0, 0, 0, 0])  # the first token can only see itself


def test_index_picks_the_example(gpt):
    batch = np.array([[3, 4, 5], [10, 11, 12]])
    second = attention_maps(gpt, batch, index=1)
    alone = attention_maps(gpt, batch[1])
    np.testing.assert_allclose(second.scores, alone.scores, atol=1e-6)
    assert attention_maps(gpt, batch, index=-1).tokens == ["10", "11", "12"]


def test_string_input_is_encoded_and_labelled_with_the_tokenizer():
    tokenizer = CharTokenizer.from_text("hello world")
    model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size, sequence_length=8))
    attention = attention_maps(model, "hello", tokenizer=tokenizer)
    assert attention.tokens == list("hello") and attention.scores.shape == (2, 2, 5, 5)
    ids = attention_maps(model, tokenizer.encode("hello"), tokenizer=tokenizer)
    np.testing.assert_array_equal(attention.scores, ids.scores)


def test_classifier_with_cls_has_one_more_position_labelled_first(classifier):
    tokens = np.array([4, 5, 6, 7])
    attention = attention_maps(classifier, tokens)
    assert attention.scores.shape == (2, 2, 5, 5)
    assert attention.tokens == ["[CLS]", "4", "5", "6", "7"] and not attention.causal
    assert attention.summary() == "AttentionMap: 2 layers x 2 heads, 5 queries x 5 keys, bidirectional"
    np.testing.assert_allclose(attention.scores.sum(axis=-1), 1.0, atol=1e-5)
    assert np.any(upper_triangle(attention.scores) > 0)  # bidirectional: later keys are seen

    # The scores are the model's, CLS at index 0 and token t at t + 1.
    expected = np.asarray(classifier.attention_scores(tokens[None]))[:, 0]
    np.testing.assert_allclose(attention.scores, expected, atol=1e-6)

    cls_row = key_attention(attention, query=0)
    assert cls_row.shape == (5,)
    np.testing.assert_allclose(cls_row, attention.scores[-1, :, 0].mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(cls_row.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(key_attention(attention, query=2, layer=0), attention.scores[0, :, 2].mean(axis=0))


def test_classifier_with_mean_pooling_has_no_cls():
    config = TextClassifierConfig.preset("tiny", vocabulary_size=32, sequence_length=8, num_classes=3, pooling="mean")
    attention = attention_maps(TextClassifier(config), np.array([4, 5, 6]))
    assert attention.tokens == ["4", "5", "6"] and attention.scores.shape == (1, 2, 3, 3)


def test_padding_gets_no_attention(classifier):
    attention = attention_maps(classifier, np.array([4, 5, 0, 0]))  # padding_id 0
    np.testing.assert_allclose(attention.scores[..., 3:], 0.0, atol=1e-7)
    # Only the padding positions' own residual path reaches them; real tokens never do.
    np.testing.assert_allclose(attention_rollout(attention)[:3, 3:], 0.0, atol=1e-7)


@pytest.mark.parametrize("head_reduction", ["mean", "max"])
@pytest.mark.parametrize("residual", [True, False])
def test_rollout_rows_sum_to_one(classifier, head_reduction, residual):
    attention = attention_maps(classifier, np.array([[4, 5, 6, 7, 8, 9]]))
    rollout = attention_rollout(attention, head_reduction=head_reduction, residual=residual)
    assert rollout.shape == (7, 7)
    np.testing.assert_allclose(rollout.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(rollout >= 0)


def test_rollout_follows_the_paper_on_a_hand_made_map():
    first = np.array([[1.0, 0.0], [0.5, 0.5]])
    second = np.array([[0.0, 1.0], [1.0, 0.0]])
    # Two heads per layer; their mean is `first` / `second`.
    scores = np.stack([np.stack([first, first]), np.stack([second, second])])  # (2 layers, 2 heads, 2, 2)
    attention = AttentionMap(scores=scores, tokens=["a", "b"], causal=False)
    with_residual = [0.5 * (layer + np.eye(2)) for layer in (first, second)]
    np.testing.assert_allclose(attention_rollout(attention), with_residual[1] @ with_residual[0], atol=1e-6)
    np.testing.assert_allclose(attention_rollout(attention, residual=False), second @ first, atol=1e-6)
    # One layer, no residual: the rollout is that layer's head-averaged attention.
    single = dataclasses.replace(attention, scores=scores[:1])
    np.testing.assert_allclose(attention_rollout(single, residual=False), first, atol=1e-6)


def test_attention_map_is_frozen_and_checks_its_shape():
    attention = AttentionMap(scores=np.full((1, 1, 2, 2), 0.5), tokens=["a", "b"], causal=False)
    assert attention.scores.dtype == np.float32
    with pytest.raises(dataclasses.FrozenInstanceError):
        attention.causal = True
    with pytest.raises(ValueError, match="labels"):
        AttentionMap(scores=np.full((1, 1, 2, 2), 0.5), tokens=["a"], causal=False)
    with pytest.raises(ValueError, match="queries == keys"):
        AttentionMap(scores=np.full((1, 2, 2), 0.5), tokens=["a", "b"], causal=False)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda gpt: attention_maps(object(), np.array([1, 2])), "has no attention_scores"),
        (lambda gpt: attention_maps(gpt, np.array([], dtype=np.int32)), "empty"),
        (lambda gpt: attention_maps(gpt, np.zeros((1, 0), dtype=np.int32)), "empty"),
        (lambda gpt: attention_maps(gpt, np.arange(17)), "17 tokens but the model's config.sequence_length is 16"),
        (lambda gpt: attention_maps(gpt, "abc"), "no tokenizer"),
        (lambda gpt: attention_maps(gpt, np.array([1.5, 2.0])), "integer token ids"),
        (lambda gpt: attention_maps(gpt, np.ones((1, 2, 3), dtype=np.int32)), "1-D (T,) or 2-D (B, T)"),
        (lambda gpt: attention_maps(gpt, np.array([[1, 2]]), index=1),
         "attention_maps.index=1 is not allowed: it must be a whole number from -1 to 0 (the batch has 1 example(s)"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_problem(gpt, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(gpt)


def test_bad_arguments_to_rollout_and_key_attention(gpt):
    attention = attention_maps(gpt, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="head_reduction='median' is not allowed"):
        attention_rollout(attention, head_reduction="median")
    with pytest.raises(ValueError, match=r"key_attention\.query=3 is not allowed: .* -3 to 2 \(the map has 3 positions"):
        key_attention(attention, query=3)
    with pytest.raises(ValueError, match=r"key_attention\.layer=2 is not allowed: .* -2 to 1 \(the map has 2 layers"):
        key_attention(attention, layer=2)


def test_trained_classifier_cls_attends_to_the_key_token(runs_root):
    dataset = data.load("key_token", n=2000, sequence_length=16, vocabulary_size=32, num_classes=4)
    config = TextClassifierConfig.preset(
        "tiny", vocabulary_size=32, sequence_length=16, num_classes=4, padding_id=dataset.extras["padding_id"]
    )
    run = train(lambda: TextClassifier(config), dataset, TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3),
                verbose=False)
    assert run.status == "finished"

    x, _ = dataset.validation
    key_positions = dataset.ground_truth["validation_key_positions"]
    hits = []
    for index in range(50):
        attention = attention_maps(run.model, x[:50], index=index)
        assert attention.tokens[0] == "[CLS]"
        hits.append(np.argmax(key_attention(attention, query=0)) == key_positions[index] + 1)  # +1: CLS first
    assert np.mean(hits) >= 0.8, f"the CLS token attended most to the key token in {np.mean(hits):.0%} of examples"


def test_docstring_examples():
    result = doctest.testmod(attention_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
