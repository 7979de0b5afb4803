"""torch.func over random op programs: ``vmap`` equals running each example on its own, and
``grad`` equals ``autograd.grad`` of the same loss (both in eager mode, so what differs is
only the transform).

Profiles: see tests/conftest.py (``EAGERJAX_FUZZ=thorough`` runs many more programs).
"""

from __future__ import annotations

import numpy as np
from conftest import example_start, fuzz_settings
from hypothesis import given

import eagerjax as ej
from eagerjax import func
from eagerjax._fuzz_programs import _loss
from eagerjax.testing import assert_close, programs


def _values(t) -> np.ndarray:
    return t.detach().numpy()


@fuzz_settings(ci=4, thorough=1_000)
@given(prog=programs(dtypes=("float32", "int32"), max_ops=8))
def test_vmap_of_a_program_equals_each_example(prog):
    example_start("func.vmap programs")
    want = prog.run(*[t.detach() for t in prog.tensors()])
    # two examples: the program's inputs, and the same inputs again (valid by construction)
    batched = [ej.stack([t.detach(), t.detach()]) for t in prog.tensors()]
    got = func.vmap(lambda *xs: tuple(prog.run(*xs)))(*batched)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert tuple(g.shape) == (2, *w.shape) and g.dtype == w.dtype
        for k in range(2):
            assert_close(_values(g[k]), _values(w), equal_nan=True)


@fuzz_settings(ci=4, thorough=1_000)
@given(prog=programs(dtypes=("float32",), max_ops=8))
def test_grad_of_a_program_equals_autograd(prog):
    example_start("func.grad programs")
    want_idx = tuple(k for k, i in enumerate(prog.inputs) if i.requires_grad)
    if not want_idx:
        return
    ins = prog.tensors()
    outs = prog.run(*ins)
    loss = _loss(ej, outs, prog.outputs, prog.weights, lambda o: o.requires_grad)
    if loss is None:
        return
    want = ej.autograd.grad(loss, [ins[k] for k in want_idx], allow_unused=True)

    def f(*xs):
        return _loss(ej, prog.run(*xs), prog.outputs, prog.weights, lambda o: o.requires_grad)

    got = func.grad(f, argnums=want_idx)(*prog.tensors())
    for g, w in zip(got, want):
        assert_close(_values(g), np.zeros(g.shape, np.float32) if w is None else _values(w), equal_nan=True)
