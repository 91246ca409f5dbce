"""The transformer trunk is family-neutral: it takes embeddings `(B, T, C)`, so a vision model
(patches and a class token) reuses it as the text models do, without importing the text family."""

import doctest
import types
from pathlib import Path

import keras
import numpy as np
from keras import ops

import nbmodels
import nbmodels.models._transformer as trunk
from nbmodels.models import GPT, GPTConfig
from nbmodels.models._transformer import TransformerModel, trunk_parameter_count
from tests.test_import_graph import import_graph

SIZES = types.SimpleNamespace(
    num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16, dropout=0.0, layer_norm_epsilon=1e-5
)


class PatchEncoder(TransformerModel):
    """A ViT's shape in miniature: patch vectors projected to the width, a learned class token
    in front, learned positions, the shared trunk, the class token's output."""

    def __init__(self, config, patches: int, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.patch_embedding = keras.layers.Dense(config.hidden_dim, name="patch_embedding")
        self.class_token = self.add_weight(shape=(1, 1, config.hidden_dim), name="class_token")
        self.positions = self.add_weight(shape=(1, patches + 1, config.hidden_dim), name="positions")
        self.make_trunk(config, causal=False)

    def call(self, patches, return_attention_scores=False):
        x = self.patch_embedding(patches)  # (B, P, C)
        cls = ops.repeat(self.class_token, ops.shape(x)[0], axis=0)  # (B, 1, C)
        x = ops.concatenate([cls, x], axis=1) + self.positions  # (B, T, C), T = P + 1
        hidden, scores = self.run_trunk(x, return_attention_scores=return_attention_scores)
        return (hidden[:, 0], scores) if return_attention_scores else hidden[:, 0]


def test_a_model_of_patches_and_a_class_token_reuses_the_trunk():
    model = PatchEncoder(SIZES, patches=4)
    patches = np.random.default_rng(0).normal(size=(3, 4, 12)).astype("float32")
    pooled, scores = model(patches, return_attention_scores=True)
    assert tuple(pooled.shape) == (3, 8)
    assert tuple(scores.shape) == (2, 3, 2, 5, 5)  # (L, B, N, T, T): the class token is one more position
    np.testing.assert_allclose(ops.sum(scores, axis=-1), 1.0, atol=1e-5)
    # Without scores the fused attention runs, with the same outputs.
    np.testing.assert_allclose(model(patches), pooled, atol=1e-5)
    own = 12 * 8 + 8 + 8 + 5 * 8  # patch projection, class token, positions
    assert model.count_params() == own + trunk_parameter_count(SIZES)


def test_the_trunk_imports_nothing_of_the_text_family():
    graph = import_graph(Path(nbmodels.__file__).parents[1], "nbmodels")
    reached, todo = set(), ["nbmodels.models._transformer"]
    while todo:
        module = todo.pop()
        for imported in graph[module]:
            if imported not in reached:
                reached.add(imported)
                todo.append(imported)
    assert not [m for m in reached if m.startswith("nbmodels.models.text")], sorted(reached)


def test_text_models_keep_their_weight_paths():
    """Saved `.keras` files and checkpoints name weights by these paths: they must not move."""
    model = GPT(GPTConfig.preset("tiny", tie_weights=False))
    block = [
        "attention_norm/gamma", "attention_norm/beta", "attention/qkv/kernel", "attention/qkv/bias",
        "attention/output/kernel", "attention/output/bias", "mlp_norm/gamma", "mlp_norm/beta",
        "mlp_hidden/kernel", "mlp_hidden/bias", "mlp_output/kernel", "mlp_output/bias",
    ]
    expected = [
        "gpt/embedding/token_embedding/embeddings",
        "gpt/embedding/position_embedding/embeddings",
        *[f"gpt/block_{i}/{path}" for i in range(2) for path in block],
        "gpt/final_norm/gamma",
        "gpt/final_norm/beta",
        "gpt/lm_head/kernel",
    ]
    assert [v.path for v in model.weights] == expected


def test_docstring_examples():
    result = doctest.testmod(trunk, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
