"""eagerjax: PyTorch's way of writing training code, running on JAX.

``import eagerjax as torch`` — tensors, autograd, nn, optim — eager by default,
one compiled XLA program per training step with ``eagerjax.compile`` or
``eagerjax.lazy()``.
"""

from __future__ import annotations

from . import _dtypes
from ._dtypes import (
    bfloat16,
    bool_ as bool,  # noqa: A001 - torch.bool
    cfloat,
    complex64,
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
    uint32,
)
from ._dtypes import float_ as float  # noqa: A001 - torch.float
from ._dtypes import int_ as int  # noqa: A001 - torch.int
from ._tensor import Device as device
from ._tensor import Parameter, Size, Tensor
from ._autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from ._ops import _creation, _elementwise, _linalg, _reduction, _shape  # noqa: F401 - register rows
from ._ops import _nn  # noqa: F401 - nn rows (after the other families: softmax aliases are conditional)
from ._ops import _nn_seq  # noqa: F401 - attention / RNN rows
from ._ops import _nn2  # noqa: F401 - conv / pool / norm / embedding / loss rows
from ._random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from ._generate import functional as _functional, generate as _generate_all
from ._factories import as_tensor, from_numpy, is_tensor, numel, tensor
from . import autograd
from ._capture import CaptureError
from ._compile import CompiledFunction, compile  # noqa: A004 - torch.compile
from ._lazy import get_mode, lazy, lazy_stats, mark_step, set_mode

_generate_all()
from . import nn, optim  # noqa: E402 - needs the generated op functions
from . import utils  # noqa: E402 - utils.data
from ._serialization import load, save  # noqa: E402

# Every op-table row with a function form is public under its torch name.
_OP_FUNCTIONS = tuple(n for n in vars(_functional) if not n.startswith("_"))
globals().update({n: getattr(_functional, n) for n in _OP_FUNCTIONS})

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Parameter", "compile", "CompiledFunction", "CaptureError", "lazy", "lazy_stats", "set_mode", "get_mode", "mark_step", "Size", "device", "dtype", "Generator", "autograd", "utils", "save", "load",
    "tensor", "as_tensor", "from_numpy", "is_tensor", "numel",
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "default_generator",
    "rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial",
    "rand_like", "randn_like", "randint_like",
    "float32", "float", "float16", "half", "bfloat16", "float64", "double",
    "int8", "int16", "short", "int32", "int", "int64", "long", "uint8", "uint32", "bool",
    "complex64", "cfloat", "get_default_dtype", "set_default_dtype",
    *_OP_FUNCTIONS,
]
