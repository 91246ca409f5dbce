"""Model families; each module has a builder (and, for the larger families, a config)."""

from nbmodels.models.text.gpt import GPT, GPT_SIZES, GPTConfig
from nbmodels.models.mlp import mlp
from nbmodels.models.text.classifier import TEXT_CLASSIFIER_SIZES, TextClassifier, TextClassifierConfig
from nbmodels.models.vision.convnet import CONVNET_SIZES, ConvNet, ConvNetConfig
from nbmodels.models.vision.transfer import TRANSFER_SIZES, TransferClassifier, TransferConfig
from nbmodels.models.vision.vit import VIT_SIZES, ViT, ViTConfig
from nbmodels.models.recommenders import (
    RANKING_SIZES,
    TWO_TOWER_SIZES,
    RankingConfig,
    RankingModel,
    TwoTower,
    TwoTowerConfig,
)

__all__ = [
    "GPT",
    "GPT_SIZES",
    "GPTConfig",
    "TEXT_CLASSIFIER_SIZES",
    "TextClassifier",
    "TextClassifierConfig",
    "mlp",
    "CONVNET_SIZES",
    "ConvNet",
    "ConvNetConfig",
    "VIT_SIZES",
    "ViT",
    "ViTConfig",
    "TRANSFER_SIZES",
    "TransferClassifier",
    "TransferConfig",
    "RANKING_SIZES",
    "RankingConfig",
    "RankingModel",
    "TWO_TOWER_SIZES",
    "TwoTower",
    "TwoTowerConfig",
]
