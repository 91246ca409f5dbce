"""What a trained model looked at: pure functions with numpy out, for dashboards and tests."""

from nbmodels.inspect.attention import AttentionMap, attention_maps, attention_rollout, key_attention
from nbmodels.inspect.classification import (
    ClassificationReport, ClassifierEvaluation, ClassScores, Mistakes, Predictions, confusion_matrix,
    evaluate_classifier, misclassified, most_confused, per_class_report, predictions, report_from_confusion,
)

__all__ = ["AttentionMap", "attention_maps", "attention_rollout", "key_attention"]
__all__ += [
    "ClassificationReport", "ClassifierEvaluation", "ClassScores", "Mistakes", "Predictions", "confusion_matrix",
    "evaluate_classifier", "misclassified", "most_confused", "per_class_report", "predictions", "report_from_confusion",
]
from nbmodels.inspect.images import grad_cam, upsample, vit_attention, vit_rollout

__all__ += ["grad_cam", "upsample", "vit_attention", "vit_rollout"]
