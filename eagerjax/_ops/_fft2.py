"""``torch.fft`` Hermitian n-d rows: ``hfft2``, ``hfftn``, ``ihfft2``, ``ihfftn``.

A Hermitian-symmetric signal's FFT is the inverse real FFT of its conjugate with the
dual normalization (``backward`` <-> ``forward``, ``ortho`` unchanged), and ``ihfftn`` is
the conjugate of ``rfftn`` with the dual normalization; as in torch, the last transformed
dim is the half-spectrum one.
"""

from __future__ import annotations

import jax.numpy as jnp

from ._fft import _dims, _dims_given, _float, _sizes
from ._registry import op

_FFT = dict(function=False, method=False, namespaces=("fft",))
_DUAL = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}


def _complex_name(dt) -> str:
    return "ComplexDouble" if jnp.dtype(dt) == jnp.complex128 else "ComplexFloat"


def _axes(x, s, dim):
    axes = _dims(x, dim)
    if axes is None and s is not None:
        axes = tuple(range(-len(s), 0))
    return axes


def _norm(norm):
    if norm not in _DUAL:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return _DUAL[norm]


def _hfftn(name: str, default_dim):
    def row(x, s=None, dim=default_dim, norm=None):
        _dims_given(name, dim, default_dim)
        x = _float(x)
        axes = _axes(x, s, dim)
        return jnp.fft.irfftn(jnp.conj(x), _sizes(x, s, axes, True), axes, _norm(norm))

    row.__name__ = name
    return row


def _ihfftn(name: str, default_dim):
    def row(x, s=None, dim=default_dim, norm=None):
        _dims_given(name, dim, default_dim)
        if jnp.iscomplexobj(x):
            raise RuntimeError(f"Only supports floating-point dtypes, but found: {_complex_name(x.dtype)}")
        x = _float(x)
        axes = _axes(x, s, dim)
        return jnp.conj(jnp.fft.rfftn(x, _sizes(x, s, axes), axes, _norm(norm)))

    row.__name__ = name
    return row


op("fft_hfft2", _hfftn("hfft2", (-2, -1)), **_FFT)
op("fft_hfftn", _hfftn("hfftn", None), **_FFT)
op("fft_ihfft2", _ihfftn("ihfft2", (-2, -1)), **_FFT)
op("fft_ihfftn", _ihfftn("ihfftn", None), **_FFT)
