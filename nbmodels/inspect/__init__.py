"""What a trained model looked at: pure functions with numpy out, for dashboards and tests.

- attention (text and ViT scores): `attention_maps`, `attention_rollout`, `key_attention`.
- classification: `evaluate_classifier` and the functions it bundles (confusion, per-class report, ...).
- images: `vit_attention` and `vit_rollout` on the patch grid, `grad_cam` for convnets (`conv_layers`: the layers it can explain), `upsample`.
- recommenders (two-tower retrieval): `recommend` (top-K, seen items left out), `top_k_accuracy` (TFRS's factorized
  top-K), `retrieval_report` (with keras-rs ranking metrics and a popularity baseline), `similar_items`, `explain`,
  `item_projection`.
"""

from nbmodels.inspect.attention import AttentionMap, attention_maps, attention_rollout, key_attention
from nbmodels.inspect.classification import (
    ClassificationReport, ClassifierEvaluation, ClassScores, Mistakes, Predictions, confusion_matrix,
    evaluate_classifier, misclassified, most_confused, per_class_report, predictions, report_from_confusion,
)
from nbmodels.inspect.images import conv_layers, grad_cam, grad_cam_layer, upsample, vit_attention, vit_rollout
from nbmodels.inspect.recommenders import (
    RetrievalReport, explain, item_projection, recommend, retrieval_report, similar_items, top_k_accuracy,
)

__all__ = [
    "AttentionMap", "attention_maps", "attention_rollout", "key_attention",
    "ClassificationReport", "ClassifierEvaluation", "ClassScores", "Mistakes", "Predictions", "confusion_matrix",
    "evaluate_classifier", "misclassified", "most_confused", "per_class_report", "predictions", "report_from_confusion",
    "conv_layers", "grad_cam", "grad_cam_layer", "upsample", "vit_attention", "vit_rollout",
    "RetrievalReport", "explain", "item_projection", "recommend", "retrieval_report", "similar_items", "top_k_accuracy",
]
