"""Transformer building blocks: attention with readable scores, blocks, embeddings."""

from nbmodels.layers.attention import MultiHeadSelfAttention
from nbmodels.layers.embeddings import TokenAndPositionEmbedding
from nbmodels.layers.patches import PatchEmbedding
from nbmodels.layers.transformer import TransformerBlock

__all__ = ["MultiHeadSelfAttention", "TokenAndPositionEmbedding", "TransformerBlock"]
__all__ += ["PatchEmbedding"]
