"""``nn.utils.rnn``: ``PackedSequence`` and padding / packing of variable-length sequences.

A packed sequence's layout (``batch_sizes``, ``sorted_indices``) is host data, as in
torch (which keeps ``batch_sizes`` on the CPU): lengths are read on the host when a
sequence is packed, and every ``PackedSequence`` made here carries that layout as a
private ``_Layout`` (NumPy index arrays), so nothing downstream (``pad_packed_sequence``,
``nn.RNN``/``GRU``/``LSTM``) reads tensor values on the host. That is what lets a whole
pack -> RNN -> pad step run under ``ej.compile`` and in lazy mode. A ``PackedSequence``
built by hand from tensors gets its layout by one host read of ``batch_sizes``.

The layouts reach the rows (``_ops/_packed.py``) as dynamic integer operands, so a
kernel is keyed by shapes, not by the lengths.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

import jax
import numpy as np

from .. import _dtypes
from .._dispatch import dispatch
from .._ops._registry import OPS
from .._tensor import Tensor, _to_array
from ._attention import _draw_many

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]

_PAD = OPS["_pad_sequence"]
_GATHER = OPS["_pack_gather"]
_SCATTER = OPS["_pack_scatter"]
_UNPAD = OPS["_unpad"]
_INVERT = OPS["_invert_permutation"]
_RNN_PACKED = OPS["_rnn_packed"]
_RNN_PACKED_DROP = OPS["_rnn_packed_dropout"]

_LAYOUTS_MAX = 256


class _Layout:
    """Host description of a packed batch (sorted order = decreasing length).

    Packed row ``k`` is step ``t_idx[k]`` of sorted sequence ``b_idx[k]``, i.e. of the
    caller's sequence ``b_orig[k]``; ``lengths`` are in sorted order. Index arrays are
    int32 jax arrays made once per layout (layouts are cached by their contents).
    """

    __slots__ = ("batch_sizes", "sorted", "unsorted", "T", "B", "t_idx", "b_idx", "b_orig", "lengths")

    def __init__(self, batch_sizes: np.ndarray, sorted_: np.ndarray | None) -> None:
        bs = np.asarray(batch_sizes, np.int64)
        self.batch_sizes = bs
        self.T = len(bs)
        self.B = int(bs[0]) if len(bs) else 0
        t = np.repeat(np.arange(self.T), bs)
        b = np.arange(len(t)) - np.repeat(np.cumsum(bs) - bs, bs)
        lengths = (bs[None, :] > np.arange(self.B)[:, None]).sum(1)
        self.sorted = self.unsorted = None
        b_orig = b
        if sorted_ is not None:
            sorted_ = np.asarray(sorted_, np.int64)
            unsorted = np.empty_like(sorted_)
            unsorted[sorted_] = np.arange(len(sorted_))
            b_orig = sorted_[b]
            self.sorted, self.unsorted = _dev(sorted_), _dev(unsorted)
        self.t_idx, self.b_idx, self.b_orig, self.lengths = _dev(t), _dev(b), _dev(b_orig), _dev(lengths)

    def lengths_host(self) -> np.ndarray:
        """Each sequence's length, in the caller's order."""
        n = np.asarray(self.lengths)
        return n if self.unsorted is None else n[np.asarray(self.unsorted)]


def _dev(a: np.ndarray):
    with jax.ensure_compile_time_eval():
        return _to_array(np.asarray(a, np.int32), None)


_layouts: OrderedDict = OrderedDict()


def _layout(batch_sizes: np.ndarray, sorted_: np.ndarray | None) -> _Layout:
    bs = np.asarray(batch_sizes, np.int64)
    key = (bs.tobytes(), None if sorted_ is None else np.asarray(sorted_, np.int64).tobytes())
    lay = _layouts.get(key)
    if lay is None:
        lay = _layouts[key] = _Layout(bs, sorted_)
        if len(_layouts) > _LAYOUTS_MAX:
            _layouts.popitem(last=False)
    else:
        _layouts.move_to_end(key)
    return lay


def _int_tensor(a: np.ndarray) -> Tensor:
    """A host-known int64 (int32 without x64) tensor, concrete even while a step is traced."""
    with jax.ensure_compile_time_eval():
        return Tensor._make(_to_array(np.asarray(a, np.int64), _dtypes.int64))


def _host_ints(x, what: str) -> np.ndarray:
    """Integers known on the host. Inside ``ej.compile`` a tensor (or a Python number passed
    as a step argument, which is traced) has no host value: mark the argument static
    (``static_argnums``) or make the lengths outside the step."""
    what = f"{what} (lengths are host data; pass them with ej.compile(..., static_argnums=...))"
    if isinstance(x, Tensor):
        return np.asarray(x._concrete(what))
    if isinstance(x, (list, tuple)) and any(isinstance(v, Tensor) for v in x):
        return np.asarray([np.asarray(v._concrete(what)) if isinstance(v, Tensor) else v for v in x])
    return np.asarray(x)


# --------------------------------------------------------------------------- PackedSequence
class _PackedSequenceBase(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceBase):
    """Holds the data and list of ``batch_sizes`` of a packed sequence (torch's namedtuple).

    ``data[k]`` is in time-major packed order; ``batch_sizes[t]`` is how many sequences
    have a step ``t``. Build one with ``pack_padded_sequence`` / ``pack_sequence``.
    """

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor | None = None,
        sorted_indices: Tensor | None = None,
        unsorted_indices: Tensor | None = None,
    ) -> PackedSequence:
        if batch_sizes is None:  # torch's legacy form: PackedSequence((data, batch_sizes))
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor):
            batch_sizes = _int_tensor(np.asarray(batch_sizes))
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    @classmethod
    def _make_with(cls, data: Tensor, like: PackedSequence | None, lay: _Layout) -> PackedSequence:
        """A sequence with ``lay`` attached; its index tensors are ``like``'s, or new ones."""
        if like is not None:
            bs, s, u = like.batch_sizes, like.sorted_indices, like.unsorted_indices
        else:
            bs = _int_tensor(lay.batch_sizes)
            s = None if lay.sorted is None else _int_tensor(np.asarray(lay.sorted))
            u = None if lay.unsorted is None else _int_tensor(np.asarray(lay.unsorted))
        ps = tuple.__new__(cls, (data, bs, s, u))
        ps.__dict__["_layout"] = lay
        return ps

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data.to(...)``; the index tensors stay as they are (devices are not modelled)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return PackedSequence._make_with(data, self, _layout_of(self))

    def cuda(self, *args, **kwargs) -> PackedSequence:
        return self.to(*args, **kwargs)

    def cpu(self, *args, **kwargs) -> PackedSequence:
        return self.to(*args, **kwargs)

    def double(self) -> PackedSequence:
        return self.to(dtype=_dtypes.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=_dtypes.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=_dtypes.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=_dtypes.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=_dtypes.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=_dtypes.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=_dtypes.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=_dtypes.uint8)

    def pin_memory(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _layout_of(ps: PackedSequence) -> _Layout:
    lay = getattr(ps, "__dict__", {}).get("_layout")
    if lay is None:
        bs = _host_ints(ps.batch_sizes, "PackedSequence.batch_sizes")
        s = None if ps.sorted_indices is None else _host_ints(ps.sorted_indices, "PackedSequence.sorted_indices")
        lay = _layout(bs, s)
        if hasattr(ps, "__dict__"):
            ps.__dict__["_layout"] = lay
    return lay


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation tensor (``None`` stays ``None``)."""
    if permutation is None:
        return None
    return dispatch(_INVERT, (permutation,), {})


# --------------------------------------------------------------------------- padding / packing
def pad_sequence(
    sequences: Tensor | Iterable[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stack sequences ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` if ``batch_first``),
    padding each to the longest with ``padding_value`` on ``padding_side``."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(seqs[0].shape[1:])
    for s in seqs:
        out = (s.shape[0], *trailing)
        try:
            b = np.broadcast_shapes(out, tuple(s.shape))
        except ValueError:
            b = None
        if b != out:
            shown = list(b) if b is not None else list(s.shape)
            raise RuntimeError(f"output with shape {list(out)} doesn't match the broadcast shape {shown}")
    static = {"batch_first": bool(batch_first), "left": padding_side == "left", "trailing": trailing}
    return dispatch(_PAD, (seqs, padding_value), static)


def _lengths_arg(lengths) -> np.ndarray:
    n = _host_ints(lengths, "pack_padded_sequence(lengths)")
    if n.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {n.ndim}D cpu Long tensor")
    return n.astype(np.int64)


def pack_padded_sequence(
    input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` if ``batch_first``) of sequences
    with the given lengths (host data: a list, array or concrete tensor).

    ``enforce_sorted=True`` requires decreasing lengths; otherwise the batch is sorted
    here (stably, as torch) and ``sorted_indices``/``unsorted_indices`` record it.
    """
    n = _lengths_arg(lengths)
    order = None if enforce_sorted else np.argsort(-n, kind="stable")
    ns = n if order is None else n[order]
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    B = input.shape[0 if batch_first else 1]
    T = input.shape[1 if batch_first else 0]
    if len(n) != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(n)} (batch_size={B})")
    if ns[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
        )
    if np.any(ns[1:] > ns[:-1]):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
            "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
            "if you do not need ONNX exportability."
        )
    if ns[0] > T:
        raise RuntimeError(
            f"Expected every length in 'lengths' to be at most the padded sequence length {T}, but got {int(ns[0])}"
        )
    bs = (ns[None, :] > np.arange(ns[0])[:, None]).sum(1)
    lay = _layout(bs, order)
    data = dispatch(_GATHER, (input, lay.t_idx, lay.b_orig), {"batch_first": bool(batch_first)})
    return PackedSequence._make_with(data, None, lay)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Inverse of ``pack_padded_sequence``: ``(padded, lengths)`` in the caller's batch order,
    padded to ``total_length`` steps if given (else to the longest sequence)."""
    lay = _layout_of(sequence)
    T = lay.T
    if total_length is not None:
        if total_length < T:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {T}"
            )
        T = int(total_length)
    static = {"T": T, "B": lay.B, "batch_first": bool(batch_first)}
    padded = dispatch(_SCATTER, (sequence.data, lay.t_idx, lay.b_orig, padding_value), static)
    return padded, _int_tensor(lay.lengths_host())


def pack_sequence(sequences: Iterable[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``)."""
    seqs = list(sequences)
    lengths = [s.shape[0] for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, each cut to its length (lengths are host data)."""
    n = _host_ints(lengths, "unpad_sequence(lengths)").reshape(-1)
    static = {"lengths": tuple(int(v) for v in n), "batch_first": bool(batch_first)}
    return list(dispatch(_UNPAD, (padded_sequences,), static))


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a packed batch, in the caller's order."""
    padded, _ = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, _layout_of(packed_sequences).lengths_host(), batch_first=True)


# --------------------------------------------------------------------------- recurrent layers
def _rnn_forward_packed(module, packed: PackedSequence, h0: Tensor | None, c0: Tensor | None) -> tuple:
    """``RNN``/``GRU``/``LSTM`` on a ``PackedSequence``: ``(packed output, h_n[, c_n])``, the
    states in the caller's batch order and each taken at its sequence's own last step."""
    data = packed.data
    if data.dim() != 2:
        raise RuntimeError(f"input must have 2 dimensions, got {data.dim()}")
    module._check_input(data)
    lay = _layout_of(packed)
    lstm = module.mode == "LSTM"
    nd = module.num_layers * (2 if module.bidirectional else 1)
    exp_h = (nd, lay.B, module.proj_size or module.hidden_size)
    if h0 is not None:
        module._check_hidden(
            h0, exp_h, "Expected hidden[0] size {}, got {}" if lstm else "Expected hidden size {}, got {}"
        )
        h0 = h0 if h0.dtype == data.dtype else h0.to(data.dtype)
    if c0 is not None:
        module._check_hidden(c0, (nd, lay.B, module.hidden_size), "Expected hidden[1] size {}, got {}")
        c0 = c0 if c0.dtype == data.dtype else c0.to(data.dtype)
    static = {
        "mode": module.mode,
        "num_layers": int(module.num_layers),
        "bidirectional": bool(module.bidirectional),
        "has_bias": bool(module.bias),
        "proj_size": int(module.proj_size),
        "T": lay.T,
        "B": lay.B,
    }
    args = (data, h0, c0, module._flat_weights, lay.t_idx, lay.b_idx, lay.lengths, lay.sorted, lay.unsorted)
    p = module.dropout if module.training else 0.0
    if p > 0 and module.num_layers > 1:
        outs = _draw_many(_RNN_PACKED_DROP, args, {"p": float(p), **static})
    else:
        outs = dispatch(_RNN_PACKED, args, static)
    return (PackedSequence._make_with(outs[0], packed, lay), *outs[1:])
