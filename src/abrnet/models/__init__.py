"""abrnet.models: the optimized hierarchical S4/Transformer U-Net and its parts."""

from __future__ import annotations

from abrnet.models.config import PRESETS, ModelConfig
from abrnet.models.unet import OUTPUT_KEYS, OptimizedHierarchicalUNet

__all__ = ["OUTPUT_KEYS", "PRESETS", "ModelConfig", "OptimizedHierarchicalUNet"]
