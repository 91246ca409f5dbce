"""Training a vision model on the embedded 8x8 digits, as the accuracy tests of every vision model do."""

from nbmodels import TrainConfig, data, train


def digits_validation_accuracy(build, epochs: int) -> float:
    """Train `build()` on digits images (N, 8, 8, 1) through `nbmodels.train` with the settings both
    vision models reach their targets with; return the final validation accuracy."""
    run = train(build, data.load("digits", flatten=False),
                TrainConfig(epochs=epochs, batch_size=32, learning_rate=3e-3, lr_schedule="warmup_cosine",
                            warmup_steps=20), verbose=False)
    assert run.status == "finished", run.message
    return run.validation_history[-1]["metrics"]["val_accuracy"]
