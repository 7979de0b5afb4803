"""Tensor printing with torch's layout, character for character.

The rules follow torch's ``_tensor_str`` (print options: precision 4, threshold 1000,
edge items 3, line width 80):

- one formatter per tensor, built from the values that are shown (the edge items when
  the tensor is summarized): floats print as ``1.`` when every finite nonzero value is
  whole, else with 4 decimals, and in scientific notation when the finite nonzero
  magnitudes span more than 1000x, exceed 1e8, or (non-whole) fall below 1e-4;
- the column width is the widest *finite nonzero* value (nan/inf/0 do not widen it),
  and every element is right-aligned to it;
- a vector wraps at ``(80 - indent) // (width + 2)`` elements per line; a summarized
  vector shows ``" ..."`` between its edges, a summarized matrix a ``...`` row;
- suffixes (``dtype=``, ``grad_fn=``, ``requires_grad=True``) go on the last line, or on
  a new line when they would pass column 80.

Only host values are formatted here; ``_tensor.Tensor.__repr__`` decides what to read.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtypes

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80
SCI_MODE: bool | None = None  # set_printoptions(sci_mode=): None lets the values decide


class _Formatter:
    """torch's ``_Formatter``: the number style and column width for one tensor."""

    def __init__(self, a: np.ndarray) -> None:
        self.floating = a.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = a.reshape(-1)
        if not self.floating:
            if flat.size:
                self.max_width = max(1, max(len(str(v)) for v in flat.tolist()))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        absd = np.abs(vals).astype(np.float64)
        lo, hi = float(absd.min()), float(absd.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        py = vals.tolist()
        if hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4):
            self.sci_mode = True
            self.max_width = max(len(f"{v:.{PRECISION}e}") for v in py)
        elif self.int_mode:
            self.max_width = max(len(f"{v:.0f}") + 1 for v in py)
        else:
            self.max_width = max(len(f"{v:.{PRECISION}f}") for v in py)
        if SCI_MODE is not None and SCI_MODE != self.sci_mode:
            # a forced style: the column width is that style's widest value
            self.sci_mode = SCI_MODE
            if SCI_MODE:
                self.max_width = max(len(f"{v:.{PRECISION}e}") for v in py)
            elif self.int_mode:
                self.max_width = max(len(f"{v:.0f}") + 1 for v in py)
            else:
                self.max_width = max(len(f"{v:.{PRECISION}f}") for v in py)

    def format(self, v) -> str:
        if self.floating:
            if self.sci_mode:
                s = f"{v:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                s = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    s += "."
            else:
                s = f"{v:.{PRECISION}f}"
        else:
            s = str(v)
        return s.rjust(self.max_width)


def _summarized(a: np.ndarray) -> np.ndarray:
    """The values a summarized print shows (torch's ``get_summarized_data``)."""
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        if a.shape[0] > 2 * EDGEITEMS:
            return np.concatenate([a[:EDGEITEMS], a[-EDGEITEMS:]])
        return a
    rows = range(a.shape[0])
    if a.shape[0] > 2 * EDGEITEMS:
        rows = list(range(EDGEITEMS)) + list(range(a.shape[0] - EDGEITEMS, a.shape[0]))
    return np.stack([_summarized(a[i]) for i in rows])


class _ComplexFormatter:
    """torch's pair of formatters for complex values: ``real+imagj``."""

    def __init__(self, a: np.ndarray) -> None:
        self.re, self.im = _Formatter(a.real), _Formatter(a.imag)
        self.max_width = self.re.max_width + self.im.max_width + 1

    def format(self, v) -> str:
        im = (self.im.format(v.imag) + "j").lstrip()
        return self.re.format(v.real) + (im if im[0] in "+-" else "+" + im)


def _vector(a: np.ndarray, indent: int, summarize: bool, fmt) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.max_width + 2))
    if summarize and a.shape[0] > 2 * EDGEITEMS:
        data = (
            [fmt.format(v) for v in a[:EDGEITEMS].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in a[-EDGEITEMS:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _body(a: np.ndarray, indent: int, summarize: bool, fmt) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        slices = (
            [_body(a[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)]
            + ["..."]
            + [_body(a[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)]
        )
    else:
        slices = [_body(a[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def tensor_str(a: np.ndarray, indent: int) -> str:
    """The bracketed values of host array ``a`` as torch prints them."""
    if a.size == 0:
        return "[]"
    if a.dtype in (np.float16, _dtypes.bfloat16):
        a = a.astype(np.float32)
    summarize = a.size > THRESHOLD
    shown = _summarized(a) if summarize else a
    fmt = _ComplexFormatter(shown) if a.dtype.kind == "c" else _Formatter(shown)
    return _body(a, indent, summarize, fmt)


def add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """Append ``, suffix`` items, starting a new line where one would pass column 80."""
    out = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            out.append(", " + s)
            last += len(s) + 2
    out.append(")")
    return "".join(out)


def tensor_repr(
    a: np.ndarray, dtype_name: str, grad_fn: str | None, requires_grad: bool, device: str | None = None
) -> str:
    """``repr`` of a tensor with host values ``a`` (in its own dtype, named ``dtype_name``);
    ``device`` (``"cuda:0"``) is named first, as torch names a tensor off the CPU."""
    prefix = "tensor("
    indent = len(prefix)
    dt = np.dtype(a.dtype)
    default = _dtypes.get_default_dtype()
    suffixes = [] if device is None else [f"device='{device}'"]
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if dt != default:
            suffixes.append(f"dtype=torch.{dtype_name}")
        body = "[]"
    else:
        if dt not in (default, _dtypes.complex64, _dtypes.int64, _dtypes.bool_):
            suffixes.append(f"dtype=torch.{dtype_name}")
        body = tensor_str(a, indent)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return add_suffixes(prefix + body, suffixes, indent)
