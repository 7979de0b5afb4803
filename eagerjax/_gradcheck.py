"""``torch.autograd.gradcheck`` / ``gradgradcheck``: analytical gradients against central
finite differences.

The numerical Jacobian perturbs one input element at a time on the host (NumPy) and calls
the function on fresh tensors, so it measures exactly what a user's function computes; the
analytical one comes from ``autograd.grad`` with one-hot output gradients (rows), and the
forward-mode one (``check_forward_ad``) from ``forward_ad`` with one-hot tangents (columns).
As in torch, the check is only meaningful in float64: with JAX's default (x64 off)
``ej.float64`` is float32, and a warning says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ._tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """A gradient check failed (torch's ``torch.autograd.gradcheck.GradcheckError``)."""


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _outputs(func: Callable, inputs: tuple) -> list[Tensor]:
    out = _as_tuple(func(*inputs))
    return [o for o in out if isinstance(o, Tensor) and o.is_floating_point()]


def _fresh(t):
    """A new leaf holding ``t``'s value, requiring grad as ``t`` does (a function checked by
    ``gradgradcheck`` differentiates inside)."""
    return t.detach().requires_grad_(t.requires_grad) if isinstance(t, Tensor) else t


def _numerical(func, inputs: tuple, diff: list[int], eps: float) -> list[list[np.ndarray]]:
    """``J[o][i]``: d out_o / d input_i as a (numel(input_i), numel(out_o)) array."""
    from . import tensor

    plain = [_fresh(t) for t in inputs]
    jac: list[list] = []
    for pos, i in enumerate(diff):
        x = plain[i].detach().numpy()
        cols = []
        for k in range(x.size):
            outs = []
            for sign in (1, -1):
                moved = x.copy().reshape(-1)
                moved[k] += sign * eps
                args = list(plain)
                args[i] = tensor(moved.reshape(x.shape), dtype=plain[i].dtype, requires_grad=True)
                outs.append([o.detach().numpy().astype(np.float64) for o in _outputs(func, tuple(args))])
            cols.append([((a - b) / (2 * eps)).reshape(-1) for a, b in zip(*outs)])
        for o in range(len(cols[0]) if cols else 0):
            if pos == 0:
                jac.append([])
            jac[o].append(np.stack([c[o] for c in cols]) if cols else np.zeros((0, 0)))
    return jac


def _analytical(func, inputs: tuple, diff: list[int]) -> list[list[np.ndarray]]:
    from . import zeros_like
    from ._autograd import grad

    outs = _outputs(func, inputs)
    wrt = [inputs[i] for i in diff]
    jac = []
    for o in outs:
        rows = [np.zeros((t.numel(), o.numel())) for t in wrt]
        if o.requires_grad:
            for j in range(o.numel()):
                onehot = zeros_like(o).reshape(-1)
                onehot[j] = 1.0
                gs = grad(o, wrt, onehot.reshape(o.shape), retain_graph=True, allow_unused=True)
                for r, g in zip(rows, gs):
                    if g is not None:
                        r[:, j] = g.detach().numpy().reshape(-1)
        jac.append(rows)
    return jac


def _forward(func, inputs: tuple, diff: list[int]) -> list[list[np.ndarray]]:
    from . import zeros_like
    from ._forward_ad import dual_level, make_dual, unpack_dual

    plain = [t.detach() if isinstance(t, Tensor) else t for t in inputs]
    jac: list[list] = []
    for pos, i in enumerate(diff):
        cols = []
        for k in range(plain[i].numel()):
            with dual_level():
                tangent = zeros_like(plain[i]).reshape(-1)
                tangent[k] = 1.0
                args = list(plain)
                args[i] = make_dual(plain[i], tangent.reshape(plain[i].shape))
                outs = _outputs(func, tuple(args))
                col = []
                for o in outs:
                    t = unpack_dual(o).tangent
                    col.append(np.zeros(o.numel()) if t is None else t.numpy().astype(np.float64).reshape(-1))
            cols.append(col)
        for o in range(len(cols[0]) if cols else 0):
            if pos == 0:
                jac.append([])
            jac[o].append(np.stack([c[o] for c in cols]))
    return jac


def _fmt(a: np.ndarray) -> str:
    return np.array2string(a, precision=4, suppress_small=True)


def gradcheck(
    func: Callable,
    inputs: Tensor | Sequence[Tensor],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Whether ``func``'s gradients with respect to the ``inputs`` that require grad match
    central differences (``|analytical - numerical| <= atol + rtol * |numerical|``).

    Always the full ("slow mode") Jacobian comparison: ``fast_mode`` is accepted. eagerjax's
    backward never hands a Function an undefined gradient (it passes zeros), so
    ``check_undefined_grad`` has nothing to check; batched checks are not available.
    """
    if check_batched_grad or check_batched_forward_grad:
        raise NotImplementedError("eagerjax's gradcheck has no batched checks (check_batched_grad / _forward_grad)")
    inputs = _as_tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them have requires_grad=True."
        )
    for i in diff:
        t = inputs[i]
        if t.is_complex():
            raise NotImplementedError(f"eagerjax's gradcheck checks real inputs only (input #{i} is {t.dtype})")
        if np.dtype(t.dtype) != np.float64:
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or complex. This check "
                "will likely fail if all the inputs are not of double precision floating point or complex. "
                "(eagerjax: enable jax_enable_x64 before importing it to get float64.)",
                UserWarning,
                stacklevel=2,
            )

    def fail(msg: str) -> bool:
        if raise_exception:
            raise GradcheckError(msg)
        return False

    numerical = _numerical(func, inputs, diff, eps)
    checks = []
    if check_backward_ad:
        analytical = _analytical(func, inputs, diff)
        again = _analytical(func, inputs, diff)
        checks.append(("", analytical))
        for ra, rb in zip(analytical, again):
            for a, b in zip(ra, rb):
                if a.size and np.max(np.abs(a - b)) > nondet_tol:
                    return fail(
                        "Backward is not reentrant, i.e., running backward with same input and grad_output multiple "
                        "times gives different values, although analytical gradient matches numerical gradient."
                        f"The tolerance for nondeterminism was {nondet_tol}."
                    )
    if check_forward_ad:
        checks.append(("forward AD ", _forward(func, inputs, diff)))
    for what, jac in checks:
        for o, (num_o, ana_o) in enumerate(zip(numerical, jac)):
            for pos, (n, a) in enumerate(zip(num_o, ana_o)):
                if not np.allclose(a, n, rtol=rtol, atol=atol):
                    return fail(
                        f"{what}Jacobian mismatch for output {o} with respect to input {diff[pos]},\n"
                        f"numerical:{_fmt(n)}\nanalytical:{_fmt(a)}\n"
                    )
    return True


def gradgradcheck(
    func: Callable,
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """``gradcheck`` of the vector-Jacobian product of ``func`` (second derivatives): the
    gradients of ``func``'s outputs weighted by ``grad_outputs`` (random normal ones that
    require grad when None, as in torch), checked with respect to the inputs and to every
    output gradient that requires grad."""
    from . import randn_like
    from ._autograd import grad

    if check_fwd_over_rev:
        raise NotImplementedError("eagerjax's gradgradcheck has no forward-over-reverse check")
    inputs = _as_tuple(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(randn_like(o.detach()).requires_grad_() for o in outs)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]

    def vjp(*args):
        ins, gos = args[:n], args[n:]
        ys = _outputs(func, ins)
        gs = grad(ys, [ins[i] for i in diff], gos, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(
        vjp,
        inputs + grad_outputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_backward_ad=check_rev_over_rev,
        fast_mode=fast_mode,
    )
