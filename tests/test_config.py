"""TrainConfig: validation that names the field, JSON round trips, derived values."""

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbmodels.config import FIELDS, TrainConfig

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["adamw", "sgd", "cosine", "warmup_cosine", "auto", "on", "mixed_bfloat16", "mirrored", "/cpu:0",
                     "matrices", "all"]),
    st.lists(st.one_of(st.integers(-2, 4), st.text(max_size=6), st.sampled_from(["/cpu:0", "/gpu:1"])), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), anything, min_size=1, max_size=5))
def test_random_values_only_ever_raise_value_error_naming_a_field(values):
    try:
        config = TrainConfig(**values)
    except ValueError as error:
        message = str(error)
        assert any(re.search(rf"\b{name}\b", message) for name in values), message
        return
    # Whatever was accepted survives JSON.
    assert TrainConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("optimizer", "adagrad", "'adamw', 'adam', 'sgd'"),
        ("learning_rate", 0.0, "> 0"),
        ("learning_rate", float("nan"), "finite"),
        ("batch_size", 0, ">= 1"),
        ("batch_size", 12.5, "whole number"),
        ("precision", "fp16", "'mixed_float16'"),
        ("xla", True, "'auto', 'on', 'off'"),
        ("strategy", "horovod", "'mirrored'"),
        ("devices", ("gpu0",), "GPU indices"),
        ("devices", (0, 0), "twice"),
        ("min_lr_ratio", 2.0, "<= 1"),
        ("epochs", -1, ">= 1"),
        ("weight_decay_on", "biases", "'matrices', 'all'"),
    ],
)
def test_bad_value_message_names_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError) as caught:
        TrainConfig(**{field: value})
    message = str(caught.value)
    assert field in message and allowed in message
    assert repr(value) in message or repr(value[0]) in message


def test_combinations_are_checked():
    with pytest.raises(ValueError, match="warmup_steps=50 must be smaller than steps=50"):
        TrainConfig(steps=50, lr_schedule="warmup_cosine", warmup_steps=50)
    with pytest.raises(ValueError, match="only applies to lr_schedule='warmup_cosine'"):
        TrainConfig(warmup_steps=10)
    with pytest.raises(ValueError, match="one_device"):
        TrainConfig(strategy="one_device", devices=(0, 1))


def test_defaults_json_round_trip_and_derived_values():
    config = TrainConfig()
    assert config.epochs == 1 and config.steps is None
    full = TrainConfig(steps=100, epochs=3, devices=["/cpu:0", 1], clip_norm=1, seed=5)
    assert full.devices == ("/cpu:0", 1) and full.clip_norm == 1.0
    assert TrainConfig.from_json(full.to_json()) == full
    assert full.total_steps(steps_per_epoch=20) == 60  # epochs end first
    assert full.total_steps(steps_per_epoch=50) == 100  # steps end first
    assert TrainConfig(batch_size=64).per_replica_batch_size(4) == 16
    with pytest.raises(ValueError, match="batch_size=30 does not split evenly over 4 replicas"):
        TrainConfig(batch_size=30).per_replica_batch_size(4)
    with pytest.raises(ValueError, match="no field 'lr'"):
        TrainConfig.from_dict({"lr": 0.1})
    assert full.replace(seed=6).seed == 6
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.seed = 1


def test_weight_decay_on_defaults_to_matrices_like_nanogpt_and_round_trips():
    assert TrainConfig().weight_decay_on == "matrices"
    every = TrainConfig(weight_decay_on="all")
    assert TrainConfig.from_json(every.to_json()) == every
    # A config.json written before the field existed still loads (with today's default).
    old = {k: v for k, v in every.to_dict().items() if k != "weight_decay_on"}
    assert TrainConfig.from_dict(old).weight_decay_on == "matrices"


@pytest.mark.parametrize(
    "text, shown",
    [("garbage", "'garbage', which is not JSON"), ("[1, 2]", "a JSON array"), ('"steps"', "a JSON string"),
     ("null", "a JSON null"), ("3", "a JSON number"), (None, "None, which is not JSON")],
)
def test_from_json_of_anything_but_an_object_is_one_value_error(text, shown):
    with pytest.raises(ValueError) as caught:
        TrainConfig.from_json(text)
    message = str(caught.value)
    assert "expects a JSON object of TrainConfig fields" in message and shown in message
    assert '{"steps": 200' in message  # an example of what to pass


def test_from_dict_of_a_non_dict_is_a_value_error():
    with pytest.raises(ValueError, match=r"from_dict expects a dict of TrainConfig fields.*got \[1, 2\] \(list\)"):
        TrainConfig.from_dict([1, 2])
