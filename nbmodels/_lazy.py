"""Lazy public names: a package lists `name -> module` and imports that module on first use,
so importing the package stays cheap (no TensorFlow, plotly or ipywidgets until needed)."""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, names: dict[str, str], namespace: dict):
    """`(__getattr__, __dir__)` for a package whose public `names` live in other modules.

    A name that is itself a module (`nbmodels.data`) resolves to the module; any other to the
    attribute of that name in its module. Each is cached in `namespace` (the package's globals).
    """

    def __getattr__(name):
        if name in names:
            module = importlib.import_module(names[name])
            value = module if module.__name__.endswith("." + name) else getattr(module, name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
