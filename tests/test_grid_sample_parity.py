"""``F.grid_sample`` and ``F.affine_grid`` against torch 2.13, eagerly, inside ``ej.compile`` and
under ``ej.lazy()``: values and gradients with respect to the input and the grid.

- every interpolation (bilinear, nearest, bicubic; 3-D for the first two), padding mode and
  ``align_corners``, with grid points exactly on the edges (±1), beyond them, on the
  reflection's own boundaries, several reflections away, and strictly inside;
- the padding's clip passes the grid's gradient strictly inside only (torch counts the bounds
  as out of bounds), so the identity spatial transformer's theta gradient is torch's;
- ``affine_grid`` rounds its base grid as torch's ``linspace`` does;
- bicubic is 2-D only, with torch's error for 5-D input.
"""

from __future__ import annotations

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")
MODES = ("eager", "compile", "lazy")
# normalized coordinates on and beyond the edges: exactly representable, so every formula for
# the pixel position gives the same float (and the same floor) as torch's
EDGES = np.array([-1.0, 1.0, -1.25, 1.25, 1.3, -1.3, 2.6, -3.0, 3.0, 0.0, 0.5, -0.5, 1.5, -2.25], np.float32)


def _grid(rng, shape):
    """Half the coordinates from ``EDGES``, half random inside."""
    inner = rng.uniform(-0.95, 0.95, shape).astype(np.float32)
    edge = rng.choice(EDGES, shape).astype(np.float32)
    return np.where(rng.random(shape) < 0.5, edge, inner).astype(np.float32)


def _run(mode, fn, *args):
    if mode == "compile":
        return ej.compile(fn)(*args)
    if mode == "lazy":
        with ej.lazy():
            return fn(*args).clone()
    return fn(*args)


def _sample(lib, run_mode, x, g, w, **kw):
    """Output of ``grid_sample`` and the gradients of ``(out * w).sum()`` w.r.t. input and grid."""
    xt = lib.tensor(x, requires_grad=True)
    gt = lib.tensor(g, requires_grad=True)
    wt = lib.tensor(w)

    def step(xt, gt):
        out = lib.nn.functional.grid_sample(xt, gt, **kw)
        (out * wt).sum().backward()
        return out.detach()

    out = step(xt, gt) if lib is torch else _run(run_mode, step, xt, gt)
    return [np.asarray(a.detach().numpy()) for a in (out, xt.grad, gt.grad)]


CASES = [
    (dims, interp, pad, ac)
    for dims, interps in ((2, ("bilinear", "nearest", "bicubic")), (3, ("bilinear", "nearest")))
    for interp in interps
    for pad in ("zeros", "border", "reflection")
    for ac in (True, False)
]


@pytest.mark.parametrize("dims,interp,pad,ac", CASES)
def test_grid_sample_values_and_gradients_match_torch(dims, interp, pad, ac):
    rng = np.random.default_rng(CASES.index((dims, interp, pad, ac)))
    if dims == 2:
        x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
        g = _grid(rng, (2, 6, 7, 2))
    else:
        x = rng.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
        g = _grid(rng, (2, 3, 4, 5, 3))
    kw = dict(mode=interp, padding_mode=pad, align_corners=ac)
    w = rng.standard_normal((x.shape[:2]) + g.shape[1:-1]).astype(np.float32)
    ref = _sample(torch, None, x, g, w, **kw)
    if interp == "bilinear" and pad != "zeros":  # edge points get no grid gradient from the clip
        assert (ref[2] == 0).any() and (ref[2] != 0).any()
    elif interp == "nearest":
        assert not ref[2].any()
    for mode in MODES:
        got = _sample(ej, mode, x, g, w, **kw)
        for what, a, b in zip(("output", "input grad", "grid grad"), got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5, err_msg=f"{mode} {what}")


@pytest.mark.parametrize("pad", ["border", "reflection"])
@pytest.mark.parametrize("ac", [True, False])
def test_edge_points_get_torchs_grid_gradient(pad, ac):
    """The audit's points (on ±1, beyond, just inside) one by one: zero gradient at and beyond
    the bound, the reflected sign inside."""
    x = (np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4) ** 1.5).astype(np.float32)
    g = np.array([[[[1.0, -1.0], [-1.0, 0.3], [0.2, 1.0], [1.3, 0.5], [0.99, -0.2]]]], np.float32)
    w = np.ones((1, 1, 1, 5), np.float32)
    kw = dict(padding_mode=pad, align_corners=ac)
    ref = _sample(torch, None, x, g, w, **kw)
    for mode in MODES:
        got = _sample(ej, mode, x, g, w, **kw)
        np.testing.assert_allclose(got[2], ref[2], rtol=1e-5, atol=1e-5, err_msg=mode)
        assert got[2][0, 0, 0].tolist() == [0.0, 0.0]  # (1, -1): a corner, no gradient


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad", ["border", "reflection", "zeros"])
def test_identity_spatial_transformer_theta_gradient(mode, pad):
    """affine_grid(identity, align_corners=True) puts points on ±1 and on pixel centres: theta's
    gradient through grid_sample is torch's (it needs torch's rounding of the base grid)."""
    rng = np.random.default_rng(3)
    th = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]] * 2, np.float32)
    xx = rng.standard_normal((2, 2, 5, 6)).astype(np.float32)
    grads = []
    for lib in (torch, ej):
        t = lib.tensor(th, requires_grad=True)

        def step(t, lib=lib):
            grid = lib.nn.functional.affine_grid(t, [2, 2, 5, 6], align_corners=True)
            out = lib.nn.functional.grid_sample(lib.tensor(xx), grid, padding_mode=pad, align_corners=True)
            out.pow(2).sum().backward()
            return out.detach()

        step(t) if lib is torch else _run(mode, step, t)
        grads.append(np.asarray(t.grad.numpy()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("ac", [True, False])
@pytest.mark.parametrize("size", [[2, 1, 5, 6], [1, 3, 7, 10], [1, 1, 33, 17], [1, 1, 3, 4, 6], [1, 1, 9, 2, 11]])
def test_affine_grid_identity_is_torchs_bit_for_bit(size, ac):
    k = len(size) - 2
    th = np.repeat(np.eye(k, k + 1, dtype=np.float32)[None], size[0], 0)
    ref = torch.nn.functional.affine_grid(torch.tensor(th), size, align_corners=ac).numpy()
    for mode in MODES:
        got = _run(mode, lambda t: ej.nn.functional.affine_grid(t, size, align_corners=ac), ej.tensor(th))
        np.testing.assert_array_equal(np.asarray(got.numpy()), ref, err_msg=mode)


def test_bicubic_values_and_the_5d_error():
    """On a pixel centre bicubic gives that pixel; between them torch's cubic convolution
    (a = -0.75); 5-D input raises torch's error."""
    x = np.tile((np.arange(8, dtype=np.float32) ** 2)[None, None, None], (1, 1, 3, 1))
    g = np.array([[[[0.1, 0.0], [-0.3, 0.0], [-1 + 2 / 7 * 3, 0.0]]]], np.float32)
    ref = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(g), mode="bicubic", align_corners=True)
    for mode in MODES:
        got = _run(
            mode,
            lambda a, b: ej.nn.functional.grid_sample(a, b, mode="bicubic", align_corners=True),
            ej.tensor(x),
            ej.tensor(g),
        )
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, err_msg=mode)
        np.testing.assert_allclose(np.asarray(got.numpy())[0, 0, 0, 2], 9.0, rtol=1e-5)
    for lib in (torch, ej):
        with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
            lib.nn.functional.grid_sample(
                lib.zeros(1, 1, 2, 2, 2), lib.zeros(1, 1, 1, 1, 3), mode="bicubic", align_corners=False
            )
