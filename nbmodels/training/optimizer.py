"""The optimizer and learning-rate schedule a TrainConfig asks for."""

from __future__ import annotations

import functools

from nbmodels.config import TrainConfig


def learning_rate(config: TrainConfig, total_steps: int):
    """A float for 'constant', else a Keras schedule over the run's `total_steps` batches.

    Keras evaluates a schedule at its batch counter, also under gradient accumulation (an
    update every `grad_accum_steps` batches reads the schedule at that batch), so lengths are
    counted in batches: `warmup_steps` and `steps` mean the same in every part of a run.
    """
    import keras

    if config.lr_schedule == "constant":
        return config.learning_rate
    total_steps = max(1, total_steps)
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=total_steps, alpha=config.min_lr_ratio
        )
    # warmup_cosine: linear from 0 to the peak, then cosine down to peak * min_lr_ratio (nanoGPT).
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, total_steps - config.warmup_steps),
        alpha=config.min_lr_ratio,
        warmup_target=config.learning_rate,
        warmup_steps=config.warmup_steps,
    )


def make_optimizer(config: TrainConfig, total_steps: int):
    """The Keras optimizer for `config`; `total_steps` sizes the learning-rate schedule."""
    import keras

    common = dict(
        learning_rate=learning_rate(config, total_steps),
        global_clipnorm=config.clip_norm,
        gradient_accumulation_steps=config.grad_accum_steps if config.grad_accum_steps > 1 else None,
    )
    if config.optimizer == "adamw":
        adamw = _matrix_decay_adamw() if config.weight_decay_on == "matrices" else keras.optimizers.AdamW
        return adamw(weight_decay=config.weight_decay, **common)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    return keras.optimizers.SGD(momentum=0.9, **common)


@functools.cache  # one class, made on first use so importing this module does not import Keras
def _matrix_decay_adamw():
    import keras

    class MatrixDecayAdamW(keras.optimizers.AdamW):
        """AdamW that decays only weights with 2+ dimensions, as nanoGPT's configure_optimizers.

        The exclusion is decided when the optimizer is built, from the variables it is built
        for: the model's variables do not exist yet when the optimizer is made (a subclassed
        model creates them on its first call), and under a distribution strategy they are the
        mirrored variables `build` receives. Checkpoints hold the optimizer's variables, which
        this choice does not change, so exact resume is unaffected.
        """

        def build(self, var_list):
            if not self.built:
                self.exclude_from_weight_decay(var_list=[v for v in var_list if len(v.shape) < 2])
            super().build(var_list)

    return MatrixDecayAdamW
