"""``eagerjax.utils.checkpoint``: activation checkpointing, as ``torch.utils.checkpoint``."""

from .._checkpoint import checkpoint, checkpoint_sequential

__all__ = ["checkpoint", "checkpoint_sequential"]
