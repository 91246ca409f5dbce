"""Model families; each module has a builder (and, for the larger families, a config)."""

from nbmodels.models.mlp import mlp

__all__ = ["mlp"]
