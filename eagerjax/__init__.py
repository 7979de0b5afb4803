"""eagerjax: PyTorch's way of writing training code, running on JAX.

``import eagerjax as torch`` — tensors, autograd, nn, optim — eager by default,
one compiled XLA program per training step with ``eagerjax.compile`` or
``eagerjax.lazy()``.
"""

from __future__ import annotations

from . import (
    _dtypes,  # noqa: F401 - dtype helpers, e.g. eagerjax._dtypes.result_type
    autograd,
)
from ._autocast import autocast, get_autocast_dtype, is_autocast_enabled
from ._autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from ._capture import CaptureError
from ._compile import CompiledFunction, compile  # noqa: A004 - torch.compile
from ._cond import cond, while_loop
from ._dtype_info import can_cast, finfo, iinfo, is_complex, is_floating_point, promote_types, result_type
from ._dtypes import (
    bfloat16,
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
from ._dtypes import (
    bool_ as bool,  # noqa: A001 - torch.bool
)
from ._dtypes import float_ as float  # noqa: A001 - torch.float
from ._dtypes import int_ as int  # noqa: A001 - torch.int
from ._factories import LEGACY_TYPES as _LEGACY_TYPES
from ._factories import as_tensor, from_numpy, is_tensor, numel, tensor
from ._generate import functional as _functional
from ._generate import generate as _generate_all
from ._lazy import get_mode, lazy, lazy_stats, mark_step, set_mode
from ._ops import (  # noqa: F401 - register rows
    _creation,
    _elementwise,
    _fft,  # noqa: F401 - torch.fft rows
    _fft2,  # noqa: F401 - fft.hfft2 / hfftn / ihfft2 / ihfftn rows
    _grid,  # noqa: F401 - affine_grid / grid_sample rows
    _indexing2,  # noqa: F401 - select/slice/diagonal_scatter, index_reduce, put, fill_diagonal_
    _ldl,  # noqa: F401 - linalg.ldl_factor / ldl_factor_ex / ldl_solve rows (LAPACK through SciPy)
    _linalg,
    _linalg2,  # noqa: F401 - LU, lstsq, eig rows
    _linalg3,  # noqa: F401 - matrix_exp, householder_product / orgqr, geqrf rows
    _linalg4,  # noqa: F401 - linalg.cond, tensorinv, tensorsolve rows
    _linalg5,  # noqa: F401 - triangular/Cholesky solves, linalg.*_ex rows
    _math5,  # noqa: F401 - cov, histogram, isin, trapezoid, gradient, vander rows
    _nn,  # noqa: F401 - nn rows (after the other families: softmax aliases are conditional)
    _nn2,  # noqa: F401 - conv / pool / norm / embedding / loss rows
    _nn4,  # noqa: F401 - prelu / glu / shrink / fold / margin, CTC and NLL loss rows
    _nn_seq,  # noqa: F401 - attention / RNN rows
    _packed,  # noqa: F401 - nn.utils.rnn rows (packed sequences, RNNs on them)
    _parity,  # noqa: F401 - *_copy views, nonzero_static, empty_strided, native_* norms, resize_
    _parity2,  # noqa: F401 - histogramdd, segment_reduce rows
    _reduction,
    _shape,
    _shape_extra,  # noqa: F401 - unfold / view(dtype) rows, in-place shape methods
    _special,  # noqa: F401 - torch.special rows, mvlgamma, combinations, channel_shuffle
    _special2,  # noqa: F401 - Bessel / Airy / incomplete gamma / orthogonal polynomial rows
    _stft,  # noqa: F401 - stft / istft and window-function rows
)
from ._precision import get_float32_matmul_precision, set_float32_matmul_precision
from ._random import (
    Generator,
    bernoulli,
    binomial,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    poisson,
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
from ._tensor import Device as device
from ._tensor import Parameter, Size, Tensor
from ._tensor_extra import contiguous_strides as _contiguous_strides  # noqa: F401 - Tensor.stride / nbytes
from ._torch_flags import (
    are_deterministic_algorithms_enabled,
    backends,
    get_num_interop_threads,
    get_num_threads,
    is_deterministic_algorithms_warn_only_enabled,
    set_num_interop_threads,
    set_num_threads,
    use_deterministic_algorithms,
)

_generate_all()

# torch.linalg / torch.special: the rows that declare those namespaces.
import sys as _sys  # noqa: E402

from ._generate import namespaces as _namespaces  # noqa: E402

for _ns, _mod in _namespaces.items():
    globals()[_ns] = _mod
    _sys.modules[f"eagerjax.{_ns}"] = _mod
linalg.LinAlgError = _linalg5.LinAlgError  # noqa: F821 - linalg is the generated namespace above
from . import (  # noqa: E402, F401 - need the generated op functions
    _autograd_functional,  # torch.autograd.functional (set on autograd below)
    _random_fills,  # Tensor.cauchy_ / geometric_ / log_normal_
    amp,
    cpu,
    cuda,
    distributions,
    func,
    nn,
    optim,
    random,
    testing,
    utils,  # noqa: E402 - utils.data
)
from ._serialization import load, save  # noqa: E402
from ._xla_budget import install as _install_xla_budget  # noqa: E402
from .func import vmap  # noqa: E402 - torch.vmap

autograd.functional = _autograd_functional
_sys.modules["eagerjax.autograd.functional"] = _autograd_functional

_install_xla_budget()  # keeps compiled programs under vm.max_map_count (see _xla_budget)

# Every op-table row with a function form is public under its torch name.
globals().update(_LEGACY_TYPES)  # FloatTensor, LongTensor, ...
_OP_FUNCTIONS = tuple(n for n in vars(_functional) if not n.startswith("_"))
globals().update({n: getattr(_functional, n) for n in _OP_FUNCTIONS})

# torch's top-level spellings of nn features and small utilities (torch.conv2d, torch.range, ...)
from . import _toplevel, _toplevel2, _toplevel_utils  # noqa: E402

globals().update({n: getattr(_toplevel, n) for n in _toplevel.__all__})
globals().update({n: getattr(_toplevel_utils, n) for n in _toplevel_utils.__all__})
globals().update({n: getattr(_toplevel2, n) for n in _toplevel2.__all__})

from . import nested  # noqa: E402 - torch.nested (after the op functions: it hooks them)
from .nested import jagged  # noqa: E402 - torch.jagged

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "Parameter",
    "compile",
    "cond",
    "while_loop",
    "CompiledFunction",
    "CaptureError",
    "lazy",
    "lazy_stats",
    "set_mode",
    "get_mode",
    "mark_step",
    "set_float32_matmul_precision",
    "get_float32_matmul_precision",
    "backends",
    "set_num_threads",
    "get_num_threads",
    "set_num_interop_threads",
    "get_num_interop_threads",
    "use_deterministic_algorithms",
    "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled",
    "Size",
    "device",
    "dtype",
    "Generator",
    "autograd",
    "nn",
    "cuda",
    "cpu",
    "amp",
    "distributions",
    "nested",
    "jagged",
    "func",
    "vmap",
    "testing",
    "autocast",
    "is_autocast_enabled",
    "get_autocast_dtype",
    "random",
    "optim",
    "utils",
    "save",
    "load",
    "tensor",
    "as_tensor",
    "from_numpy",
    "is_tensor",
    "numel",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_grad_enabled",
    "manual_seed",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "default_generator",
    "rand",
    "randn",
    "randint",
    "randperm",
    "normal",
    "bernoulli",
    "multinomial",
    "poisson",
    "binomial",
    "rand_like",
    "randn_like",
    "randint_like",
    "float32",
    "float",
    "float16",
    "half",
    "bfloat16",
    "float64",
    "double",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "uint8",
    "uint32",
    "bool",
    "complex64",
    "cfloat",
    "get_default_dtype",
    "set_default_dtype",
    "finfo",
    "iinfo",
    "is_floating_point",
    "is_complex",
    "result_type",
    "promote_types",
    "can_cast",
    # (a name _toplevel defines over its op row -- native_batch_norm, which also writes the
    # running stats -- is listed once)
    *[n for n in _OP_FUNCTIONS if n not in _toplevel.__all__],
    *_toplevel.__all__,
    *_toplevel_utils.__all__,
    *_toplevel2.__all__,
    *_namespaces,
    *_LEGACY_TYPES,
]
