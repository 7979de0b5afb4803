"""Single-step recurrent cells: ``RNNCell`` (tanh/relu), ``LSTMCell`` and ``GRUCell``.

Parameters have torch's names and layouts (``weight_ih`` ``(G*H, input_size)``,
``weight_hh`` ``(G*H, H)``, ``bias_ih``, ``bias_hh``; gates i,f,g,o for LSTM and r,z,n
for GRU) and torch's init (every weight ``U(-1/sqrt(H), 1/sqrt(H))``, drawn like the
``RNN``/``LSTM``/``GRU`` layers), so a torch ``state_dict`` loads as is. A step is ONE
row (``_rnn_cell``): the same Flax-cell step the sequence layers scan over time.
"""

from __future__ import annotations

from .._dispatch import dispatch
from .._ops import _nn3  # noqa: F401 - registers the rows
from .._ops._registry import OPS
from .._tensor import Parameter, Tensor
from ._linear import _empty
from ._module import Module
from ._rnn import RNNBase

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_RNN_CELL = OPS["_rnn_cell"]


class RNNCellBase(Module):
    """Shared parameters, init, repr and input checks of the cells (``num_chunks`` gates)."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_empty((num_chunks * hidden_size, input_size), dtype))
        self.weight_hh = Parameter(_empty((num_chunks * hidden_size, hidden_size), dtype))
        if bias:
            self.bias_ih = Parameter(_empty((num_chunks * hidden_size,), dtype))
            self.bias_hh = Parameter(_empty((num_chunks * hidden_size,), dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    # U(-1/sqrt(H), 1/sqrt(H)) for every parameter, from one draw (as the sequence layers)
    reset_parameters = RNNBase.reset_parameters

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _check(self, input: Tensor, states: tuple, names: tuple) -> bool:
        """torch's cell checks; returns whether the input is batched."""
        cls = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{cls}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for s, name in zip(states, names):
            if s is not None and s.dim() not in (1, 2):
                raise ValueError(f"{cls}: Expected {name} to be 1D or 2D, got {s.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        batched = input.dim() == 2
        for k, s in enumerate(states):
            if s is None:
                continue
            if batched and s.dim() == 2 and s.shape[0] != input.shape[0]:
                raise RuntimeError(f"Input batch size {input.shape[0]} doesn't match hidden{k} batch size {s.shape[0]}")
            if s.shape[-1] != self.hidden_size:
                raise RuntimeError(
                    f"hidden{k} has inconsistent hidden_size: got {s.shape[-1]}, expected {self.hidden_size}"
                )
        return batched

    def _step(self, mode: str, input: Tensor, hx: Tensor | None, cx: Tensor | None, batched: bool):
        return dispatch(
            _RNN_CELL,
            (input, hx, cx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh),
            {"mode": mode, "unbatched": not batched},
        )


class RNNCell(RNNCellBase):
    """``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with ``act`` tanh or relu."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check(input, (hx,), ("hidden",))
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._step(mode, input, hx, None, batched)


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o); ``forward(input, (h, c))`` returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = (None, None) if hx is None else hx
        batched = self._check(input, (h, c), ("hx[0]", "hx[1]"))
        h, c = self._step("LSTM", input, h, c, batched)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check(input, (hx,), ("hidden",))
        return self._step("GRU", input, hx, None, batched)
