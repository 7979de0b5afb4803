"""More layers: ``ChannelShuffle`` (and its functional form ``channel_shuffle``, the op-table
row ``ej.channel_shuffle`` of ``eagerjax/_ops/_special.py``, which checks its arguments)."""

from __future__ import annotations

from .._generate import functional as _F
from .._tensor import Tensor
from ._module import Module

__all__ = ["ChannelShuffle"]


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Split the channels (dim 1) into ``groups`` groups and interleave them:
    ``(N, g * k, *) -> (N, k * g, *)``, as in ShuffleNet."""
    return _F.channel_shuffle(input, groups)


class ChannelShuffle(Module):
    """Divides the channels of a ``(N, C, *)`` tensor into ``groups`` groups and rearranges
    them, keeping the shape (``C`` must be divisible by ``groups``)."""

    __constants__ = ["groups"]

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
