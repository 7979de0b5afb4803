"""``torch.stft`` / ``torch.istft`` rows and the window factories they are used with.

Every argument check here depends on shapes, dtypes and static values only, so it
runs while a row is traced (eager, compiled and lazy alike) and raises torch's error.
The one value-dependent check, istft's "window overlap add min" (the NOLA condition:
the summed squared windows must not vanish anywhere in the kept signal), needs the
window's values on the host: it is the istft row's eager-only ``check=``, as index
ranges are in ``_bounds``; compiled and lazy programs divide by the zero instead.

Framing is a gather of ``(frames, n_fft)`` indices and overlap-add a scatter-add of
the same indices, so every gradient (signal, window, spectrum) comes from ``jax.vjp``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .. import _dtypes
from ._registry import op


# --------------------------------------------------------------------------- torch's words
def _tname(dtype, tensor_style: bool) -> str:
    """torch's C++ spelling of a tensor type: ``torch.FloatTensor`` or ``CPUComplexFloatType``."""
    name = _dtypes.torch_name(dtype)
    if tensor_style and np.dtype(dtype).kind != "c":
        return f"torch.{name}Tensor"
    return f"CPU{name}Type"


def _shape(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _flag(v) -> str:
    return "None" if v is None else str(int(bool(v)))


def _win_repr(window) -> str:
    return "None" if window is None else f"{_tname(window.dtype, True)}{{{_shape(window.shape)}}}"


def _is_complex(a) -> bool:
    return a is not None and jnp.issubdtype(a.dtype, jnp.complexfloating)


def _real_dtype(*arrays):
    """The float type a transform computes in: torch's promotion of the operands, at
    least float32 (XLA's FFT has no half-precision kernel; torch's CPU FFT has none either)."""
    dt = jnp.result_type(*[a.dtype for a in arrays if a is not None])
    if jnp.issubdtype(dt, jnp.complexfloating):
        dt = jnp.finfo(dt).dtype
    return jnp.promote_types(dt, jnp.float32)


def _padded_window(window, win_length: int, n_fft: int, dtype):
    """The window centred in ``n_fft`` samples (ones when None), torch's layout."""
    w = jnp.ones((win_length,), dtype) if window is None else window
    left = (n_fft - win_length) // 2
    return jnp.pad(w, (left, n_fft - win_length - left))


def _frame_index(n_frames: int, hop: int, n_fft: int):
    return np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]


# --------------------------------------------------------------------------- stft
_PAD = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _center_pad(x, pad: int, mode: str):
    if mode not in _PAD:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    n = x.shape[-1]
    view = [1, 1, n] if x.ndim == 1 else [1, *x.shape]  # torch pads a 3-d view of the input
    if mode == "reflect" and pad >= n:
        raise RuntimeError(
            "Argument #4: Padding size should be less than the corresponding input dimension, but got: "
            f"padding ({pad}, {pad}) at dimension {len(view) - 1} of input {_shape(view)}"
        )
    if mode == "circular" and pad > n:
        raise RuntimeError("Padding value causes wrapping around more than once.")
    return jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode=_PAD[mode])


def _stft(
    input,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window=None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided: bool | None = None,
    return_complex: bool | None = None,
    align_to_window: bool | None = None,
):
    x = input
    complex_in = _is_complex(x) or _is_complex(window)
    if return_complex is None and not complex_in:
        raise RuntimeError(
            "stft requires the return_complex parameter be given for real inputs, and will further require "
            "that return_complex=True in a future PyTorch release."
        )
    if center and align_to_window is not None:
        raise RuntimeError("stft align_to_window should only be set when center = false")
    if center and x.ndim >= 1:
        x = _center_pad(x, n_fft // 2, pad_mode)
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    pre = (
        f"stft({_tname(x.dtype, not _is_complex(x))}{_shape(x.shape)}, n_fft={n_fft}, hop_length={hop}, "
        f"win_length={win}, window={_win_repr(window)}, normalized={_flag(normalized)}, "
        f"onesided={_flag(onesided)}, return_complex={_flag(return_complex)}, "
        f"align_to_window={_flag(align_to_window)}) : "
    )
    if x.ndim not in (1, 2):
        raise RuntimeError(pre + "expected a 1D or 2D tensor")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise RuntimeError(pre + "expected a tensor of floating point or complex values")
    n = x.shape[-1]
    # aligned frames hold the window's own samples: the length bound is on win_length
    need = win if align_to_window else n_fft
    if not 0 < need <= n:
        raise RuntimeError(pre + f"expected 0 < n_fft < {n}, but got n_fft={need}")
    if hop <= 0:
        raise RuntimeError(pre + f"expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(pre + f"expected 0 < win_length <= n_fft, but got win_length={win}")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise RuntimeError(
            pre + f"expected a 1D window tensor of size equal to win_length={win}, "
            f"but got window with size {_shape(window.shape)}"
        )
    if onesided and complex_in:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    onesided = not complex_in if onesided is None else onesided

    rdt = _real_dtype(x, window)
    cdt = jnp.result_type(rdt, jnp.complex64)
    x = x.astype(cdt if _is_complex(x) else rdt)
    w = _padded_window(window, win, n_fft, rdt)
    w = w.astype(cdt if _is_complex(w) else rdt)
    batched = x.ndim == 2
    if not batched:
        x = x[None]
    if align_to_window:
        # frame t is centred on the window at t * hop (its zero padding reaches outside the signal)
        left = (n_fft - win) // 2
        x = jnp.pad(x, [(0, 0), (left, n_fft - win - left)])
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    frames = x[:, _frame_index(n_frames, hop, n_fft)] * w  # (B, T, n_fft)
    norm = "ortho" if normalized else "backward"
    if onesided:
        spec = jnp.fft.rfft(frames, axis=-1, norm=norm)
    else:
        spec = jnp.fft.fft(frames.astype(cdt), axis=-1, norm=norm)
    spec = jnp.swapaxes(spec, -1, -2).astype(cdt)  # (B, freq, T)
    if not batched:
        spec = spec[0]
    if return_complex is False:
        return jnp.stack([spec.real, spec.imag], axis=-1)
    return spec


op("stft", _stft)


# --------------------------------------------------------------------------- istft
def _istft_plan(input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex):
    """Validate istft's arguments in torch's words; returns the resolved ``(hop, win,
    onesided, start, end, expected_len, error_prefix)``: the kept samples are
    ``[start, end)`` of the ``expected_len`` overlap-added ones (a longer ``length`` is
    zero-padded after the division by the envelope)."""
    if not _is_complex(input):
        raise RuntimeError(
            "istft requires a complex-valued input tensor matching the output from stft with return_complex=True."
        )
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    pre = (
        f"istft({_tname(input.dtype, False)}{_shape(input.shape)}, n_fft={n_fft}, hop_length={hop}, "
        f"win_length={win}, window={_win_repr(window)}, center={_flag(center)}, normalized={_flag(normalized)}, "
        f"onesided={_flag(onesided)}, length={length}, return_complex={_flag(return_complex)}) : "
    )
    nd = input.ndim
    if nd < 2:
        top = max(nd + 1, 1)  # torch indexes the real view, which has one more dim
        raise IndexError(f"Dimension out of range (expected to be in range of [{-top}, {top - 1}], but got -3)")
    if nd > 3:
        raise RuntimeError(pre + f"expected a tensor with 3 or 4 dimensions, but got {nd + 1}")
    if input.size == 0:
        raise RuntimeError(pre + "input tensor cannot be empty.")
    if not 0 < win <= n_fft:
        raise RuntimeError(pre + "expected 0 < win_length <= n_fft")
    if not 0 < hop <= win:
        raise RuntimeError(pre + "expected 0 < hop_length <= win_length")
    if window is not None and (window.ndim != 1 or window.shape[0] != win):
        raise RuntimeError(pre + "Invalid window shape. window has to be 1D and length of `win_length`")
    fft_size = input.shape[-2]
    one = fft_size != n_fft if onesided is None else onesided
    if one and fft_size != n_fft // 2 + 1:
        raise RuntimeError(
            pre + "expected the frequency dimension (3rd to the last) of the input tensor to match n_fft / 2 + 1 "
            f"when onesided=True, but got {fft_size}"
        )
    if not one and fft_size != n_fft:
        raise RuntimeError(
            pre + "expected the frequency dimension (3rd to the last) of the input tensor to match n_fft "
            f"when onesided=False, but got {fft_size}"
        )
    if return_complex and one:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    if not return_complex and _is_complex(window):
        raise RuntimeError("Complex windows are incompatible with return_complex=False")
    expected = n_fft + hop * (input.shape[-1] - 1)
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = expected - n_fft // 2 if center else expected
    return hop, win, one, start, min(end, expected), expected, pre


def _istft(
    input,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window=None,
    center: bool = True,
    normalized: bool = False,
    onesided: bool | None = None,
    length: int | None = None,
    return_complex: bool = False,
):
    hop, win, _onesided, start, end, expected, _ = _istft_plan(
        input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex
    )
    rdt = _real_dtype(input, window)
    cdt = jnp.result_type(rdt, jnp.complex64)
    z = input.astype(cdt)
    batched = z.ndim == 3
    if not batched:
        z = z[None]
    norm = "ortho" if normalized else "backward"
    if return_complex:
        frames = jnp.fft.ifft(z, n=n_fft, axis=-2, norm=norm)
    else:
        # a real result: only the non-negative half of the spectrum is read (torch's irfft)
        frames = jnp.fft.irfft(z[:, : n_fft // 2 + 1], n=n_fft, axis=-2, norm=norm).astype(rdt)
    w = _padded_window(window, win, n_fft, rdt)
    w = w.astype(cdt if _is_complex(w) else rdt)
    frames = jnp.swapaxes(frames, -1, -2) * w  # (B, T, n_fft)
    idx = _frame_index(z.shape[-1], hop, n_fft)
    y = jnp.zeros((z.shape[0], expected), frames.dtype).at[:, idx].add(frames)
    env = jnp.zeros((expected,), w.dtype).at[idx].add(jnp.broadcast_to(w * w, idx.shape))
    y = y[:, start:end] / env[start:end]
    if length is not None and y.shape[-1] < length:
        y = jnp.pad(y, [(0, 0), (0, length - y.shape[-1])])
    return y if batched else y[0]


def _istft_nola(
    input,
    n_fft,
    hop_length=None,
    win_length=None,
    window=None,
    center=True,
    normalized=False,
    onesided=None,
    length=None,
    return_complex=False,
):
    """torch's "window overlap add min" error (eager only): the envelope of the squared
    window must not vanish inside the kept signal. It reads the window on the host."""
    hop, win, _, start, end, expected, pre = _istft_plan(
        input, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex
    )
    w = np.ones(win) if window is None else np.asarray(getattr(window, "_value", window)).astype(np.complex128)
    left = (n_fft - win) // 2
    w = np.pad(w, (left, n_fft - win - left))
    env = np.zeros(expected, np.complex128)
    np.add.at(env, _frame_index(input.shape[-1], hop, n_fft).ravel(), np.tile(w * w, input.shape[-1]))
    if np.any(np.abs(env[start:end]) < 1e-11):
        raise RuntimeError(pre.removesuffix(": ") + "window overlap add min: 1")


op("istft", _istft, check=_istft_nola)


# --------------------------------------------------------------------------- windows


def _window_factory(name: str, formula):
    """A torch window factory: ``formula(n, m)`` gives the symmetric window's values at
    ``n = 0..m-1`` in float64; periodic windows are the first ``L`` of ``L + 1``."""

    def values(window_length: int, periodic: bool, dtype, *params):
        if window_length < 0:
            raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
        dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
        if np.dtype(dt).kind != "f" and np.dtype(dt).name != "bfloat16":
            raise RuntimeError(
                f"{name} expects floating point dtypes, got: TensorOptions(dtype={_dtypes.c_type(dt)}, "
                "device=cpu, layout=Strided (default), requires_grad=false (default), pinned_memory=false, "
                "memory_format=(nullopt))"
            )
        if window_length <= 1:
            return np.ones((window_length,), dt)
        m = window_length + 1 if periodic else window_length
        return formula(np.arange(m, dtype=np.float64), m, *params)[:window_length].astype(dt)

    return values


def _cosine(n, m, alpha, beta, gamma=0.0):
    """``alpha - beta cos(2 pi n / (m-1)) + gamma cos(4 pi n / (m-1))``: hann, hamming, blackman."""
    phase = 2 * np.pi * n / (m - 1)
    return alpha - beta * np.cos(phase) + gamma * np.cos(2 * phase)


def _bartlett(n, m):
    return 1 - np.abs(2 * n / (m - 1) - 1)


def _kaiser(n, m, beta):
    half = (m - 1) / 2
    return np.i0(beta * np.sqrt(np.clip(1 - ((n - half) / half) ** 2, 0, None))) / np.i0(beta)


_HANN = _window_factory("hann_window", lambda n, m: _cosine(n, m, 0.5, 0.5))
_HAMMING = _window_factory("hamming_window", lambda n, m, a, b: _cosine(n, m, a, b))
_BLACKMAN = _window_factory("blackman_window", lambda n, m: _cosine(n, m, 0.42, 0.5, 0.08))
_BARTLETT = _window_factory("bartlett_window", _bartlett)
_KAISER = _window_factory("kaiser_window", _kaiser)


def _rows(xp):
    """The five factories with torch's signatures, producing ``xp`` arrays (NumPy for the
    eager ``host`` path, jnp constants when traced)."""

    def hann_window(
        window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False
    ):
        return xp.asarray(_HANN(window_length, periodic, dtype))

    def hamming_window(
        window_length,
        periodic=True,
        alpha=0.54,
        beta=0.46,
        *,
        dtype=None,
        layout=None,
        device=None,
        pin_memory=False,
        requires_grad=False,
    ):
        return xp.asarray(_HAMMING(window_length, periodic, dtype, alpha, beta))

    def blackman_window(
        window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False
    ):
        return xp.asarray(_BLACKMAN(window_length, periodic, dtype))

    def bartlett_window(
        window_length, periodic=True, *, dtype=None, layout=None, device=None, pin_memory=False, requires_grad=False
    ):
        return xp.asarray(_BARTLETT(window_length, periodic, dtype))

    def kaiser_window(
        window_length,
        periodic=True,
        beta=12.0,
        *,
        dtype=None,
        layout=None,
        device=None,
        pin_memory=False,
        requires_grad=False,
    ):
        return xp.asarray(_KAISER(window_length, periodic, dtype, beta))

    return [hann_window, hamming_window, blackman_window, bartlett_window, kaiser_window]


for _j, _h in zip(_rows(jnp), _rows(np)):
    op(_j.__name__, _j, host=_h, method=False, differentiable=False)
