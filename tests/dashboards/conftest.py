"""Dashboard fixtures: a real IPython shell to capture display messages, and a finished
training run (real Keras, tiny data) to replay."""

import pytest

from nbmodels import TrainConfig, train
from tests.conftest import make_mlp


@pytest.fixture
def ipython():
    """IPython's shell (no kernel): `capture_output()` then records display and update messages."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()  # kernel_comms() starts a kernel with its own shell singleton


@pytest.fixture(autouse=True)
def widget_charts(monkeypatch):
    """Every test starts in the default chart mode, outside Colab."""
    from nbmodels.dashboards._kit import env as _env

    monkeypatch.setattr(_env, "_chosen", "auto")
    monkeypatch.setattr(_env, "_colab_enabled", False)
    monkeypatch.delenv(_env.MODE_ENV, raising=False)


@pytest.fixture
def finished_run(runs_root, xor_data):
    return train(make_mlp, xor_data, TrainConfig(steps=42, batch_size=32, validate_every=14), name="xor",
                 verbose=False)
