"""The TrainConfig form's logic: which widget each field gets, widget value <-> field value,
and which field an error belongs to. Pure functions; `training.ConfigForm` is the view.

TrainConfig validates itself and raises a `ConfigError` that carries the field it belongs to
(`.field`; its message reads "TrainConfig.batch_size=0 is not allowed: ..."), so the form never
repeats its rules: it parses what widgets cannot hold directly (optional numbers, device lists),
builds the config, and puts each error next to its field, whatever the message says first.

Example:
>>> from nbmodels.dashboards.form import config_from_form, form_values
>>> from nbmodels import TrainConfig
>>> values = form_values(TrainConfig(steps=100))
>>> values["steps"], values["epochs"], values["devices"]
('100', '', '')
>>> config, errors = config_from_form({**values, "batch_size": 0, "warmup_steps": 5})
>>> config is None, sorted(errors)
(True, ['batch_size', 'warmup_steps'])
>>> errors["batch_size"]
'batch_size=0 is not allowed: it must be a whole number >= 1.'
"""

from __future__ import annotations

import dataclasses

from nbmodels.checks import ConfigError, fail
from nbmodels.config import LR_SCHEDULES, OPTIMIZERS, PRECISIONS, STRATEGIES, WEIGHT_DECAY_ON, XLA_MODES, TrainConfig

# The widget kind for each annotation TrainConfig uses (a new field with a new annotation
# fails the test that every field has a widget, rather than silently missing from the form).
KINDS = {
    "int": "int",  # IntText
    "float": "float",  # FloatText
    "str": "choice",  # Dropdown
    "int | None": "optional_int",  # Text, blank = None
    "float | None": "optional_float",  # Text, blank = None
    "tuple[int | str, ...] | None": "devices",  # Text: "0, 1" or "/cpu:0, /cpu:1", blank = all
}
CHOICES = {"optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "precision": PRECISIONS, "xla": XLA_MODES,
           "strategy": STRATEGIES, "weight_decay_on": WEIGHT_DECAY_ON}
# What a blank optional field means, shown as the text box's placeholder.
BLANK_MEANS = {
    "epochs": "none (steps decide; neither = 1 epoch)",
    "steps": "none (epochs decide)",
    "clip_norm": "none (no clipping)",
    "devices": "all GPUs (or the CPU)",
    "checkpoint_every": "after each validation",
    "validate_every": "after each epoch",
    "steps_per_execution": "auto",
}
GENERAL = ""  # the errors key for a problem no single field owns


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    default: object
    choices: tuple = ()

    @property
    def placeholder(self) -> str:
        return BLANK_MEANS.get(self.name, "none")


def field_specs(cls=TrainConfig) -> tuple[FieldSpec, ...]:
    """One FieldSpec per dataclass field, in declaration order."""
    specs = []
    for field in dataclasses.fields(cls):
        annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        if annotation not in KINDS:
            raise TypeError(f"{cls.__name__}.{field.name}: no form widget for the type {annotation!r}; add it to KINDS.")
        kind = KINDS[annotation]
        choices = CHOICES.get(field.name, ())
        if kind == "choice" and not choices:
            raise TypeError(f"{cls.__name__}.{field.name} is a str field without choices; add them to CHOICES.")
        specs.append(FieldSpec(field.name, kind, field.default, tuple(choices)))
    return tuple(specs)


FIELD_SPECS = field_specs()


def to_widget_value(spec: FieldSpec, value):
    """A config value as its widget holds it: numbers and choices as they are, optional
    values and device lists as text ('' for None)."""
    if spec.kind in ("int", "float", "choice"):
        return value
    if value is None:
        return ""
    if spec.kind == "devices":
        return ", ".join(str(device) for device in value)
    return repr(value) if spec.kind == "optional_float" else str(value)


def from_widget_value(spec: FieldSpec, raw):
    """A widget value as the config field's value; text that is not a number raises a
    ConfigError for the field, as TrainConfig's own checks do."""
    if spec.kind not in ("optional_int", "optional_float", "devices"):
        return raw
    text = str(raw).strip()
    if not text:
        return None
    if spec.kind == "devices":
        return tuple(int(part) if part.isdigit() else part for part in (p.strip() for p in text.split(",")) if part)
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        number = None
    if spec.kind == "optional_int":
        if number is None or not number.is_integer():
            fail(TrainConfig, spec.name, text, f"it must be a whole number, or blank for {spec.placeholder}")
        return int(number)
    if number is None:
        fail(TrainConfig, spec.name, text, f"it must be a number, or blank for {spec.placeholder}")
    return number


def form_values(config: TrainConfig) -> dict:
    """Every field's widget value for this config."""
    return {spec.name: to_widget_value(spec, getattr(config, spec.name)) for spec in FIELD_SPECS}


def error_text(error: ValueError) -> str:
    """The message as shown next to its field (the 'TrainConfig.' prefix is redundant there)."""
    message = str(error)
    return message.replace(f"{error.owner}.", "", 1) if isinstance(error, ConfigError) else message


def config_from_form(values: dict, replicas: int = 1) -> tuple[TrainConfig | None, dict[str, str]]:
    """The config the widget values describe, or None and every error found, by field.

    Fields that do not parse are reported first; then the config is built, and each error
    TrainConfig raises is filed under its `.field` and that field is set back to its default
    to look for more, so several bad fields show at once. A combination (e.g. warmup_steps
    without lr_schedule='warmup_cosine') is filed under the field TrainConfig says to change.
    `replicas` adds the check that the global batch splits over the devices.
    """
    errors: dict[str, str] = {}
    fields = {}
    for spec in FIELD_SPECS:
        try:
            fields[spec.name] = from_widget_value(spec, values.get(spec.name, to_widget_value(spec, spec.default)))
        except ValueError as error:
            errors[spec.name] = error_text(error)
    config = None
    for _ in range(len(FIELD_SPECS) + 1):
        try:
            config = TrainConfig(**fields)
            break
        except (ValueError, TypeError) as error:
            name = error.field if isinstance(error, ConfigError) else None
            if name not in fields:  # no field, or one already set back to its default
                errors[GENERAL] = error_text(error)
                break
            errors[name] = error_text(error)
            del fields[name]  # back to its default, to find the next problem
    if config is not None and not errors:
        try:
            config.per_replica_batch_size(replicas)
        except ConfigError as error:
            errors[error.field] = error_text(error)
    return (None if errors else config), errors
