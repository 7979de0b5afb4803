"""``torch.special`` rows, ``mvlgamma``, ``combinations`` and ``channel_shuffle``.

Special rows are named ``special_<name>`` with ``namespaces=("special",)``, so they are
public as ``ej.special.<name>`` (never as ``ej.special_<name>`` or a Tensor method:
torch has neither). A function the table already computes under its top-level name
(``expit`` is ``sigmoid``, ``gammaln`` is ``lgamma``) is an alias of that row, so the two
names share one function. Integer and bool inputs compute in float32 (torch's default
float, like the table's other unary math); float16 inputs of the functions new here
compute in float32 and are cast back (several of JAX's reject float16).

The Bessel and Airy functions JAX lacks (``bessel_j0`` & co.; its ``bessel_jn`` is NaN for
small float32 arguments), the incomplete gamma functions and the orthogonal polynomials
are in ``_special2.py``.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import jax.scipy.special as jss

from . import _reduction  # noqa: F401 - registers logsumexp / softmax, aliased below
from ._elementwise import _BIN
from ._linalg2 import _torch_name
from ._registry import OPS, alias, op
from ._special_edges import _in_float32
from ._special_edges import _to_float as _float
from ._special_edges import zeta as _torch_zeta

_SPECIAL = dict(function=False, method=False, namespaces=("special",))


def _same(name: str, row: str) -> None:
    """``ej.special.<name>`` is the existing row ``row`` under another name."""
    alias(f"special_{name}", row, inplace=False, **_SPECIAL)


# torch.special names for functions that already have a row
SAME_AS = [
    ("expit", "sigmoid"),
    ("gammaln", "lgamma"),
    ("digamma", "digamma"),
    ("psi", "digamma"),
    ("xlogy", "xlogy"),
    ("erfc", "erfc"),
    ("erfinv", "erfinv"),
    ("i0", "i0"),
    ("log1p", "log1p"),
    ("expm1", "expm1"),
    ("exp2", "exp2"),
    ("sinc", "sinc"),
    ("round", "round"),
    ("logsumexp", "logsumexp"),
]
for _name, _row in SAME_AS:
    _same(_name, _row)


def _int_arg(v, fn: str, arg: str, pos: int) -> int:
    """torch's argument parser: a Python int (bools count), else its TypeError."""
    if not isinstance(v, int):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be int, not {type(v).__name__}")
    return int(v)


# --------------------------------------------------------------------------- unary functions
for _name, _fn in [
    ("entr", jss.entr),
    ("erfcx", jss.erfcx),
    ("i0e", jss.i0e),
    ("i1", jss.i1),
    ("i1e", jss.i1e),
    ("ndtr", jss.ndtr),
    ("ndtri", jss.ndtri),
    ("log_ndtr", jss.log_ndtr),
]:
    op(f"special_{_name}", _in_float32(_fn), **_SPECIAL)


op("special_logit", OPS["logit"].fn, **_SPECIAL)


def _polygamma(n, x):
    n = _int_arg(n, "special_polygamma", "n", 1)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return OPS["polygamma"].fn(n, x)


op("special_polygamma", _polygamma, **_SPECIAL)


def _mvlgamma_of(fn: str):
    def row(x, p):
        p = _int_arg(p, fn, "p", 2)
        if p < 1:
            raise RuntimeError("p has to be greater than or equal to 1")
        # No domain check: torch gives inf (not an error) where x <= (p - 1) / 2.
        return jss.multigammaln(_float(x), p)

    return row


op("mvlgamma", _mvlgamma_of("mvlgamma"), inplace=True)
op("special_multigammaln", _mvlgamma_of("special_multigammaln"), **_SPECIAL)


# Hurwitz zeta with torch's values at q <= 0 and x <= 1 (see _special_edges); integer
# operands compute in float32 (``promote=True`` unifies them first)
op("special_zeta", _torch_zeta, scalars=_BIN, promote=True, **_SPECIAL)


def _softmax_of(row: str):
    base = OPS[row].fn

    def f(x, dim, *, dtype=None):
        if dtype is None and not jnp.issubdtype(x.dtype, jnp.inexact):
            raise NotImplementedError(f"\"{row}_lastdim_kernel_impl\" not implemented for '{_torch_name(x.dtype)}'")
        return base(x, dim, dtype)

    return f


op("special_softmax", _softmax_of("softmax"), autocast="softmax", **_SPECIAL)
op("special_log_softmax", _softmax_of("log_softmax"), autocast="log_softmax", **_SPECIAL)


# --------------------------------------------------------------------------- combinations
def _combinations(x, r=2, with_replacement=False):
    """itertools' combinations of a 1-D tensor's elements, as rows (static shape: it only
    depends on len(x) and r, so the index table is built at trace time)."""
    r = _int_arg(r, "combinations", "r", 2)
    if x.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return jnp.zeros((0,), x.dtype)
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = list(pick(range(x.shape[0]), r))
    if not idx:
        return jnp.zeros((0, r), x.dtype)
    return x[jnp.asarray(idx, jnp.int32)]


op("combinations", _combinations, method=False)


# --------------------------------------------------------------------------- channel_shuffle
def _channel_shuffle(x, groups):
    """(N, g * k, *) -> (N, k * g, *): channel ``i * k + j`` moves to ``j * g + i``."""
    groups = _int_arg(groups, "channel_shuffle", "groups", 2)
    if x.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {list(x.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    c = x.shape[1]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    n, rest = x.shape[0], x.shape[2:]
    y = x.reshape((n, groups, c // groups) + rest)
    return jnp.swapaxes(y, 1, 2).reshape(x.shape)


op("channel_shuffle", _channel_shuffle, method=False)
