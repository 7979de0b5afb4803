"""``eagerjax.autograd``: ``grad``, ``backward``, the grad-mode switches and ``Function``.

``eagerjax.autograd.function`` is ``torch.autograd.function``'s counterpart (``Function``,
``FunctionCtx``, ``once_differentiable``), importable as ``from eagerjax.autograd.function
import once_differentiable`` too; ``eagerjax.autograd.forward_ad`` (dual tensors) likewise.
"""

import sys

from . import _forward_ad as forward_ad
from . import _function as function
from . import _graph as graph
from ._anomaly import detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from ._autograd import backward, enable_grad, grad, inference_mode, no_grad, set_grad_enabled
from ._function import Function, FunctionCtx
from ._gradcheck import GradcheckError, gradcheck, gradgradcheck

sys.modules[__name__ + ".function"] = function
sys.modules[__name__ + ".forward_ad"] = forward_ad
sys.modules[__name__ + ".graph"] = graph
gradcheck.GradcheckError = GradcheckError  # torch spells it torch.autograd.gradcheck.GradcheckError

__all__ = [
    "backward",
    "grad",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "Function",
    "FunctionCtx",
    "function",
    "forward_ad",
    "graph",
    "gradcheck",
    "gradgradcheck",
    "detect_anomaly",
    "set_detect_anomaly",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
]
