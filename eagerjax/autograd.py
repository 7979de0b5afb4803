"""``eagerjax.autograd``: ``grad``, ``backward`` and the grad-mode switches."""

from ._autograd import backward, enable_grad, grad, inference_mode, no_grad, set_grad_enabled

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode"]
