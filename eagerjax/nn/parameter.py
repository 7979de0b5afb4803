"""``torch.nn.parameter``: home of ``Parameter``."""

from .._tensor import Parameter

__all__ = ["Parameter"]
