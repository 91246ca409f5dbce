"""The Jupyter server extension: REST routes over run directories and devices.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/nbmodels.json`` (shipped in the
wheel); the JupyterLab sidebar in ``extension/`` is its only intended client. Importing this
package loads neither TensorFlow nor Keras, so the server starts as fast as without it.
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "nbmodels.server"}]


def _load_jupyter_server_extension(server_app) -> None:
    """Register the routes under ``<base_url>/nbmodels/``."""
    from nbmodels.server.routes import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("nbmodels: run and device routes at %snbmodels/", server_app.web_app.settings["base_url"])
