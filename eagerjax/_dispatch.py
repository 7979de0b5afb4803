"""The one place where ops run.

``dispatch(op, args, kwargs)`` splits the call into *dynamic* values (tensors,
and Python numbers at the row's ``scalars`` positions, which jax passes weakly
typed) and a hashable *static* remainder, finds or builds the op's cached kernel
for that static remainder, runs it, wraps the results as Tensors and records an
autograd node when a gradient is needed.

How the kernel runs depends on the mode (``_state.flags.mode``):
- eager (None): the kernel's ``jax.jit`` — one cached compiled call per op;
- capture (``ej.compile`` tracing) or lazy: the active recorder's ``run``,
  which traces the raw function into the step or records it for a later flush.

Nothing else in the package runs an array computation on tensors: library
code that needs a fused computation (an optimizer update, a backward pass)
goes through ``call_kernel`` with a ``Kernel`` of its own.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

import jax
import numpy as np

from . import _dtypes, _xla_budget
from ._autocast import _CASTABLE, castable
from ._autograd import Node
from ._ops._registry import OpDef
from ._precision import traced
from ._state import flags
from ._tensor import Tensor

_D = object()  # spec marker: one dynamic value
_kernel_ids = itertools.count()
_SCALAR_TYPES = (int, float, bool)
# a Python int operand outside [-_I32, _I32) does not fit JAX's weak int (int32 unless the
# user enabled jax_enable_x64 before importing eagerjax)
_I32 = 2**63 if jax.config.jax_enable_x64 else 2**31


def _wide_int(op: OpDef, v: int, args: tuple, kwargs: dict) -> float:
    """A Python int operand too wide for JAX's int32: as a float where the result is floating
    or bool anyway: a floating tensor operand (``x + 2**40``), a row that keeps its tensor's
    dtype (``fill_(2**40)`` of a bool; integer targets already refused the value), or
    ``dtype=`` (``full((), 2**40, dtype=float16)``). Otherwise torch's int64 result is out
    of reach, and the error says so."""

    def inexact(d, bool_too: bool) -> bool:  # (bfloat16's NumPy kind is "V": ask jnp)
        return _dtypes.is_floating(d) or _dtypes.is_complex(d) or (bool_too and d == _dtypes.bool_)

    for a in (*args, *kwargs.values()):
        if isinstance(a, Tensor) and inexact(a.dtype, not op.promote):
            return float(v)
    dt = kwargs.get("dtype")
    if dt is not None and inexact(_dtypes.to_dtype(dt), True):
        return float(v)
    if _I32 > 2**31:
        raise RuntimeError(f"{op.name}(): the integer {v} does not fit in 64 bits")
    raise RuntimeError(
        f"{op.name}(): the integer {v} does not fit in 32 bits, the width eagerjax's int64 tensors "
        "have under JAX's default (jax_enable_x64 off)"
    )


# Kernels kept per op. Each distinct static remainder (``view(n, -1)`` for every new n, a
# slice per sequence length) builds one; past the bound the oldest goes. An evicted kernel
# that comes back is rebuilt under a new uid, so programs keyed by it compile once more:
# the bound only has to exceed the variants a workload cycles through.
MAX_KERNELS_PER_OP = 1024
# ``eagerjax.autograd.forward_ad`` (``_forward_ad._call``) while a dual level is active, else None:
# it returns the op's results with their tangents, or None when no input carries a tangent.
forward_ad_hook = None


class Kernel:
    """A pure function of jax values with its eager ``jax.jit``.

    ``key`` identifies the computation structurally (same key => same function),
    which is what lets autograd, lazy mode and capture cache programs built
    from sequences of kernels.
    """

    __slots__ = ("fn", "jit", "uid", "name", "eager_only", "callback", "__weakref__")

    def __init__(
        self, fn: Callable, name: str, eager_only: bool = False, host: Callable | None = None, callback: bool = False
    ) -> None:
        self.fn = fn = _own_grad_mode(fn)
        self.jit = host if host is not None else traced(fn) if eager_only else jax.jit(traced(fn))
        self.uid = next(_kernel_ids)
        self.name = name
        self.eager_only = eager_only
        self.callback = callback  # runs user Python on the host (see ``_callback``)

    def __repr__(self) -> str:
        return f"<kernel {self.name}#{self.uid}>"


def _own_grad_mode(fn: Callable) -> Callable:
    """``fn`` run as a kernel (``flags.in_kernel``; ``stop_traced`` off). A kernel is a
    function of arrays: neither a user's ``no_grad`` around the op that first traces it nor
    one the library uses inside it may stop gradients there (jit keeps that trace for every
    later call, and backward passes differentiate it)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if flags.in_kernel:
            return fn(*args, **kwargs)
        stop = flags.stop_traced
        flags.in_kernel = True
        flags.stop_traced = False
        try:
            return fn(*args, **kwargs)
        finally:
            flags.in_kernel = False
            flags.stop_traced = stop

    return run


def _static(a):
    """A hashable stand-in for a static argument; type-tagged so 2 and 2.0 differ."""
    t = type(a)
    if t in _SCALAR_TYPES:
        return (t, a)
    if t is list or t is tuple:
        return (t, tuple(_static(x) for x in a))
    if t is slice:
        return (slice, a.start, a.stop, a.step)
    if t is dict:
        return (dict, tuple((k, _static(v)) for k, v in a.items()))
    return a


def _unstatic(s):
    if type(s) is tuple and s:
        t = s[0]
        if t in _SCALAR_TYPES:
            return s[1]
        if t is list:
            return [_unstatic(x) for x in s[1]]
        if t is tuple:
            return tuple(_unstatic(x) for x in s[1])
        if t is slice:
            return slice(s[1], s[2], s[3])
        if t is dict:
            return {k: _unstatic(v) for k, v in s[1]}
    return s


def _build_kernel(op: OpDef, spec: tuple, kwspec: tuple, cast, ac=None) -> Kernel:
    """Rebuild the call from (spec, kwspec) around the dynamic values; runs at trace time only.

    ``cast``: torch's promoted dtype for every operand; ``ac``: the dtype ``ej.autocast``
    casts the floating tensors to first (inside the kernel, so ``jax.vjp`` returns their
    gradients in their own dtype).
    """
    pos = []
    for s in spec:
        if s is _D:
            pos.append(_D)
        elif type(s) is tuple and len(s) == 2 and s[0] is _LIST:
            pos.append((_LIST, s[1]))
        else:
            pos.append(("s", _unstatic(s)))
    kws = []
    for k, s in kwspec:
        kws.append((k, _D if s is _D else ("s", _unstatic(s))))
    fn = op.fn
    host = None
    if op.host is not None:
        hfn = op.host

        def host(*vals):
            return jax.numpy.asarray(call(hfn, vals))

    def call(f, vals):
        it = iter(vals)
        args = []
        for p in pos:
            if p is _D:
                v = next(it)
                if ac is not None and castable(v) and v.dtype != ac:
                    v = v.astype(ac)
                if cast is not None and hasattr(v, "dtype") and v.dtype != cast:
                    v = v.astype(cast)
                args.append(v)
            elif p[0] is _LIST:
                vs = [next(it) for _ in range(p[1])]
                args.append(vs if ac is None else [v.astype(ac) if castable(v) else v for v in vs])
            else:
                args.append(p[1])
        kw = {}
        for k, p in kws:
            if p is _D:
                v = next(it)
                if ac is not None and castable(v):
                    v = v.astype(ac)
                if cast is not None and hasattr(v, "dtype") and v.dtype != cast:
                    v = v.astype(cast)
                kw[k] = v
            else:
                kw[k] = p[1]
        return f(*args, **kw)

    def kernel(*vals):
        return call(fn, vals)

    return Kernel(kernel, op.name, op.eager_only, host)


def every_mode(check: Callable) -> Callable:
    """Mark a row's ``check=`` as reading only Python values (the numbers given, tensors'
    dtypes and shapes), never tensor values: dispatch then runs it in every mode, not only
    eagerly (torch's ``value cannot be converted to type int8_t without overflow`` for
    ``clamp(-200, 200)``). The row reads the mark once, as ``OpDef.check_always``."""
    check.every_mode = True
    return check


class _ListMarker:
    __repr__ = lambda self: "<list>"  # noqa: E731


_LIST = _ListMarker()


# torch's names for the leading positional operands (``torch.add(x, other=y)``)
_TORCH_POSITIONAL = {"input": 0, "other": 1, "exponent": 1}
_ACCEPTS: dict = {}  # row name -> keyword names its function takes (None: any)


def _accepted_keywords(op: OpDef):
    try:
        return _ACCEPTS[op.name]
    except KeyError:
        pass
    import inspect

    try:
        params = inspect.signature(op.fn).parameters.values()
    except (TypeError, ValueError):  # (a ufunc or builtin: positional operands only)
        names = frozenset()
    else:
        if any(p.kind is p.VAR_KEYWORD for p in params):
            names = None
        else:
            names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    _ACCEPTS[op.name] = names
    return names


def _torch_keywords(op: OpDef, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``input=``/``other=``/``exponent=`` given by torch's name to a row whose function
    names its operands otherwise: moved into their positions."""
    takes = _accepted_keywords(op)
    moved = {}
    for k in _TORCH_POSITIONAL:
        if k in kwargs and (takes is not None and k not in takes):
            moved[_TORCH_POSITIONAL[k]] = k
    if not moved:
        return args, kwargs
    kwargs = dict(kwargs)
    args = list(args)
    for pos in sorted(moved):
        k = moved[pos]
        if pos < len(args):
            raise TypeError(f"{op.name}() got multiple values for argument '{k}'")
        if pos > len(args):
            raise TypeError(f"{op.name}() missing required argument 'input' (pos 1)")
        args.append(kwargs.pop(k))
    return tuple(args), kwargs


def dispatch(op: OpDef, args: tuple, kwargs: dict):
    """Run one op-table row on ``args``/``kwargs`` and return Tensor result(s)."""
    if kwargs and ("other" in kwargs or "input" in kwargs or "exponent" in kwargs):
        args, kwargs = _torch_keywords(op, args, kwargs)
    mode = flags.mode
    if op.check is not None and (mode is None or op.check_always):
        op.check(*args, **kwargs)
    vals = []
    tens = []
    spec = []
    scal = op.scalars
    i = 0
    for a in args:
        if isinstance(a, Tensor):
            vals.append(a._value if mode is None else a._read())
            tens.append(a)
            spec.append(_D)
        elif type(a) in _SCALAR_TYPES and i in scal:
            vals.append(a if type(a) is not int or -_I32 <= a < _I32 else _wide_int(op, a, args, kwargs))
            tens.append(None)
            spec.append(_D)
        elif (type(a) is list or type(a) is tuple) and a and _has_tensor(a):
            for x in a:
                if isinstance(x, Tensor):
                    vals.append(x._value if mode is None else x._read())
                    tens.append(x)
                else:
                    vals.append(_as_value(x))
                    tens.append(None)
            spec.append((_LIST, len(a)))
        elif isinstance(a, (np.ndarray, jax.Array)):
            vals.append(_as_value(a))
            tens.append(None)
            spec.append(_D)
        elif i in scal and isinstance(a, np.generic):  # a NumPy scalar is a Python number to torch
            vals.append(a.item())
            tens.append(None)
            spec.append(_D)
        else:
            spec.append(_static(a))
        i += 1
    kwspec = ()
    if kwargs:
        kl = []
        for k, a in kwargs.items():
            if isinstance(a, Tensor):
                vals.append(a._value if mode is None else a._read())
                tens.append(a)
                kl.append((k, _D))
            elif type(a) in _SCALAR_TYPES and k in scal:
                vals.append(a if type(a) is not int or -_I32 <= a < _I32 else _wide_int(op, a, args, kwargs))
                tens.append(None)
                kl.append((k, _D))
            elif isinstance(a, (np.ndarray, jax.Array)):
                vals.append(_as_value(a))
                tens.append(None)
                kl.append((k, _D))
            elif k in scal and isinstance(a, np.generic):
                vals.append(a.item())
                tens.append(None)
                kl.append((k, _D))
            else:
                kl.append((k, _static(a)))
        kwspec = tuple(kl)
    cast = None
    if flags.autocast is None:  # (the whole cost of ej.autocast while no region is active)
        if op.promote and len(vals) > 1:
            cast = _promotion(vals, tens)
        key = (tuple(spec), kwspec, cast)
    else:
        ac = flags.autocast.target(op, kwargs, tens)
        if op.promote and len(vals) > 1:
            cast = _autocast_promotion(vals, tens, ac)
        key = (tuple(spec), kwspec, cast) if ac is None else (tuple(spec), kwspec, cast, ac)
    kern = op.kernels.get(key)
    if kern is None:
        kernels = op.kernels
        if len(kernels) >= MAX_KERNELS_PER_OP:
            del kernels[next(iter(kernels))]  # the oldest (insertion order: no cost per hit)
        kern = kernels[key] = _build_kernel(op, key[0], kwspec, cast, key[3] if len(key) == 4 else None)
    return call_kernel(kern, vals, tens, op.differentiable, op.out_type)


def call_kernel(kern: Kernel, vals: list, tens: list, differentiable: bool = True, out_type=None):
    """Run ``kern`` on ``vals`` (``tens[i]`` is the Tensor that ``vals[i]`` came from, or None).

    Returns a Tensor, or a tuple of Tensors (wrapped by ``out_type``) for tuple results.
    """
    if forward_ad_hook is not None:  # (the whole cost of forward AD while no dual level is active)
        res = forward_ad_hook(kern, vals, tens, differentiable, out_type)
        if res is not None:
            return res
    mode = flags.mode
    if mode is None:
        if _xla_budget.pressure:
            _xla_budget.relieve()
        try:
            out = kern.jit(*vals)
        except (TypeError, ValueError, IndexError) as e:
            raise _op_error(kern, vals, e) from None
    else:
        try:
            out = mode.run(kern, vals, tens)
        except (TypeError, ValueError, IndexError) as e:
            raise _op_error(kern, vals, e) from None
    return wrap_results(kern, out, vals, tens, differentiable, out_type)


def wrap_results(kern: Kernel, out, vals: list, tens: list, differentiable: bool, out_type):
    """``kern``'s raw outputs as Tensors, tied to the tape by one node when an input needs a
    gradient (non-float outputs never require grad)."""
    needs_grad = False
    if differentiable and flags.grad_enabled:
        for t in tens:
            if t is not None and t._rg:  # (the slot: this runs for every input of every op)
                needs_grad = True
                break
    elif flags.stop_traced:
        out = _stop_traced(out)
    if type(out) is tuple or type(out) is list:
        node = Node(kern, vals, tens, len(out)) if needs_grad else None
        res = tuple(
            Tensor._make(o, node is not None and _floatlike(o), node if node is not None and _floatlike(o) else None, k)
            for k, o in enumerate(out)
        )
        return out_type(*res) if out_type is not None else res
    if needs_grad and _floatlike(out):
        return Tensor._make(out, True, Node(kern, vals, tens, 1), 0)
    return Tensor._make(out)


def _stop_traced(out):
    """``out`` with JAX's gradient stopped at every traced array (made under the user's
    ``no_grad`` inside code that JAX differentiates); concrete arrays pass unchanged."""
    if type(out) is tuple or type(out) is list:
        return type(out)(_stop_traced(o) for o in out)
    return jax.lax.stop_gradient(out) if isinstance(out, jax.core.Tracer) else out


def run_kernel(kern: Kernel, vals: list):
    """Run ``kern`` on ``vals`` off the tape and return its raw outputs (arrays, or the mode's
    placeholders): for library code that writes results into existing tensors itself
    (optimizer updates, schedulers), so no result Tensor is made just to be unwrapped."""
    mode = flags.mode
    try:
        return kern.jit(*vals) if mode is None else mode.run(kern, vals, [None] * len(vals))
    except (TypeError, ValueError, IndexError) as e:
        raise _op_error(kern, vals, e) from None


def _floatlike(v) -> bool:
    k = v.dtype.kind if hasattr(v.dtype, "kind") else np.dtype(v.dtype).kind
    return k == "f" or k == "c" or k == "V"  # "V": bfloat16 reports as a void kind in numpy


def _has_tensor(seq) -> bool:
    for x in seq:
        if isinstance(x, Tensor):
            return True
    return False


def _as_value(x):
    if isinstance(x, Tensor):
        return x._read()
    if isinstance(x, (np.ndarray, np.generic)):
        from ._tensor import _to_array

        return _to_array(x, None)
    return x


def _promotion(vals: list, tens: list):
    """torch's result dtype when tensor operands disagree on dtype, else None (jax's is right)."""
    first = None
    differ = False
    for t in tens:
        if t is not None:
            d = t._value.dtype
            if first is None:
                first = d
            elif d != first:
                differ = True
                break
    if not differ:
        return None
    shaped, zero_dim, scalars = [], [], []
    for v, t in zip(vals, tens):
        if t is None:
            if type(v) in _SCALAR_TYPES:
                scalars.append(v)
            continue
        (shaped if t._value.ndim else zero_dim).append(np.dtype(t._value.dtype))
    return _dtypes.result_type(shaped, zero_dim, scalars)


def _autocast_promotion(vals: list, tens: list, ac):
    """``_promotion`` of the operands as autocast leaves them (floating ones cast to ``ac``)."""
    if ac is None:
        return _promotion(vals, tens)
    dts = [None if t is None else (ac if t._value.dtype in _CASTABLE else t._value.dtype) for t in tens]
    if len({d for d in dts if d is not None}) < 2:
        return None
    shaped, zero_dim, scalars = [], [], []
    for v, t, d in zip(vals, tens, dts):
        if t is None:
            if type(v) in _SCALAR_TYPES:
                scalars.append(v)
            continue
        (shaped if t._value.ndim else zero_dim).append(np.dtype(d))
    return _dtypes.result_type(shaped, zero_dim, scalars)


def _op_error(kern: Kernel, vals: list, e: Exception) -> Exception:
    """Re-raise a jax error naming the op and the operand shapes, in torch's words where it has them."""
    from ._capture import Escaped

    for v in vals:
        if type(v) is Escaped:  # a tensor kept from a compiled step's trace: say that
            return v.error()
    shapes = ", ".join(f"{tuple(v.shape)}:{np.dtype(v.dtype).name}" if hasattr(v, "shape") else repr(v) for v in vals)
    msg = str(e).split("\n")[0]
    if "broadcast" in msg and "incompatible" in msg.lower():
        b = _broadcast_mismatch([tuple(v.shape) for v in vals if hasattr(v, "shape")])
        if b is not None:
            return RuntimeError(f"{kern.name}(): {b} (operands: {shapes})")
    capturing = flags.mode is not None and not flags.mode.is_lazy
    if isinstance(e, jax.errors.ConcretizationTypeError) or (capturing and "Tracer" in msg):
        from ._capture import _STATIC_HINT, CaptureError

        return CaptureError(
            f"{kern.name}(): an argument that must be a Python value (a size, a dim) is traced here."
            f"{_STATIC_HINT} (operands: {shapes})"
        )
    # jax's own error classes take other constructor arguments: re-raise as their builtin base
    cls = next(c for c in type(e).__mro__ if c.__module__ == "builtins")
    if msg.startswith(f"{kern.name}()"):  # (our own row's message already names the op)
        return cls(f"{msg} (operands: {shapes})")
    return cls(f"{kern.name}(): {msg} (operands: {shapes})")


def _broadcast_mismatch(shapes: list) -> str | None:
    """torch's message for the first pair of shapes that do not broadcast (rightmost dim first)."""
    for i, a in enumerate(shapes):
        for b in shapes[i + 1 :]:
            nd = max(len(a), len(b))
            for d in range(nd - 1, -1, -1):
                x = a[d - nd + len(a)] if d - nd + len(a) >= 0 else 1
                y = b[d - nd + len(b)] if d - nd + len(b) >= 0 else 1
                if x != y and x != 1 and y != 1:
                    return (
                        f"The size of tensor a ({x}) must match the size of tensor b ({y}) "
                        f"at non-singleton dimension {d}"
                    )
    return None
