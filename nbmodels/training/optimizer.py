"""The optimizer and learning-rate schedule a TrainConfig asks for."""

from __future__ import annotations

from nbmodels.config import TrainConfig


def learning_rate(config: TrainConfig, total_steps: int):
    """A float for 'constant', else a Keras schedule over `total_steps` optimizer updates."""
    import keras

    if config.lr_schedule == "constant":
        return config.learning_rate
    # Schedules count optimizer updates; with accumulation an update takes several batches.
    updates = max(1, total_steps // config.grad_accum_steps)
    warmup = config.warmup_steps // config.grad_accum_steps
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=updates, alpha=config.min_lr_ratio
        )
    # warmup_cosine: linear from 0 to the peak, then cosine down to peak * min_lr_ratio (nanoGPT).
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, updates - warmup),
        alpha=config.min_lr_ratio,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def make_optimizer(config: TrainConfig, total_steps: int):
    import keras

    common = dict(
        learning_rate=learning_rate(config, total_steps),
        global_clipnorm=config.clip_norm,
        gradient_accumulation_steps=config.grad_accum_steps if config.grad_accum_steps > 1 else None,
    )
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=config.weight_decay, **common)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**common)
    return keras.optimizers.SGD(momentum=0.9, **common)
