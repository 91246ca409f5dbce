"""The one validation kit: every family of call sites raises the same ConfigError, carrying
the owner, field and value, in the one dialect "{owner}.{field}={value!r} is not allowed: ..."."""

import doctest
import pickle

import numpy as np
import pytest

from nbmodels import TrainConfig, checks, data
from nbmodels.checks import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    check_rate,
)
from nbmodels.dashboards import Chart, use_charts
from nbmodels.dashboards._series import RunSeries
from nbmodels.data.text.subword import BPETokenizer
from nbmodels.data.text.tokenizers import CharTokenizer
from nbmodels.generation import Beam, TopP, get_sampler
from nbmodels.inspect import AttentionMap, attention_maps, key_attention
from nbmodels.layers import MultiHeadSelfAttention, TokenAndPositionEmbedding, TransformerBlock
from nbmodels.models import GPTConfig, mlp
from nbmodels.runs import rundir
from nbmodels.training import distribute, train


def test_the_kits_docstring_examples_run():
    result = doctest.testmod(checks, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def _caught(make) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        make()
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError still do
    return caught.value


@pytest.mark.parametrize(
    "family, make, owner, field, value",
    [
        ("config", lambda: TrainConfig(batch_size=0), "TrainConfig", "batch_size", 0),
        ("config", lambda: TrainConfig(optimizer="adagrad"), "TrainConfig", "optimizer", "adagrad"),
        ("config", lambda: GPTConfig(vocabulary_size=8, sequence_length=8, num_heads=5, hidden_dim=32),
         "GPTConfig", "num_heads", 5),
        ("layer", lambda: MultiHeadSelfAttention(num_heads=0, hidden_dim=8), "MultiHeadSelfAttention", "num_heads", 0),
        ("layer", lambda: TransformerBlock(hidden_dim=8, num_heads=2, intermediate_dim=16, dropout=1.5),
         "TransformerBlock", "dropout", 1.5),
        ("layer", lambda: TokenAndPositionEmbedding(vocabulary_size=8, sequence_length=4, hidden_dim=2.5),
         "TokenAndPositionEmbedding", "hidden_dim", 2.5),
        ("dataset option", lambda: data.load("digits", validation_split=1.5), "load('digits')", "validation_split", 1.5),
        ("dataset option", lambda: data.load("blobs", spread=0.0), "load('blobs')", "spread", 0.0),
        ("sampler", lambda: Beam(num_beams=0), "Beam", "num_beams", 0),
        ("sampler", lambda: TopP(top_p=1.5), "TopP", "top_p", 1.5),
    ],
)
def test_every_family_raises_a_config_error_carrying_owner_field_and_value(family, make, owner, field, value):
    error = _caught(make)
    assert (error.owner, error.field, error.value) == (owner, field, value), family
    assert str(error) == f"{owner}.{field}={value!r} is not allowed: {error.allowed}."
    assert error.allowed and not error.allowed.endswith(".")


def test_a_combination_error_is_filed_under_the_field_to_change_whatever_its_message_names_first():
    error = _caught(lambda: TrainConfig(warmup_steps=5))  # warmup without the warmup schedule
    assert error.field == "warmup_steps" and error.value == 5
    assert str(error).startswith("TrainConfig.lr_schedule='constant'")
    assert _caught(lambda: TrainConfig(batch_size=30).per_replica_batch_size(4)).field == "batch_size"
    assert _caught(lambda: TrainConfig(strategy="one_device", devices=(0, 1))).field == "devices"


def test_a_dataset_split_that_leaves_an_empty_part_names_the_loader():
    error = _caught(lambda: data.load("blobs", n=4, validation_split=0.1))
    assert (error.owner, error.field) == ("load('blobs')", "validation_split")
    assert "empty validation set" in str(error)


def test_int_refuses_bools_and_floats_and_normalises_numpy_integers():
    assert check_int("f", "n", np.int64(3), minimum=1) == 3 and type(check_int("f", "n", np.int64(3))) is int
    for bad in (True, 2.0, 2.5, "2", None):
        assert _caught(lambda: check_int("f", "n", bad)).value is bad
    assert check_int("f", "n", 2.0, whole_floats=True) == 2  # a config from JSON or a form
    error = _caught(lambda: check_int("f", "n", 11, minimum=1, maximum=10, why="ten fingers", fix="Count again"))
    assert str(error) == "f.n=11 is not allowed: it must be a whole number from 1 to 10 (ten fingers). Count again."
    assert "from 0 to 2,147,483,647" in str(_caught(lambda: TrainConfig(seed=-1)))


def test_float_rate_fraction_and_bool():
    assert check_float("f", "x", 1, low=0.0) == 1.0 and type(check_float("f", "x", 1)) is float
    assert str(_caught(lambda: check_float("f", "x", 0.0, low=0.0, low_open=True, high=1.0))) == (
        "f.x=0.0 is not allowed: it must be a finite number > 0 and <= 1."
    )
    for bad in (float("nan"), float("inf"), True, "1"):
        _caught(lambda: check_float("f", "x", bad))
    assert check_rate("f", "dropout", 0) == 0.0
    assert "in [0, 1)" in str(_caught(lambda: check_rate("f", "dropout", 1.0)))
    assert check_fraction("f", "split", 0.2) == 0.2
    for bad in (0, 1.0, float("nan")):
        assert "in (0, 1)" in str(_caught(lambda: check_fraction("f", "split", bad)))
    assert check_bool("f", "flag", np.bool_(True)) is True
    assert "True or False" in str(_caught(lambda: check_bool("f", "flag", "yes")))


def test_choice_lists_the_choices_and_suggests_the_closest():
    assert check_choice("f", "mode", "on", ("auto", "on", "off")) == "on"
    error = _caught(lambda: check_choice("f", "mode", "of", ("auto", "on", "off")))
    assert str(error) == "f.mode='of' is not allowed: choose one of 'auto', 'on', 'off' (did you mean 'off'?)."
    assert "did you mean" not in str(_caught(lambda: check_choice("f", "mode", 3, ("auto", "on"))))


def test_owner_may_be_an_object_or_a_class_and_errors_pickle():
    class Layer:
        pass

    assert _caught(lambda: check_rate(Layer(), "dropout", 2)).owner == "Layer"
    assert _caught(lambda: check_rate(Layer, "dropout", 2)).owner == "Layer"
    error = _caught(lambda: TrainConfig(warmup_steps=5))
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.owner, copy.field, copy.value) == (
        ConfigError, str(error), error.owner, error.field, error.value
    )


def _two_positions() -> AttentionMap:
    return AttentionMap(scores=np.full((1, 1, 2, 2), 0.5), tokens=["a", "b"], causal=False)


class _HasScores:
    def attention_scores(self, token_ids):
        raise AssertionError("the tokenizer is checked first")


# Argument checks outside the config dataclasses: one case (or more) for each family of call site.
# Each error starts with its owner and names its field; most read exactly as the dialect says.
@pytest.mark.parametrize(
    "family, make, owner, field",
    [
        ("sources", lambda: data.LazySource(5, load_row=print, threads=0), "LazySource", "threads"),
        ("sources", lambda: data.LazySource(-1, load_row=print), "LazySource", "length"),
        ("sources", lambda: data.LazySource(5), "LazySource", "load_row"),  # neither loader
        ("sources", lambda: data.TFDataSource([1, 2]), "TFDataSource", "dataset"),
        ("tokenizers", lambda: CharTokenizer(["a"], unknown="skip"), "CharTokenizer", "unknown"),
        ("tokenizers", lambda: CharTokenizer(["a", "bc"]), "CharTokenizer", "vocabulary"),
        ("tokenizers", lambda: CharTokenizer(["a"]).encode_batch(["a"], pad_to=-1),
         "CharTokenizer.encode_batch", "pad_to"),
        ("tokenizers", lambda: CharTokenizer(["a"]).encode(["a"]), "CharTokenizer.encode", "text"),
        ("tokenizers", lambda: BPETokenizer.train("some text", vocabulary_size=100), "BPETokenizer.train",
         "vocabulary_size"),
        ("fetch", lambda: data.fetch("ftp://example.com/a.txt"), "fetch", "url"),
        ("fetch", lambda: data.fetch("http://example.com/a.txt", timeout=0), "fetch", "timeout"),
        ("registry", lambda: data.load("digts"), "load", "name"),
        ("registry", lambda: data.load("digits", seeed=1), "load('digits')", "option"),
        ("registry", lambda: data.load("text_file"), "load('text_file')", "path"),  # missing
        ("registry", lambda: data.register(" spaced ", description="d", task="regression", source="generated"),
         "register", "name"),
        ("smoothing/charts", lambda: RunSeries(smoothing=1.0), "RunSeries", "smoothing"),
        ("smoothing/charts", lambda: use_charts("fancy"), "use_charts", "mode"),
        ("smoothing/charts", lambda: Chart({}, mode="fancy"), "Chart", "mode"),
        ("augment", lambda: train(print, None, augment="flip"), "train", "augment"),
        ("train", lambda: train(print, None, callbacks=[print]), "train", "callbacks"),
        ("train", lambda: train("make_model", None), "train", "builder"),
        ("train", lambda: train(print, None, config={"steps": 1}), "train", "config"),
        ("train", lambda: distribute.resolve(TrainConfig(devices=(7,))), "TrainConfig", "devices"),
        ("mlp", lambda: mlp((4,), 2, hidden=(8, 0)), "mlp", "hidden"),
        ("mlp", lambda: mlp((4,), 0), "mlp", "num_classes"),
        ("get_sampler", lambda: get_sampler("nucleus"), "get_sampler", "sampler"),
        ("get_sampler", lambda: get_sampler("greedy", temperature=0.5), "get_sampler", "temperature"),
        ("attention inspect", lambda: key_attention(_two_positions(), query=2), "key_attention", "query"),
        ("attention inspect", lambda: attention_maps(object(), np.array([1, 2])), "attention_maps", "model"),
        ("attention inspect", lambda: attention_maps(object.__new__(_HasScores), "ab"), "attention_maps",
         "tokenizer"),
        ("run id", lambda: rundir.run_dir("../elsewhere"), "Run", "run_id"),
    ],
)
def test_argument_checks_raise_a_config_error_naming_owner_and_field(family, make, owner, field):
    error = _caught(make)
    assert (error.owner, error.field) == (owner, field), family
    assert str(error).startswith(owner) and field in str(error)


def test_a_run_id_error_still_says_it_is_not_a_run_id():  # the CLI and the server show this text
    error = _caught(lambda: rundir.check_run_id("a/b"))
    assert str(error).startswith("Run.run_id='a/b' is not allowed: it is not a run id;")


def test_a_long_text_is_abbreviated_in_the_message_and_kept_whole_in_the_error():
    corpus = "to be or not to be " * 10_000
    error = _caught(lambda: CharTokenizer.from_text("tobern ").encode_batch(corpus))
    assert (error.owner, error.field, error.value) == ("CharTokenizer.encode_batch", "texts", corpus)
    assert len(str(error)) < 200 and "use encode for one string" in str(error)
