"""``torch.func``: function transforms over eagerjax code (see ``_func`` and ``_vmap``)."""

from __future__ import annotations

from ._func import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp
from ._func_module import functional_call, functionalize, replace_all_batch_norm_modules_, stack_module_state
from ._vmap import vmap

__all__ = [
    "functional_call",
    "functionalize",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "replace_all_batch_norm_modules_",
    "stack_module_state",
    "vjp",
    "vmap",
]
