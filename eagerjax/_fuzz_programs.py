"""Random op programs for ``eagerjax.testing.programs``: the program object and its runners.

A :class:`Program` is straight-line code over named variables, each step one call of an
op-table row (as a function, a Tensor method, an operator or an in-place method)::

    def program(x0: float32[2, 3] grad, x1: int32[3]):
        v2 = torch.add(x0, x1, alpha=2)
        v2.mul_(0.5)
        v3 = x0.sum(dim=1, keepdim=True)
        return v2, v3

It runs three ways from the same numpy inputs: with eagerjax (:meth:`Program.run`, in whatever
mode is active, or :meth:`Program.step_fn` for ``ej.compile``/``ej.lazy``), with a pure
``jax.numpy`` reference built from the rows' own ``fn`` (:meth:`Program.reference`, gradients
by ``jax.grad``) and with PyTorch (:meth:`Program.torch`). The generator lives in
``_fuzz_catalog``; it checks every step on concrete values while drawing it, so a program is
valid (finite, in-domain, no value-dependent ambiguity) for the inputs it carries.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np

from ._ops._registry import OPS

__all__ = ["Program", "Step", "Input", "Ref", "Dtype", "OPERATORS", "torch_promote"]


class Dtype:
    """A dtype argument (``dtype=torch.float32``), resolved per framework."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Ref:
    """A reference to a program variable."""

    __slots__ = ("var",)

    def __init__(self, var: str) -> None:
        self.var = var

    def __repr__(self) -> str:
        return self.var


class Input:
    """A program input: a name, a numpy array and whether gradients are taken w.r.t. it."""

    __slots__ = ("name", "array", "requires_grad")

    def __init__(self, name: str, array: np.ndarray, requires_grad: bool = False) -> None:
        self.name = name
        self.array = array
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        a = self.array
        return f"{self.name}: {a.dtype.name}{list(a.shape)}{' grad' if self.requires_grad else ''}"


# operator forms: name -> (binary operator, in-place operator, symbol)
OPERATORS = {
    "add": (operator.add, operator.iadd, "+"),
    "sub": (operator.sub, operator.isub, "-"),
    "mul": (operator.mul, operator.imul, "*"),
    "div": (operator.truediv, operator.itruediv, "/"),
    "floor_divide": (operator.floordiv, operator.ifloordiv, "//"),
    "remainder": (operator.mod, operator.imod, "%"),
    "pow": (operator.pow, operator.ipow, "**"),
    "eq": (operator.eq, None, "=="),
    "ne": (operator.ne, None, "!="),
    "lt": (operator.lt, None, "<"),
    "le": (operator.le, None, "<="),
    "gt": (operator.gt, None, ">"),
    "ge": (operator.ge, None, ">="),
    "bitwise_and": (operator.and_, operator.iand, "&"),
    "bitwise_or": (operator.or_, operator.ior, "|"),
    "bitwise_xor": (operator.xor, operator.ixor, "^"),
    "bitwise_left_shift": (operator.lshift, None, "<<"),
    "bitwise_right_shift": (operator.rshift, None, ">>"),
    "matmul": (operator.matmul, None, "@"),
}
UNARY_OPERATORS = {
    "neg": (operator.neg, "-"),
    "positive": (operator.pos, "+"),
    "bitwise_not": (operator.invert, "~"),
    "abs": (abs, "abs"),
}


PUBLIC_METHODS = {"_cast": "to"}  # rows whose public form is a differently named Tensor method


class Step:
    """One call: ``outs = <name>(*args, **kwargs)`` in form ``fn``/``method``/``inplace``/``op``/``iop``.

    ``fn`` names the public function (``torch.<fn>``) when it differs from the row (``where``).
    """

    __slots__ = ("name", "form", "args", "kwargs", "outs", "multi")

    def __init__(self, name: str, form: str, args: tuple, kwargs: dict, outs: tuple, multi: bool = False) -> None:
        self.name, self.form, self.args, self.kwargs, self.outs = name, form, tuple(args), dict(kwargs), tuple(outs)
        self.multi = multi  # the op returns a tuple (unpacked into ``outs``)

    def source(self) -> str:
        a = [repr(x) for x in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        lhs = ", ".join(self.outs) + ("," if self.multi and len(self.outs) == 1 else "")
        if self.form == "fn":
            return f"{lhs} = torch.{self.name}({', '.join(a)})"
        if self.form == "method":
            return f"{lhs} = {a[0]}.{PUBLIC_METHODS.get(self.name, self.name)}({', '.join(a[1:])})"
        if self.form == "inplace":
            return f"{a[0]}.{self.name}_({', '.join(a[1:])})"
        if self.form == "iop":
            return f"{a[0]} {OPERATORS[self.name][2]}= {a[1]}"
        if len(self.args) == 1:
            sym = UNARY_OPERATORS[self.name][1]
            return f"{lhs} = {sym}({a[0]})" if sym == "abs" else f"{lhs} = {sym}{a[0]}"
        return f"{lhs} = {a[0]} {OPERATORS[self.name][2]} {a[1]}"

    def __repr__(self) -> str:
        return self.source()


class Program:
    """A random op program with its inputs; see the module docstring.

    Attributes: ``inputs`` (list of :class:`Input`), ``steps`` (list of :class:`Step`),
    ``outputs`` (variable names returned), ``weights`` (per float output, the fixed
    cotangent used for gradients: ``loss = sum((out.float() * w).sum())``).
    """

    def __init__(self, inputs, steps, outputs, weights, notes=()) -> None:
        self.inputs = list(inputs)
        self.steps = list(steps)
        self.outputs = list(outputs)
        self.weights = dict(weights)
        self.notes = tuple(notes)  # facts the generator knows (e.g. "torch-inplace-saved")

    # ------------------------------------------------------------------ printing
    def source(self) -> str:
        lines = [f"def program({', '.join(repr(i) for i in self.inputs)}):"]
        lines += [f"    {s.source()}" for s in self.steps]
        lines.append(f"    return {', '.join(self.outputs)}")
        arrays = "\n".join(
            f"#   {i.name} = np.array({i.array.tolist()!r}, dtype='{i.array.dtype.name}')" for i in self.inputs
        )
        return "\n".join(lines) + "\n# inputs:\n" + arrays

    __repr__ = source

    @property
    def grad_inputs(self) -> list[str]:
        return [i.name for i in self.inputs if i.requires_grad]

    def ops(self) -> list[str]:
        return [s.name for s in self.steps]

    # ------------------------------------------------------------------ eagerjax
    def tensors(self) -> list:
        """Fresh eagerjax input tensors (a new set for every run: programs may mutate inputs)."""
        import eagerjax as ej

        return [ej.tensor(i.array.copy(), requires_grad=i.requires_grad) for i in self.inputs]

    def run(self, *tensors, fw=None) -> list:
        """Run the steps on ``tensors`` (eagerjax by default, or ``fw``) and return the outputs."""
        env = {i.name: t for i, t in zip(self.inputs, tensors)}
        fw = fw or _EJ
        for s in self.steps:
            _exec(fw, s, env)
        return [env[n] for n in self.outputs]

    def step_fn(self, grads: str = "grad"):
        """``f(*inputs) -> (outputs, grads)``: the program plus gradients of the weighted loss.

        ``grads="grad"`` uses ``autograd.grad``; ``"none"`` returns no gradients.
        """
        import eagerjax as ej

        def step(*tensors):
            outs = self.run(*tensors)
            if grads == "none":
                return outs, []
            loss = _loss(ej, outs, self.outputs, self.weights, lambda o: o.requires_grad)
            want = [t for i, t in zip(self.inputs, tensors) if i.requires_grad]
            if loss is None or not want:
                return outs, [ej.zeros_like(t) for t in want]
            g = ej.autograd.grad(loss, want, allow_unused=True)
            return outs, [ej.zeros_like(w) if x is None else x for w, x in zip(want, g)]

        return step

    # ------------------------------------------------------------------ jax reference
    def reference(self, arrays=None, grads: bool = True):
        """``(outputs, grads)`` computed with the rows' pure jax functions (gradients by ``jax.grad``)."""
        arrays = [jnp.asarray(i.array) for i in self.inputs] if arrays is None else [jnp.asarray(a) for a in arrays]
        pos = [k for k, i in enumerate(self.inputs) if i.requires_grad]
        if not grads or not pos:
            return self._ref_run(arrays), []

        def loss(*gv):
            a = list(arrays)
            for k, v in zip(pos, gv):
                a[k] = v
            outs = self._ref_run(a)
            out = _loss(_JNP, outs, self.outputs, self.weights, lambda o: True)
            return (jnp.zeros((), jnp.float32) if out is None else out), outs

        # one op-by-op forward pass gives the outputs (aux) and the gradients
        (_, outs), g = jax.value_and_grad(loss, argnums=tuple(range(len(pos))), has_aux=True)(*[arrays[k] for k in pos])
        return outs, list(g)

    def _ref_run(self, arrays):
        env = {i.name: a for i, a in zip(self.inputs, arrays)}
        for s in self.steps:
            ref_step(s, env)
        return [env[n] for n in self.outputs]

    # ------------------------------------------------------------------ torch
    def torch(self, grads: bool = True):
        """``(outputs, grads, requires_grad flags)`` from PyTorch; grads ``None`` when torch refuses
        the backward (an in-place write to a saved tensor, a derivative torch lacks)."""
        import torch

        ts = []
        for i in self.inputs:
            t = torch.from_numpy(i.array.copy())
            if t.dtype == torch.int32:
                t = t.long()
            ts.append(t.requires_grad_(i.requires_grad))
        outs = self.run(*ts, fw=_Torch)
        flags = [bool(getattr(o, "requires_grad", False)) for o in outs]
        if not grads:
            return outs, None, flags
        want = [t for i, t in zip(self.inputs, ts) if i.requires_grad]
        loss = _loss(torch, outs, self.outputs, self.weights, lambda o: o.requires_grad)
        if loss is None or not want:
            return outs, [torch.zeros_like(t) for t in want], flags
        try:
            g = torch.autograd.grad(loss, want, allow_unused=True)
        except (RuntimeError, NotImplementedError) as e:
            if "inplace" in str(e) or "not implemented" in str(e):
                return outs, None, flags
            raise
        return outs, [torch.zeros_like(w) if x is None else x for w, x in zip(want, g)], flags


# --------------------------------------------------------------------------- execution


def _loss(ns, outs, names, weights, use):
    """``sum((out.float() * w).sum())`` over the float outputs ``use`` accepts."""
    total = None
    for n, o in zip(names, outs):
        w = weights.get(n)
        if w is None or not use(o):
            continue
        if ns is _JNP:
            term = jnp.sum(o.astype(jnp.float32) * jnp.asarray(w))
        else:
            term = (o.float() * ns.tensor(w)).sum()
        total = term if total is None else total + term
    return total


class _JNP:
    """Marker namespace for the jax reference."""


def _resolve(fw, a, env):
    if isinstance(a, Ref):
        return env[a.var]
    if isinstance(a, Dtype):
        return fw.dtype(a.name)
    if isinstance(a, list):
        return [_resolve(fw, x, env) for x in a]
    if isinstance(a, tuple):
        return tuple(_resolve(fw, x, env) for x in a)
    return a


def _exec(fw, s: Step, env: dict) -> None:
    args = [_resolve(fw, a, env) for a in s.args]
    kw = {k: _resolve(fw, v, env) for k, v in s.kwargs.items()}
    if s.form == "fn":
        out = fw.function(s.name)(*args, **kw)
    elif s.form == "method":
        out = fw.method(args[0], PUBLIC_METHODS.get(s.name, s.name))(*args[1:], **kw)
    elif s.form == "inplace":
        out = getattr(args[0], s.name + "_")(*args[1:], **kw)
    elif s.form == "iop":
        out = OPERATORS[s.name][1](args[0], args[1])
    elif len(args) == 1:
        out = UNARY_OPERATORS[s.name][0](args[0])
    else:
        out = OPERATORS[s.name][0](args[0], args[1])
    if s.form in ("inplace", "iop"):
        env[s.args[0].var] = out
    elif not s.multi:
        env[s.outs[0]] = out
    else:
        out = tuple(out)
        assert len(out) == len(s.outs), f"{s.source()}: {len(out)} results"
        env.update(zip(s.outs, out))


class _EJ:
    @staticmethod
    def function(name):
        import eagerjax as ej

        if hasattr(ej, name):
            return getattr(ej, name)
        return getattr(ej.nn.functional, name)

    @staticmethod
    def method(t, name):
        return getattr(t, name)

    @staticmethod
    def dtype(name):
        import eagerjax as ej

        return getattr(ej, name)


def _as_float32(f):
    """torch's float_power computes and returns float64; eagerjax's returns float32 (JAX's default
    32-bit mode). The torch run continues from the float32 result, as eagerjax does: a float64 value
    fed to an op that needs equal dtypes (dot, scatter_add) fails in torch (thorough run)."""

    def call(*a, **k):
        out = f(*a, **k)
        return out.float() if str(out.dtype) == "torch.float64" else out

    return call


class _Torch:
    @staticmethod
    def function(name):
        import torch

        if name.startswith("special_"):
            return getattr(torch.special, name[8:])
        if name == "float_power":
            return _as_float32(torch.float_power)
        if hasattr(torch, name):
            return getattr(torch, name)
        return getattr(torch.nn.functional, name)

    @staticmethod
    def method(t, name):
        return _as_float32(t.float_power) if name == "float_power" else getattr(t, name)

    @staticmethod
    def dtype(name):
        import torch

        return getattr(torch, name)


# --------------------------------------------------------------------------- the jax reference


_CAT = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}


def torch_promote(arrays: list, scalars: list):
    """torch.result_type for tensors (``arrays``; 0-d ones rank below shaped ones) and Python numbers.

    Written independently of ``eagerjax._dtypes`` so the reference checks it.
    """
    shaped = [np.dtype(a.dtype) for a in arrays if a.ndim]
    zero = [np.dtype(a.dtype) for a in arrays if not a.ndim]
    res, cat = None, -1
    for group in (shaped, zero):
        if group:
            g = group[0]
            for d in group[1:]:
                g = np.dtype(jnp.promote_types(g, d))
            if _CAT[g.kind] > cat:
                res, cat = g, _CAT[g.kind]
    if scalars:
        sc = max(0 if isinstance(s, bool) else 1 if isinstance(s, int) else 2 for s in scalars)
        if sc > cat:
            res = {0: np.dtype("bool"), 1: np.dtype("int32"), 2: np.dtype("float32")}[sc]
    return res


def _dyn_scalars(row, args, kwargs) -> list:
    out = [a for i, a in enumerate(args) if type(a) in (int, float, bool) and i in row.scalars]
    return out + [v for k, v in kwargs.items() if type(v) in (int, float, bool) and k in row.scalars]


def ref_call(name: str, args: list, kwargs: dict):
    """Call row ``name``'s pure function the way dispatch does: torch promotion when tensor dtypes differ."""
    row = OPS[name]
    if not row.differentiable:  # what eagerjax records: no gradient flows through this row
        args = jax.tree_util.tree_map(lambda a: jax.lax.stop_gradient(a) if hasattr(a, "dtype") else a, args)
        kwargs = jax.tree_util.tree_map(lambda a: jax.lax.stop_gradient(a) if hasattr(a, "dtype") else a, kwargs)
    if row.promote:
        arrays = [a for a in args if hasattr(a, "dtype")] + [v for v in kwargs.values() if hasattr(v, "dtype")]
        arrays += [x for a in args if isinstance(a, list) for x in a if hasattr(x, "dtype")]
        if len({np.dtype(a.dtype) for a in arrays}) > 1:
            to = torch_promote(arrays, _dyn_scalars(row, args, kwargs))

            def cast(a):
                if isinstance(a, list):
                    return [cast(x) for x in a]
                return a.astype(to) if hasattr(a, "dtype") else a

            args = [cast(a) for a in args]
            kwargs = {k: cast(v) for k, v in kwargs.items()}
    return row.fn(*args, **kwargs)


def ref_step(s: Step, env: dict):
    """Run one step on jax arrays in ``env`` (in-place: the result cast to the target's dtype)."""
    args = [_resolve(_JaxDt, a, env) for a in s.args]
    kw = {k: _resolve(_JaxDt, v, env) for k, v in s.kwargs.items()}
    args = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    out = ref_call(s.name, args, kw)
    if s.form in ("inplace", "iop"):
        tgt = env[s.args[0].var]
        env[s.args[0].var] = jnp.asarray(out).astype(tgt.dtype)
    elif not s.multi:
        env[s.outs[0]] = out
    else:
        env.update(zip(s.outs, tuple(out)))
    return out


class _JaxDt:
    @staticmethod
    def dtype(name):
        return np.dtype(name)
