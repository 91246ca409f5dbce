"""Fine-tuning as a second phase of one run: keras.io's transfer-learning recipe, resumable.

`train(builder, data, config, fine_tune=FineTune(after_epochs=5, unfreeze=20))` trains the model
as built (a frozen backbone, a new head) until the switch step, then calls the model's
`unfreeze(top)`, compiles it again with a new optimizer at the fine-tuning learning rate (Keras
optimizers refuse variables they were not built with) and trains on, in the same run:

- **One step counter.** The new optimizer continues the old one's iteration count, which the
  data stream, the augmentation seeds and checkpoints all read.
- **Constant fine-tuning rate.** The second phase trains at `learning_rate`, whatever schedule
  the first phase used (keras.io uses Adam at 1e-5); the optimizer kind, clipping and gradient
  accumulation stay the TrainConfig's.
- **Recorded.** The FineTune is kept in the run's config.json, so `resume(run, builder, data)`
  from another process knows it; the switch is a "fine_tune" event in the run's history.
- **Exact resume.** A run resumed after the switch is built, unfrozen and compiled for the
  second phase before its checkpoint is restored; one resumed before it (or at it) switches when
  it gets there. Either way it ends with the weights and per-step losses of an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import math

from nbmodels.checks import Fields, fail


@dataclasses.dataclass(frozen=True)
class FineTune:
    """When to unfreeze the model, how much of it, and the learning rate after.

    Args:
        after_epochs: switch after this many epochs of the first phase; or
        after_steps: switch after this many steps (give exactly one of the two).
        unfreeze: how many top layers of the backbone to make trainable (BatchNorm layers stay
            frozen); None unfreezes all of it. Passed to the model's `unfreeze(top)`.
        learning_rate: the constant learning rate of the second phase.

    Example:
    >>> from nbmodels.training import FineTune
    >>> fine_tune = FineTune(after_epochs=2, unfreeze=20)
    >>> fine_tune.switch_step(steps_per_epoch=50), fine_tune.learning_rate
    (100, 1e-05)
    >>> FineTune.from_dict(fine_tune.to_dict()) == fine_tune
    True
    >>> FineTune(after_epochs=2, after_steps=100)
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: FineTune.after_steps=100 is not allowed: give after_epochs or after_steps, not both.
    """

    after_epochs: float | None = None
    after_steps: int | None = None
    unfreeze: int | None = 20
    learning_rate: float = 1e-5

    def __post_init__(self):
        fields = Fields(self)
        if self.after_epochs is None and self.after_steps is None:
            fields.fail("after_epochs", "give when to unfreeze: after_epochs=5 or after_steps=500")
        if self.after_epochs is not None and self.after_steps is not None:
            fields.fail("after_steps", "give after_epochs or after_steps, not both")
        fields.float("after_epochs", low=0, low_open=True, optional=True)
        fields.int("after_steps", minimum=1, optional=True)
        fields.int("unfreeze", minimum=1, optional=True)
        fields.float("learning_rate", low=0, low_open=True)

    def switch_step(self, steps_per_epoch: int) -> int:
        """The step at which the second phase starts (at least 1)."""
        if self.after_steps is not None:
            return self.after_steps
        return max(1, math.ceil(self.after_epochs * steps_per_epoch))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FineTune:
        """A FineTune from `to_dict()`'s JSON (a run's config.json, a recipe's options)."""
        if not isinstance(values, dict):
            fail("FineTune", "from_dict", values, "it takes a dict such as {'after_epochs': 5, 'unfreeze': 20}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            fail("FineTune", unknown[0], values[unknown[0]], f"it is not a FineTune field; known: {', '.join(known)}")
        return cls(**values)


def check_fine_tune(owner: str, fine_tune) -> FineTune | None:
    """`fine_tune` (a FineTune, its dict, or None) as a FineTune or None; anything else is a ConfigError."""
    if fine_tune is None or isinstance(fine_tune, FineTune):
        return fine_tune
    if isinstance(fine_tune, dict):
        return FineTune.from_dict(fine_tune)
    fail(owner, "fine_tune", fine_tune, "it must be a FineTune, e.g. FineTune(after_epochs=5, unfreeze=20), or None")


def check_model_unfreezes(model, fine_tune: FineTune) -> None:
    """A model fine-tuning will call `unfreeze(top)` on must have one: say so before step 1."""
    if not callable(getattr(model, "unfreeze", None)):
        fail("train", "fine_tune", fine_tune, (
            f"the builder's model ({type(model).__name__}) has no unfreeze(top) method to call at the switch; "
            "use a model that has one (nbmodels.models.TransferClassifier) or train without fine_tune"
        ))
