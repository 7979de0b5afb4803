"""Program-fuzzer specs for reductions, shape ops, linear algebra and indexing (see ``_fuzz_catalog``)."""

from __future__ import annotations

import numpy as np

from ._fuzz_catalog import FI, FIB, Spec, _ref, add
from ._fuzz_gen import BOOL, F16, F32, I32, Dtype  # noqa: F401

F = (F32, F16)
F32_ = (F32,)


def _numel(G, ops, args, kwargs) -> int:
    return max([1] + [int(np.prod(v.shape)) for v in ops])


def _axes(x, kw):
    d = kw.get("dim")
    if d is None:
        return tuple(range(np.ndim(x)))
    return tuple(d) if isinstance(d, (tuple, list)) else (d,)


def _red(G, x, none=True, tuples=True, keepdim=True, need=False) -> dict:
    d = G.dim(x.shape, none=none and not need, tuples=tuples)
    kw = {}
    if d is not None:
        kw["dim"] = d
        if keepdim and G.bool():
            kw["keepdim"] = True
    return kw


def _unique_along(x, dim=None, **_):
    """No ties along ``dim`` (sort/topk/median indices and gradients are then unambiguous)."""
    x = np.asarray(x)
    if x.ndim == 0 or x.size == 0:
        return True
    a = x.reshape(1, -1) if dim is None else np.moveaxis(x, dim, -1)  # dim=None: one row of all
    s = np.sort(a, axis=-1)
    return not np.any(s[..., 1:] == s[..., :-1])


def R(name, kinds=F, *, none=True, tuples=True, keepdim=True, need=False, extra=None, **k) -> Spec:
    def gen(G, x):
        kw = _red(G, x, none, tuples, keepdim, need)
        if extra:
            kw.update(extra(G, x, kw))
        return [], kw

    return add(name, gen, kinds, n=_numel, **k)


def _nonempty_along(x, *a, **kw):
    x = np.asarray(x)
    return x.size > 0 and all(x.shape[d] > 0 for d in _axes(x, kw)) if x.ndim else x.size > 0


R("sum", FIB, ex="same", extra=lambda G, x, kw: {"dtype": Dtype(F32)} if G.bool(0.15) else {})
R("nansum", F, ex="same")
R("mean", F, pre=_nonempty_along)
R("prod", FI, tuples=False)
R("amax", FI, ex="same", pre=_nonempty_along)
R("amin", FI, ex="same", pre=_nonempty_along)
for _n in ["max", "min"]:
    add(_n, kinds=FI, ex="same", nonempty=True)
    R(_n, FI, none=False, tuples=False, ex="same", pre=_nonempty_along, disc=True)
    R("arg" + _n, FI, tuples=False, disc=True, pre=_nonempty_along)
R("logsumexp", F, need=True, pre=_nonempty_along)


def _var_pre(std):
    def pre(x, dim=None, correction=1, keepdim=False):
        x = np.asarray(x, np.float64)
        ax = _axes(x, {"dim": dim})
        cnt = int(np.prod([x.shape[a] for a in ax])) if x.ndim else 1
        if x.size == 0 or cnt <= correction:
            return False
        v = np.var(x, axis=ax if x.ndim else None, ddof=correction)
        return not std or bool(np.all(v >= 1e-3))

    return pre


for _n in ["var", "std"]:
    R(_n, F, extra=lambda G, x, kw: {"correction": G.pick([0, 1])}, pre=_var_pre(_n == "std"))


def _norm_pre(x, p=2, dim=None, keepdim=False):
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return False
    n = np.sqrt((x * x).sum(axis=_axes(x, {"dim": dim}) if x.ndim else None))
    return p != 2 or bool(np.all(n >= 0.1))


R(
    "norm",
    F32_,
    tuples=False,
    extra=lambda G, x, kw: {"p": G.pick([2, 1])},
    pre=_norm_pre,
)
for _n in ["all", "any", "count_nonzero"]:
    R(_n, FIB, tuples=_n == "count_nonzero", keepdim=_n != "count_nonzero", disc=True)
R("cumsum", FI, need=True, tuples=False, keepdim=False, ex="same")
R("cumprod", F, need=True, tuples=False, keepdim=False)
R("logcumsumexp", F, need=True, tuples=False, keepdim=False)
R("cummax", FI, need=True, tuples=False, keepdim=False, ex="same", disc=True, pre=_unique_along)
R("cummin", FI, need=True, tuples=False, keepdim=False, ex="same", disc=True, pre=_unique_along)
R("softmax", F, need=True, tuples=False, keepdim=False)
R("log_softmax", F, need=True, tuples=False, keepdim=False)
R(
    "sort",
    FI,
    need=True,
    tuples=False,
    keepdim=False,
    ex="same",
    disc=True,
    extra=lambda G, x, kw: {"descending": G.bool(), "stable": True},
)
R(
    "argsort",
    FI,
    need=True,
    tuples=False,
    keepdim=False,
    disc=True,
    extra=lambda G, x, kw: {"descending": G.bool(), "stable": True},
)
add("msort", kinds=FI, ex="same", nd=(1, 9))
add(
    "topk",
    lambda G, x: ([], {"k": G.int(1, x.shape[-1]), "largest": G.bool()}),
    FI,
    nd=(1, 9),
    nonempty=True,
    ex="same",
    disc=True,
    pre=lambda x, **k: _unique_along(x, -1),
)
add(
    "kthvalue",
    lambda G, x: ([G.int(1, x.shape[-1])], {}),
    FI,
    nd=(1, 9),
    nonempty=True,
    ex="same",
    disc=True,
    pre=lambda x, k: _unique_along(x, -1),
)
add("median", kinds=FI, nonempty=True, ex="same", disc=True, pre=lambda x: _unique_along(x))
add(
    "quantile",
    lambda G, x: ([G.pick([0.25, 0.5, 0.9])], _red(G, x, tuples=False)),
    F32_,
    nonempty=True,
    pre=lambda x, q, dim=None, keepdim=False: _unique_along(x, dim),
)
add(
    "aminmax",
    lambda G, x: ([], G.pick([{}, {"dim": G.dim(x.shape, none=False)}])),
    FI,
    nonempty=True,
    ex="same",
    disc=True,
    pre=lambda x, dim=None: _nonempty_along(x, dim=dim) and _unique_along(x, dim),
)
add(
    "dist",
    lambda G, x: ([G.partner(x, (x.dtype,), scalar=False, like=True)], {}),
    F32_,
    pre=lambda x, y: float(np.sqrt(((np.asarray(x, np.float64) - np.asarray(y)) ** 2).sum())) >= 0.1,
)


# --------------------------------------------------------------------------- shape
def _factor(n: int, G, k: int) -> list[int]:
    """``n`` as a product of ``k`` factors."""
    if n == 0:
        out = [G.int(1, 3) for _ in range(k)]
        out[G.int(0, k - 1)] = 0
        return out
    ps = []
    m = n
    for p in (2, 3, 5, 7):
        while m % p == 0:
            ps.append(p)
            m //= p
    if m > 1:
        ps.append(m)
    out = [1] * k
    for p in ps:
        out[G.int(0, k - 1)] *= p
    return out


def _newshape(G, x):
    n = int(np.prod(x.shape))
    shp = _factor(n, G, G.int(1, 3)) if G.bool(0.9) else []
    if not shp and n != 1:
        shp = [n]
    if shp and n > 0 and G.bool(0.3):
        shp[G.int(0, len(shp) - 1)] = -1
    return tuple(shp)


def S(name, gen=None, kinds=FIB, **k) -> Spec:
    k.setdefault("ex", "same")
    k.setdefault("view", True)
    return add(name, gen, kinds, **k)


S("reshape", lambda G, x: ([_newshape(G, x)], {}), contig=True)
# torch's view needs compatible strides: only on variables known contiguous (thorough run:
# ``v0.expand((2, 1, 1, 2)).view((-1,))`` raises in torch, eagerjax's values have no strides)
S("view", lambda G, x: ([_newshape(G, x)], {}) if x.contig else None, contig=True, method=True)
S("flatten", lambda G, x: ([], {"start_dim": G.int(0, max(0, len(x.shape) - 1))} if G.bool() else {}), contig=True)
S("ravel", contig=True)
S(
    "unflatten",
    lambda G, x: (lambda d: ([d, tuple(_factor(x.shape[d], G, G.int(1, 3)))], {}))(G.int(0, len(x.shape) - 1)),
    nd=(1, 9),
    contig=True,
)
S(
    "transpose",
    lambda G, x: ([G.int(-len(x.shape), len(x.shape) - 1), G.int(-len(x.shape), len(x.shape) - 1)], {}),
    nd=(1, 9),
)
S("swapaxes", lambda G, x: ([0, len(x.shape) - 1], {}), nd=(1, 9))
S("swapdims", lambda G, x: ([len(x.shape) - 1, 0], {}), nd=(1, 9))
S("permute", lambda G, x: ([tuple(G.draw(G.st.permutations(range(len(x.shape)))))], {}))
S("t", nd=(0, 2))
S("adjoint", nd=(2, 9), kinds=(F32, F16, I32))
S("squeeze", lambda G, x: ([], {} if G.bool(0.3) or not x.shape else {"dim": G.dim(x.shape, none=False)}), contig=True)
S("unsqueeze", lambda G, x: ([G.int(-len(x.shape) - 1, len(x.shape))], {}), contig=True)


def _expand(G, x):
    shp = [G.int(1, 3) if s == 1 else (s if G.bool(0.8) else -1) for s in x.shape]
    if G.bool(0.3):
        shp = [G.int(1, 3)] + shp
    return tuple(shp)


S("expand", lambda G, x: ([_expand(G, x)], {}))


def _broadcast_to(G, x):
    e = _expand(G, x)
    off = len(e) - len(x.shape)
    return [tuple(x.shape[i - off] if s == -1 else s for i, s in enumerate(e))], {}


S("broadcast_to", _broadcast_to)
S("repeat", lambda G, x: ([tuple(G.int(1, 2) for _ in range(len(x.shape) + G.int(0, 1)))], {}), view=False)
S("tile", lambda G, x: ([tuple(G.int(1, 2) for _ in range(G.int(1, 3)))], {}), view=False)
S(
    "flip",
    lambda G, x: ([tuple(sorted(set(G.int(0, len(x.shape) - 1) for _ in range(G.int(1, 2)))))], {}),
    nd=(1, 9),
    view=False,
)
S("fliplr", nd=(2, 9), view=False)
S("flipud", nd=(1, 9), view=False)
S(
    "roll",
    lambda G, x: ([G.int(-3, 3)], {"dims": G.int(0, len(x.shape) - 1)} if x.shape and G.bool() else {}),
    view=False,
)
S("rot90", lambda G, x: ([G.int(-1, 2), [0, 1]], {}), nd=(2, 9), view=False)
S("movedim", lambda G, x: ([G.int(0, len(x.shape) - 1), G.int(0, len(x.shape) - 1)], {}), nd=(1, 9))
S("moveaxis", lambda G, x: ([0, -1], {}), nd=(1, 9))


def _narrow(G, x):
    d = G.int(0, len(x.shape) - 1)
    st = G.int(0, x.shape[d])
    return [d, st, G.int(0, x.shape[d] - st)], {}


S("narrow", _narrow, nd=(1, 9))
S(
    "select",
    lambda G, x: (lambda d: None if x.shape[d] == 0 else ([d, G.int(-x.shape[d], x.shape[d] - 1)], {}))(
        G.int(0, len(x.shape) - 1)
    ),
    nd=(1, 9),
)
S("chunk", lambda G, x: ([G.int(1, 3)], {"dim": G.int(0, len(x.shape) - 1)}), nd=(1, 9), nonempty=True)
S("split", lambda G, x: ([G.int(1, 3)], {"dim": G.int(0, len(x.shape) - 1)}), nd=(1, 9), nonempty=True)
S("tensor_split", lambda G, x: ([G.int(1, 3)], {"dim": G.int(0, len(x.shape) - 1)}), nd=(1, 9), nonempty=True)
S("unbind", lambda G, x: ([], {"dim": G.int(0, len(x.shape) - 1)}), nd=(1, 9), nonempty=True)
S("atleast_1d", method=False)
S("atleast_2d", method=False)
S("atleast_3d", method=False)
S(
    "diff",
    lambda G, x: ([], {"dim": G.int(-1, len(x.shape) - 1)} if G.bool() else {}),
    nd=(1, 9),
    view=False,
    kinds=(F32, F16, I32),
)
S("tril", lambda G, x: ([G.int(-1, 1)], {}), nd=(2, 9), view=False)
S("triu", lambda G, x: ([G.int(-1, 1)], {}), nd=(2, 9), view=False)
S("diagonal", lambda G, x: ([], {"offset": G.int(-1, 1)}), nd=(2, 9))
S("diag", lambda G, x: ([G.int(-1, 1)], {}), nd=(1, 2), view=False)
S("trace", nd=(2, 2), view=False, kinds=(F32, F16, I32), n=_numel)
S("diag_embed", nd=(1, 9), view=False)


def _same_shaped(G, x, k):
    return [G.partner(x, (x.dtype,) if G.bool(0.8) else FIB, scalar=False, zero_d=False, same=True) for _ in range(k)]


def _cat(G, x):
    d = G.int(0, len(x.shape) - 1)
    others = []
    for _ in range(G.int(1, 2)):
        shp = list(x.shape)
        shp[d] = G.int(0, 3)
        others.append(G.fresh(tuple(shp), x.dtype if G.bool(0.8) else G.dtype(FIB)))
    return [[_ref(x)] + others], {"dim": d} if d or G.bool() else {}


for _n in ["cat", "concat", "concatenate"]:
    S(_n, _cat, nd=(1, 9), view=False, self_first=False, method=False)
S(
    "stack",
    lambda G, x: ([[_ref(x)] + _same_shaped(G, x, G.int(1, 2))], {"dim": G.int(0, len(x.shape))}),
    view=False,
    self_first=False,
    method=False,
)
for _n in ["hstack", "vstack", "dstack", "column_stack"]:
    S(_n, lambda G, x: ([[_ref(x)] + _same_shaped(G, x, 1)], {}), view=False, self_first=False, method=False, nd=(1, 3))


# --------------------------------------------------------------------------- linear algebra
def _k(G):
    return G.int(1, G.max_side)


def L(name, gen, nd, **k) -> Spec:
    k.setdefault("ex", "mul")
    return add(name, gen, F, nd=nd, n=_numel, **k)


def _mm_partner(G, x, shape):
    return G.fresh(shape, x.dtype)


L(
    "matmul",
    lambda G, x: (
        [
            _mm_partner(
                G,
                x,
                G.pick(
                    [(x.shape[-1],), (x.shape[-1], _k(G))]
                    + ([x.shape[:-2] + (x.shape[-1], _k(G))] if len(x.shape) > 2 else [])
                ),
            )
        ],
        {},
    ),
    (1, 4),
)
L("mm", lambda G, x: ([G.fresh((x.shape[1], _k(G)), x.dtype)], {}), (2, 2))
L("bmm", lambda G, x: ([G.fresh((x.shape[0], x.shape[2], _k(G)), x.dtype)], {}), (3, 3))
L("mv", lambda G, x: ([G.fresh((x.shape[1],), x.dtype)], {}), (2, 2))
for _n in ["dot", "vdot", "inner"]:
    L(_n, lambda G, x: ([G.fresh(x.shape[-1:], x.dtype)], {}), (1, 1))
for _n in ["outer", "ger"]:
    L(_n, lambda G, x: ([G.fresh((_k(G),), x.dtype)], {}), (1, 1))
L(
    "addmm",
    lambda G, x: (
        lambda k: (
            [G.fresh((x.shape[0], k), x.dtype), G.fresh((k, x.shape[1]), x.dtype)],
            G.pick([{}, {"beta": 0.5, "alpha": 2.0}]),
        )
    )(_k(G)),
    (2, 2),
)
L("addmv", lambda G, x: (lambda k: ([G.fresh((x.shape[0], k), x.dtype), G.fresh((k,), x.dtype)], {}))(_k(G)), (1, 1))
L("addr", lambda G, x: ([G.fresh((x.shape[0],), x.dtype), G.fresh((x.shape[1],), x.dtype)], {}), (2, 2))
L(
    "baddbmm",
    lambda G, x: (
        lambda k: ([G.fresh(x.shape[:2] + (k,), x.dtype), G.fresh((x.shape[0], k, x.shape[2]), x.dtype)], {})
    )(_k(G)),
    (3, 3),
)
L("kron", lambda G, x: ([G.fresh(tuple(G.int(1, 2) for _ in range(G.int(0, 2))), x.dtype)], {}), (0, 2))
L("tensordot", lambda G, x: ([G.fresh(x.shape[-1:] + (_k(G),), x.dtype)], {"dims": 1}), (1, 3), method=False)
_EIN = {1: ["i,i->", "i,j->ij", "i->"], 2: ["ij,jk->ik", "ij->ji", "ij->i", "ij,ij->i"], 3: ["bij,bjk->bik"]}


def _einsum(G, x):
    eq = G.pick(_EIN[len(x.shape)])
    ins = eq.split("->")[0].split(",")
    sizes = dict(zip(ins[0], x.shape))
    ops = [_ref(x)]
    for term in ins[1:]:
        ops.append(G.fresh(tuple(sizes.setdefault(c, _k(G)) for c in term), x.dtype))
    return [eq] + ops, {}


L("einsum", _einsum, (1, 3), self_first=False, method=False)
L(
    "cross",
    lambda G, x: (
        None if 3 not in x.shape else (lambda d: ([G.fresh(x.shape, x.dtype)], {"dim": d}))(list(x.shape).index(3))
    ),
    (1, 3),
)


# --------------------------------------------------------------------------- indexing
def _index(G, shape, size):
    return G.fresh(shape, I32, grad=False, lo=0, hi=size - 1)


def _gather(G, x):
    d = G.int(0, len(x.shape) - 1)
    shp = tuple(G.int(1, s) if i != d else G.int(1, 4) for i, s in enumerate(x.shape))
    if 0 in shp:
        return None
    return [d, _index(G, shp, x.shape[d])], {}


add("gather", _gather, FIB, nd=(1, 9), nonempty=True, ex="same")
add(
    "index_select",
    lambda G, x: (lambda d: ([d, _index(G, (G.int(1, 4),), x.shape[d])], {}))(G.int(0, len(x.shape) - 1)),
    FIB,
    nd=(1, 9),
    nonempty=True,
    ex="same",
)
add("take", lambda G, x: ([_index(G, G.shape(0, 2), int(np.prod(x.shape)))], {}), FIB, nonempty=True, ex="same")
add(
    "take_along_dim",
    lambda G, x: (lambda d: ([_index(G, x.shape[:d] + (G.int(1, 3),) + x.shape[d + 1 :], x.shape[d])], {"dim": d}))(
        G.int(0, len(x.shape) - 1)
    ),
    FIB,
    nd=(1, 9),
    nonempty=True,
    ex="same",
)
add(
    "masked_fill",
    lambda G, x: (
        [
            G.partner(x, (BOOL,), scalar=False, zero_d=False),
            G.scalar({F32: "f", F16: "f", I32: "i", BOOL: "b"}[x.dtype]),
        ],
        {},
    ),
    FIB,
    ex="same",
)


def _index_add(G, x):
    d = G.int(0, len(x.shape) - 1)
    k = G.int(1, 3)
    src = x.shape[:d] + (k,) + x.shape[d + 1 :]
    return [d, _index(G, (k,), x.shape[d]), G.fresh(src, x.dtype)], G.pick([{}, {"alpha": 2}])


add("index_add", _index_add, FI, nd=(1, 9), nonempty=True, ex="same", n=_numel)
add(
    "scatter_add",
    lambda G, x: (lambda d: ([d, _index(G, x.shape, x.shape[d]), G.fresh(x.shape, x.dtype)], {}))(
        G.int(0, len(x.shape) - 1)
    ),
    FI,
    nd=(1, 9),
    nonempty=True,
    ex="same",
    n=_numel,
)
add(
    "index_fill",
    lambda G, x: (
        lambda d: (
            [d, _index(G, (G.int(1, 3),), x.shape[d]), G.scalar({F32: "f", F16: "f", I32: "i", BOOL: "b"}[x.dtype])],
            {},
        )
    )(G.int(0, len(x.shape) - 1)),
    FIB,
    nd=(1, 9),
    nonempty=True,
    ex="same",
)
