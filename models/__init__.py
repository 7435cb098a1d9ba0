"""Networks: quantizers (one per file), tokenizer, prior. Tensors in, tensors out."""

from .config import ModelConfig
from .model import ExactPrior, VTModel

__all__ = ["ExactPrior", "ModelConfig", "VTModel"]
