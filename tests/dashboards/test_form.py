"""The TrainConfig form: every field round-trips, and errors show next to their field."""

import dataclasses
import html

import pytest

from nbmodels.checks import ConfigError
from nbmodels.config import FIELDS, TrainConfig
from nbmodels.dashboards import ConfigForm
from nbmodels.dashboards.form import FIELD_SPECS, GENERAL, config_from_form, form_values, from_widget_value

# A valid non-default value for every field (with what its combination rules need).
NON_DEFAULT = {
    "epochs": dict(epochs=3),
    "steps": dict(steps=40),
    "batch_size": dict(batch_size=16),
    "optimizer": dict(optimizer="sgd"),
    "learning_rate": dict(learning_rate=0.05),
    "lr_schedule": dict(lr_schedule="cosine"),
    "warmup_steps": dict(warmup_steps=5, lr_schedule="warmup_cosine", steps=40),
    "min_lr_ratio": dict(min_lr_ratio=0.25),
    "weight_decay": dict(weight_decay=0.0),
    "weight_decay_on": dict(weight_decay_on="all"),
    "clip_norm": dict(clip_norm=1.5),
    "grad_accum_steps": dict(grad_accum_steps=2),
    "precision": dict(precision="mixed_bfloat16"),
    "xla": dict(xla="off"),
    "steps_per_execution": dict(steps_per_execution=4),
    "devices": dict(devices=(0, "/cpu:0")),
    "strategy": dict(strategy="mirrored"),
    "seed": dict(seed=7),
    "checkpoint_every": dict(checkpoint_every=10),
    "validate_every": dict(validate_every=20),
    "record_every": dict(record_every=2),
    "keep_checkpoints": dict(keep_checkpoints=3),
}


def test_every_field_has_a_widget_of_its_type():
    assert set(NON_DEFAULT) == set(FIELDS) == {spec.name for spec in FIELD_SPECS}
    form = ConfigForm()
    kinds = {name: type(w).__name__ for name, w in form.widgets.items()}
    assert kinds["batch_size"] == "IntText" and kinds["learning_rate"] == "FloatText"
    assert kinds["optimizer"] == "Dropdown" and list(form.widgets["precision"].options)[0] == "auto"
    assert kinds["steps"] == kinds["clip_norm"] == kinds["devices"] == "Text"


@pytest.mark.parametrize("field", sorted(NON_DEFAULT))
def test_config_to_form_to_config_round_trip(field):
    config = TrainConfig(**NON_DEFAULT[field])
    form = ConfigForm()
    form.set_config(config)
    assert form.errors == {} and form.config == config
    # and typing the same values into a fresh form gives the same config
    typed = ConfigForm()
    for name, value in form_values(config).items():
        typed.widgets[name].value = value
    assert typed.config == config
    assert dataclasses.asdict(typed.config) == dataclasses.asdict(config)


def test_invalid_value_shows_inline_error_and_clears_when_fixed():
    form = ConfigForm(TrainConfig(steps=50))
    form.widgets["batch_size"].value = 0
    assert form.config is None
    assert form.errors == {"batch_size": "batch_size=0 is not allowed: it must be a whole number >= 1."}
    label = form._error_labels["batch_size"].value
    assert "batch_size=0 is not allowed" in label and "Traceback" not in label
    assert all(not lab.value for name, lab in form._error_labels.items() if name != "batch_size")
    form.widgets["batch_size"].value = 8
    assert form.errors == {} and form.config.batch_size == 8 and not form._error_labels["batch_size"].value


def test_text_that_is_not_a_number_is_an_inline_error():
    form = ConfigForm()
    form.widgets["steps"].value = "a lot"
    form.widgets["clip_norm"].value = "x"
    assert set(form.errors) == {"steps", "clip_norm"}
    assert "it must be a whole number, or blank" in form.errors["steps"]
    form.widgets["steps"].value = "1_000"
    form.widgets["clip_norm"].value = ""
    assert form.config == TrainConfig(epochs=1, steps=1000)


def test_invalid_combinations_are_shown_at_the_field_they_name():
    form = ConfigForm()
    form.widgets["warmup_steps"].value = 5  # but lr_schedule is 'constant'
    assert list(form.errors) == ["warmup_steps"]
    assert "only applies to lr_schedule='warmup_cosine'" in html.unescape(form._error_labels["warmup_steps"].value)
    form.widgets["lr_schedule"].value = "warmup_cosine"
    assert form.errors == {} and form.config.warmup_steps == 5
    form.widgets["strategy"].value = "one_device"
    form.widgets["devices"].value = "0, 1"
    assert list(form.errors) == ["devices"] and "names 2 devices" in form.errors["devices"]


def test_several_errors_show_at_once_and_batch_must_split_over_replicas():
    values = {**form_values(TrainConfig()), "batch_size": -1, "seed": -2, "min_lr_ratio": 2.0}
    config, errors = config_from_form(values)
    assert config is None and set(errors) == {"batch_size", "seed", "min_lr_ratio"}
    config, errors = config_from_form(form_values(TrainConfig(batch_size=32)), replicas=3)
    assert config is None and "does not split evenly over 3 replicas" in errors["batch_size"]
    form = ConfigForm(TrainConfig(batch_size=32), replicas=3)
    assert "batch_size" in form.errors
    form.replicas = 2
    assert form.errors == {}
    assert GENERAL == ""


def test_errors_are_placed_by_their_field_not_by_what_the_message_names_first():
    # The message starts with lr_schedule (the reason), but warmup_steps is the field to change:
    # the form reads ConfigError.field instead of parsing the text.
    config, errors = config_from_form({**form_values(TrainConfig()), "warmup_steps": 5})
    assert config is None and list(errors) == ["warmup_steps"]
    assert errors["warmup_steps"].startswith("lr_schedule='constant' has no warmup: warmup_steps=5 only applies")
    # Text a widget cannot turn into a number is a ConfigError for its field too.
    with pytest.raises(ConfigError) as caught:
        from_widget_value(next(spec for spec in FIELD_SPECS if spec.name == "steps"), "a lot")
    assert (caught.value.field, caught.value.value) == ("steps", "a lot")
