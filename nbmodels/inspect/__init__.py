"""What a trained model looked at: pure functions with numpy out, for dashboards and tests."""

from nbmodels.inspect.attention import AttentionMap, attention_maps, attention_rollout, key_attention

__all__ = ["AttentionMap", "attention_maps", "attention_rollout", "key_attention"]
