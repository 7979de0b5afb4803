"""``torch.nn.modules``: where torch users import ``Module`` and the global module hooks from."""

from . import module
from .module import Module

__all__ = ["Module", "module"]
