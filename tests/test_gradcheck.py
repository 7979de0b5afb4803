"""``autograd.gradcheck`` / ``gradgradcheck``: they pass correct gradients and catch wrong
ones. The float64 checks run in a subprocess with x64 enabled (it must be set before
JAX starts); in this process (float32) the check warns as torch does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import eagerjax as ej


def _functions():
    class Square(ej.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x

    class HalfSquare(Square):  # a backward missing its factor 2
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    return Square, HalfSquare


def test_float32_warns_like_torch_and_loose_tolerances_work():
    square, half = _functions()
    x = ej.tensor([0.5, -1.25, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double precision"):
        assert ej.autograd.gradcheck(square.apply, (x,), eps=1e-2, atol=1e-2)
    with pytest.warns(UserWarning, match="not a double precision"):
        with pytest.raises(
            ej.autograd.gradcheck.GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"
        ):
            ej.autograd.gradcheck(half.apply, (x,), eps=1e-2, atol=1e-2)
    with pytest.warns(UserWarning, match="not a double precision"):
        assert ej.autograd.gradcheck(half.apply, (x,), eps=1e-2, atol=1e-2, raise_exception=False) is False
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        ej.autograd.gradcheck(ej.sin, (ej.ones(3),))


_X64 = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import eagerjax as ej
    from eagerjax.autograd import gradcheck, gradgradcheck
    rng = np.random.default_rng(0)
    x = ej.tensor(rng.standard_normal(3), dtype=ej.float64, requires_grad=True)
    w = ej.tensor(rng.standard_normal((3, 2)), dtype=ej.float64, requires_grad=True)
    assert x.dtype == ej.float64
    # several outputs, several inputs, backward and forward mode
    assert gradcheck(lambda a, b: ((a.sin() @ b).tanh(), (a * 2).sum()), (x, w), check_forward_ad=True)
    assert gradgradcheck(lambda a, b: (a.sin() @ b).tanh(), (x, w))
    m = ej.nn.Sequential(ej.nn.Linear(3, 4), ej.nn.Tanh(), ej.nn.Linear(4, 2)).double()
    assert gradcheck(m, (x.reshape(1, 3),))
    # a custom Function's backward, to first and second order
    class Cube(ej.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g * a**2

    assert gradcheck(Cube.apply, (x,)) and gradgradcheck(Cube.apply, (x,))
    # a backward whose dependence on its output gradient is wrong: only the second-order
    # check with respect to grad_outputs can see it
    class DetachedGrad(ej.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * g.detach() * a**2

    assert gradcheck(DetachedGrad.apply, (x,))
    assert not gradgradcheck(DetachedGrad.apply, (x,), raise_exception=False)
    print("ok")
    """
)


def test_float64_checks_in_a_subprocess():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", _X64], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().endswith("ok")
