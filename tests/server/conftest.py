"""pytest-jupyter's server fixtures (jp_fetch, jp_serverapp, ...) with the nbmodels extension on.

The fixtures are imported here rather than enabled with `-p` so that only these tests pay for
jupyter_server, and its autouse fixtures apply to this folder alone.
"""

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbmodels.server": True}}}


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory, xor_data):
    """A runs root with two real runs written by `nbmodels.train()`: 30 and 45 steps."""
    from nbmodels import TrainConfig, train
    from tests.conftest import make_mlp

    root = tmp_path_factory.mktemp("trained") / "runs"
    for name, steps in (("short", 30), ("longer", 45)):
        config = TrainConfig(steps=steps, batch_size=32, checkpoint_every=15, validate_every=15, seed=0)
        train(make_mlp, xor_data, config, name=name, root=root, verbose=False)
    return root
