"""``torch.fft`` rows: discrete Fourier transforms, their frequencies and shifts.

Rows are named ``fft_<name>`` with ``namespaces=("fft",)``, so they are public as
``ej.fft.<name>``. Real and integer inputs are promoted to float32 first (torch's
``fft`` of an int tensor is complex64 too); gradients come from JAX's transforms.
"""

from __future__ import annotations

import jax.numpy as jnp

from .. import _dtypes
from ._registry import op

_FFT = dict(function=False, method=False, namespaces=("fft",))


_HALF_NAMES = {jnp.dtype(jnp.float16): "Half", jnp.dtype(jnp.bfloat16): "BFloat16"}


def _float(x):
    """Ints compute in float32; half types raise as torch's CPU transforms (pocketfft has no
    half kernels)."""
    if x.dtype in _HALF_NAMES:
        raise RuntimeError(f"Unsupported dtype {_HALF_NAMES[x.dtype]}")
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _dims(x, dim):
    """torch's ``dim`` for the n-d transforms: None -> every dim (or the last ``len(s)``)."""
    if dim is None:
        return None
    return (dim,) if isinstance(dim, int) else tuple(dim)


def _check_n(n):
    if n is not None and n < 1:
        raise RuntimeError(f"Invalid number of data points ({n}) specified")
    return n


def _sizes(x, s, axes, half_last: bool = False):
    """torch's ``s``: -1 keeps the input's size along that dim (for the last dim of a transform
    with a real output, ``half_last``: the default length ``2 * (size - 1)``); other values
    below 1 raise."""
    if s is None:
        return None
    s = list(s)
    ax = tuple(range(-len(s), 0)) if axes is None else axes
    for i, n in enumerate(s):
        if n == -1 and i < len(ax) and -x.ndim <= ax[i] < x.ndim:
            size = x.shape[ax[i]]
            n = 2 * (size - 1) if half_last and i == len(s) - 1 else size
        s[i] = _check_n(n)
    return tuple(s)


# torch's error for a complex input of the transforms that take a real one
_REAL_INPUT = {
    "rfft": "rfft expects a real input tensor",
    "ihfft": "ihfft expects a real input tensor",
    "rfft2": "rfftn expects a real-valued input tensor",
    "rfftn": "rfftn expects a real-valued input tensor",
}


def _checked(name: str, x, norm):
    """torch's checks of the input's dtype and of ``norm`` (trace-time: every mode raises)."""
    if name in _REAL_INPUT and jnp.iscomplexobj(x):
        raise RuntimeError(f"{_REAL_INPUT[name]}, but got {_dtypes.torch_name(x.dtype)}")
    if norm not in (None, "backward", "ortho", "forward"):
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return _float(x)


def _one(name: str, fn) -> None:
    def row(x, n=None, dim=-1, norm=None):
        return fn(_checked(name, x, norm), _check_n(n), dim, norm)

    op(f"fft_{name}", row, **_FFT)


def _dims_given(name: str, dim, default_dim) -> None:
    """The 2-d transforms take no ``dim=None`` (torch's argument type is a tuple of ints)."""
    if dim is None and default_dim is not None:
        raise TypeError(f"fft_{name}(): argument 'dim' must be tuple of ints, not NoneType")


def _many(name: str, fn, default_dim, half_last: bool = False) -> None:
    def row(x, s=None, dim=default_dim, norm=None):
        _dims_given(name, dim, default_dim)
        axes = _dims(x, dim)
        if axes is None and s is not None:
            axes = tuple(range(-len(s), 0))
        return fn(_checked(name, x, norm), _sizes(x, s, axes, half_last), axes, norm)

    op(f"fft_{name}", row, **_FFT)


for _n, _f in [
    ("fft", jnp.fft.fft),
    ("ifft", jnp.fft.ifft),
    ("rfft", jnp.fft.rfft),
    ("irfft", jnp.fft.irfft),
    ("hfft", jnp.fft.hfft),
    ("ihfft", jnp.fft.ihfft),
]:
    _one(_n, _f)
for _n, _f in [("fft2", jnp.fft.fftn), ("ifft2", jnp.fft.ifftn), ("rfft2", jnp.fft.rfftn)]:
    _many(_n, _f, (-2, -1))
for _n, _f in [("fftn", jnp.fft.fftn), ("ifftn", jnp.fft.ifftn), ("rfftn", jnp.fft.rfftn)]:
    _many(_n, _f, None)
_many("irfft2", jnp.fft.irfftn, (-2, -1), half_last=True)
_many("irfftn", jnp.fft.irfftn, None, half_last=True)


def _freq(fn, name: str):
    def row(n, d=1.0, *, dtype=None):
        dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
        if jnp.issubdtype(dt, jnp.complexfloating):
            raise NotImplementedError(f"\"arange_cpu\" not implemented for '{_dtypes.torch_name(dt)}'")
        if not jnp.issubdtype(dt, jnp.floating):
            raise RuntimeError(f"{name} requires a floating point or complex dtype")
        return fn(n, d).astype(dt)

    return row


op("fft_fftfreq", _freq(jnp.fft.fftfreq, "fftfreq"), differentiable=False, **_FFT)
op("fft_rfftfreq", _freq(jnp.fft.rfftfreq, "rfftfreq"), differentiable=False, **_FFT)
op("fft_fftshift", lambda x, dim=None: jnp.fft.fftshift(x, _dims(x, dim)), **_FFT)
op("fft_ifftshift", lambda x, dim=None: jnp.fft.ifftshift(x, _dims(x, dim)), **_FFT)
