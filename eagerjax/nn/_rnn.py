"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM`` (with ``proj_size``) and ``GRU``, torch-exact.

Parameters have torch's names, shapes and order (``weight_ih_l{k}``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, ``weight_hr_l{k}`` and
their ``_reverse`` twins; gates stacked i,f,g,o for LSTM and r,z,n for GRU), so
a torch ``state_dict`` loads as is. The whole stack — every layer, both
directions, the dropout between layers — is ONE row of ``_ops/_nn_seq.py``:
each layer-direction is a ``lax.scan`` over time of a Flax cell fed the torch
weights, so an eager forward is one cached compiled call and its backward one
cached VJP. A ``PackedSequence`` input runs the masked twin of that row
(``_ops/_packed.py``, via ``_rnn_utils._rnn_forward_packed``). Only shapes and
dtypes are checked here (no host reads), so the layers also run under
``ej.compile`` and lazy mode.
"""

from __future__ import annotations

import math
import numbers
import warnings

from .. import _autocast
from .._autograd import no_grad
from .._dispatch import dispatch
from .._generate import _torch_name
from .._ops._registry import OPS
from .._tensor import Parameter, Tensor
from ._attention import _draw_many, _empty
from ._module import Module
from ._rnn_utils import PackedSequence, _rnn_forward_packed

__all__ = ["RNNBase", "RNN", "LSTM", "GRU"]

_RNN = OPS["_rnn"]
_RNN_DROP = OPS["_rnn_dropout"]
_UNIFORM_MANY = OPS["_uniform_many"]


class RNNBase(Module):
    """Shared constructor, parameters and forward of ``RNN``/``LSTM``/``GRU`` (``mode`` as in torch)."""

    __constants__ = [
        "mode",
        "input_size",
        "hidden_size",
        "num_layers",
        "bias",
        "batch_first",
        "dropout",
        "bidirectional",
        "proj_size",
    ]

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1

        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")

        if mode == "LSTM":
            gate_size = 4 * hidden_size
        elif mode == "GRU":
            gate_size = 3 * hidden_size
        elif mode in ("RNN_TANH", "RNN_RELU"):
            gate_size = hidden_size
        else:
            raise ValueError("Unrecognized RNN mode: " + mode)

        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        real_hidden = proj_size if proj_size > 0 else hidden_size
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                suffix = "_reverse" if direction == 1 else ""
                params = [
                    (f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                    (f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)),
                ]
                if bias:
                    params += [(f"bias_ih_l{layer}{suffix}", (gate_size,)), (f"bias_hh_l{layer}{suffix}", (gate_size,))]
                if proj_size > 0:
                    params.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in params:
                    setattr(self, name, Parameter(_empty(shape, dtype)))
                self._flat_weights_names.extend(n for n, _ in params)
                self._all_weights.append([n for n, _ in params])
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, w) for w in ws] for ws in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op (cuDNN weight packing has no meaning here)."""

    def reset_parameters(self) -> None:
        """Every weight ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.

        All weights come from one draw of the global generator (one compiled random
        kernel per configuration rather than one per weight shape).
        """
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        params = list(self.parameters())
        by_dtype: dict = {}
        for p in params:
            by_dtype.setdefault(p.dtype, []).append(p)
        with no_grad():
            for dt, ps in by_dtype.items():
                samples = _draw_many(
                    _UNIFORM_MANY,
                    (),
                    {
                        "shapes": tuple(tuple(p.shape) for p in ps),
                        "dtype": dt,
                        "low": -float(stdv),
                        "high": float(stdv),
                    },
                )
                for p, s in zip(ps, samples):
                    p._assign(s._read())

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ------------------------------------------------------------------ checks
    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() not in (2, 3):
            name = type(self).__name__ if self.mode in ("LSTM", "GRU") else "RNN"
            tail = " tensor instead" if self.mode not in ("LSTM", "GRU") else " instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{tail}")

    def _check_input(self, input: Tensor) -> None:
        wdt = self.weight_ih_l0.dtype
        if input.dtype != wdt and not _autocast.casts(self.mode.lower(), input, self.weight_ih_l0):
            raise ValueError(
                f"RNN input dtype ({_torch_name(input.dtype)}) does not match weight dtype ({_torch_name(wdt)}). "
                f"Convert input: input.to({_torch_name(wdt)}), or convert model: model.to({_torch_name(input.dtype)})"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}"
            )

    def _expected_hidden(self, input: Tensor, batched: bool, cell: bool) -> tuple:
        d = 2 if self.bidirectional else 1
        size = self.hidden_size if (cell or self.proj_size == 0) else self.proj_size
        if not batched:
            return (self.num_layers * d, size)
        n = input.shape[0] if self.batch_first else input.shape[1]
        return (self.num_layers * d, n, size)

    @staticmethod
    def _check_hidden(hx: Tensor, expected: tuple, msg: str) -> None:
        if tuple(hx.shape) != expected:
            raise RuntimeError(msg.format(expected, list(hx.shape)))

    # ------------------------------------------------------------------ forward
    def _run(self, input: Tensor, hx: Tensor | None, cx: Tensor | None) -> tuple:
        p = self.dropout if self.training else 0.0
        static = {
            "mode": self.mode,
            "num_layers": int(self.num_layers),
            "bidirectional": bool(self.bidirectional),
            "has_bias": bool(self.bias),
            "proj_size": int(self.proj_size),
            "batch_first": bool(self.batch_first),
            "unbatched": input.dim() == 2,
        }
        weights = self._flat_weights
        if p > 0 and self.num_layers > 1:
            return _draw_many(_RNN_DROP, (input, hx, cx, weights), {"p": float(p), **static})
        return dispatch(_RNN, (input, hx, cx, weights), static)

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None):
        if isinstance(input, PackedSequence):
            return _rnn_forward_packed(self, input, hx, None)
        self._check_input_dim(input)
        batched = input.dim() == 3
        if hx is not None:
            if batched and hx.dim() != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor")
            if not batched and hx.dim() != 2:
                raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D tensor")
        self._check_input(input)
        if hx is not None:
            self._check_hidden(hx, self._expected_hidden(input, batched, False), "Expected hidden size {}, got {}")
            if hx.dtype != input.dtype:
                hx = hx.to(input.dtype)
        out, h_n = self._run(input, hx, None)
        return out, h_n


def _no_extra_kwargs(cls_name: str, kwargs: dict) -> None:
    """torch's errors for keywords that ``RNN``/``GRU`` do not take (``proj_size`` is LSTM's alone)."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{cls_name}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with ``act`` tanh or relu."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        **kwargs,
    ) -> None:
        _no_extra_kwargs("RNN", kwargs)
        self.nonlinearity = nonlinearity
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        **kwargs,
    ) -> None:
        _no_extra_kwargs("GRU", kwargs)
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype
        )


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o), optionally with projections (``proj_size``).

    ``forward(input, (h_0, c_0))`` returns ``output, (h_n, c_n)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None):
        if isinstance(input, PackedSequence):
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise RuntimeError("LSTM: hx must be a tuple of two tensors (h_0, c_0)")
            out, h_n, c_n = _rnn_forward_packed(self, input, *(hx if hx is not None else (None, None)))
            return out, (h_n, c_n)
        self._check_input_dim(input)
        batched = input.dim() == 3
        h0 = c0 = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise RuntimeError("LSTM: hx must be a tuple of two tensors (h_0, c_0)")
            h0, c0 = hx
            if batched and (h0.dim() != 3 or c0.dim() != 3):
                raise RuntimeError(
                    f"For batched 3-D input, hx and cx should also be 3-D but got ({h0.dim()}-D, {c0.dim()}-D) tensors"
                )
            if not batched and (h0.dim() != 2 or c0.dim() != 2):
                raise RuntimeError(
                    "For unbatched 2-D input, hx and cx should also be 2-D but got "
                    f"({h0.dim()}-D, {c0.dim()}-D) tensors"
                )
        self._check_input(input)
        if hx is not None:
            self._check_hidden(h0, self._expected_hidden(input, batched, False), "Expected hidden[0] size {}, got {}")
            self._check_hidden(c0, self._expected_hidden(input, batched, True), "Expected hidden[1] size {}, got {}")
            if h0.dtype != input.dtype:
                h0 = h0.to(input.dtype)
            if c0.dtype != input.dtype:
                c0 = c0.to(input.dtype)
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)
