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


def _float(x):
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32)


def _dims(x, dim):
    """torch's ``dim`` for the n-d transforms: None -> every dim (or the last ``len(s)``)."""
    if dim is None:
        return None
    return (dim,) if isinstance(dim, int) else tuple(dim)


def _one(name: str, fn) -> None:
    op(f"fft_{name}", lambda x, n=None, dim=-1, norm=None: fn(_float(x), n, dim, norm), **_FFT)


def _many(name: str, fn, default_dim) -> None:
    def row(x, s=None, dim=default_dim, norm=None):
        axes = _dims(x, dim)
        if axes is None and s is not None:
            axes = tuple(range(-len(s), 0))
        return fn(_float(x), s, axes, norm)

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
for _n, _f in [("fft2", jnp.fft.fftn), ("ifft2", jnp.fft.ifftn), ("rfft2", jnp.fft.rfftn), ("irfft2", jnp.fft.irfftn)]:
    _many(_n, _f, (-2, -1))
for _n, _f in [("fftn", jnp.fft.fftn), ("ifftn", jnp.fft.ifftn), ("rfftn", jnp.fft.rfftn), ("irfftn", jnp.fft.irfftn)]:
    _many(_n, _f, None)


def _freq(fn):
    def row(n, d=1.0, *, dtype=None):
        return fn(n, d).astype(_dtypes.to_dtype(dtype) or _dtypes.get_default_dtype())

    return row


op("fft_fftfreq", _freq(jnp.fft.fftfreq), differentiable=False, **_FFT)
op("fft_rfftfreq", _freq(jnp.fft.rfftfreq), differentiable=False, **_FFT)
op("fft_fftshift", lambda x, dim=None: jnp.fft.fftshift(x, _dims(x, dim)), **_FFT)
op("fft_ifftshift", lambda x, dim=None: jnp.fft.ifftshift(x, _dims(x, dim)), **_FFT)
