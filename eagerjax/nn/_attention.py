"""Attention: ``F.scaled_dot_product_attention``, ``F.multi_head_attention_forward``, ``nn.MultiheadAttention``.

The math is in ``eagerjax/_ops/_nn_seq.py``: scaled dot-product attention is one
row, and the whole multi-head attention forward (projections, masks, attention,
output projection, averaged weights) is ONE row, so an eager call is one cached
compiled kernel and its backward one cached VJP. Dropout draws from eagerjax's
generator through the random variants of those rows. Shape, dtype and argument
checks run here in Python on static shapes (no host reads), with torch's wording.

Why not ``flax.linen.MultiHeadDotProductAttention`` / ``dot_product_attention``:
Flax masks with ``finfo.min`` instead of ``-inf`` (a fully masked row then
averages over all keys, where torch gives NaN or 0), has no additive float
``key_padding_mask``, no ``add_bias_kv``/``add_zero_attn``, returns no
(head-averaged) weights and draws dropout from its own RNG collection. The
attention math is a few ``jnp`` lines in the row instead; it matches torch to
float rounding, including masked rows.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp

from .. import _dtypes
from .._dispatch import dispatch
from .._generate import _torch_name
from .._ops import _nn_seq  # noqa: F401 - registers the rows used here
from .._ops._registry import OPS
from .._random import _gen
from .._tensor import Parameter, Size, Tensor
from . import init
from ._linear import Linear
from ._module import Module

__all__ = ["MultiheadAttention", "scaled_dot_product_attention", "multi_head_attention_forward"]

_SDPA = OPS["_sdpa"]
_SDPA_DROP = OPS["_sdpa_dropout"]
_MHA = OPS["_mha"]
_MHA_DROP = OPS["_mha_dropout"]
_MASK_TO_FLOAT = OPS["_mask_to_float"]


def _draw_many(row, args: tuple, kwargs: dict, generator=None) -> tuple:
    """Like ``_random.draw`` for a random row with several results ``(new_key, *outs)``."""
    g = _gen(generator)
    outs = dispatch(row, (g._key, *args), kwargs)
    g._key._assign(outs[0]._read())
    return outs[1:]


def _empty(shape: tuple, dtype=None) -> Tensor:
    """Storage for a new parameter (filled by ``_reset_parameters``); concrete even under a trace."""
    dt = _dtypes.to_dtype(dtype) or _dtypes.get_default_dtype()
    with jax.ensure_compile_time_eval():
        v = jnp.zeros(tuple(shape), dt)
    return Tensor._make(v)


# --------------------------------------------------------------------------- scaled dot-product attention
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two dims (torch's semantics).

    A bool ``attn_mask`` marks the positions that TAKE PART in attention; a float
    mask is added to the scores. ``is_causal`` applies a lower-triangular mask
    (aligned to the top-left, as torch). Rows with every position masked give 0.
    ``dropout_p > 0`` applies dropout to the attention weights (always, as torch's
    functional does), drawing from eagerjax's generator.
    """
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if attn_mask is not None and attn_mask.dtype != _dtypes.bool_ and not _dtypes.is_floating(attn_mask.dtype):
        raise RuntimeError(
            f"Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
            f"{_torch_name(attn_mask.dtype)} and  query.dtype: {_torch_name(query.dtype)} instead."
        )
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must be at least 2-D")
    if enable_gqa and query.dim() >= 3 and key.dim() >= 3:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk != 0 or hq % hv != 0:
            raise RuntimeError("Number of heads in key and value must divide the number of heads in query")
    static = {
        "is_causal": bool(is_causal),
        "scale": None if scale is None else float(scale),
        "enable_gqa": bool(enable_gqa),
    }
    if dropout_p > 0.0:
        return _draw_many(_SDPA_DROP, (query, key, value, attn_mask), {"p": float(dropout_p), **static})[0]
    return dispatch(_SDPA, (query, key, value, attn_mask), static)


# --------------------------------------------------------------------------- multi-head attention
def _check_mask_dtype(mask: Tensor | None, name: str) -> None:
    if mask is not None and mask.dtype != _dtypes.bool_ and not _dtypes.is_floating(mask.dtype):
        raise AssertionError(f"only bool and floating types of {name} are supported")


def _canonical_pair(kpm, kpm_name: str, mask, mask_name: str, dtype, stacklevel: int = 4):
    """torch's ``_canonical_mask`` on a (key-padding mask, attention mask) pair.

    Checks the dtypes; when one is bool and the other float, warns as torch does and
    converts the bool one(s) to float (0 / -inf) so that layers further down see
    consistent types (and do not warn again). Same-typed masks pass through
    unchanged: the row converts bool masks itself, which gives the same numbers.
    """
    _check_mask_dtype(kpm, kpm_name)
    _check_mask_dtype(mask, mask_name)
    if kpm is not None and mask is not None and (kpm.dtype == _dtypes.bool_) != (mask.dtype == _dtypes.bool_):
        warnings.warn(
            f"Support for mismatched {kpm_name} and {mask_name} is deprecated. Use same type for both instead.",
            stacklevel=stacklevel,
        )
        kpm = _to_float_mask(kpm, dtype)
        mask = _to_float_mask(mask, dtype)
    return kpm, mask


def _to_float_mask(mask, dtype):
    if mask.dtype == _dtypes.bool_:
        return dispatch(_MASK_TO_FLOAT, (mask,), {"dtype": dtype})
    return mask


def _mha_shape_check(query, key, value, kpm, attn_mask, num_heads) -> bool:
    """torch's ``_mha_shape_check``: returns whether the input is batched."""
    qd = query.dim()
    if qd == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if kpm is not None and kpm.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found "
                f"{kpm.dim()}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                f"{attn_mask.dim()}-D tensor instead"
            )
        return True
    if qd == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if kpm is not None and kpm.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but found "
                f"{kpm.dim()}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found "
                    f"{attn_mask.dim()}-D tensor instead"
                )
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {qd}-D query tensor")


def _mha(
    query,
    key,
    value,
    embed_dim_to_check,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn,
    dropout_p,
    out_proj_weight,
    out_proj_bias,
    training,
    key_padding_mask,
    need_weights,
    attn_mask,
    q_proj_weight,
    k_proj_weight,
    v_proj_weight,
    static_k,
    static_v,
    average_attn_weights,
    is_causal,
    batch_first,
):
    """Checks (torch's order and wording) on (L, N, E)-ordered shapes, then ONE row call."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)

    def lne(t):  # the shape multi_head_attention_forward sees (after batch_first transposes / unsqueeze)
        s = tuple(t.shape)
        if not batched:
            return (s[0], 1, s[1])
        return (s[1], s[0], s[2]) if batch_first else s

    qs, ks, vs = lne(query), lne(key), lne(value)
    tgt_len, bsz, embed_dim = qs
    src_len = ks[0]
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    separate = in_proj_weight is None
    if separate:
        if ks[:2] != vs[:2]:
            raise AssertionError(f"key's sequence and batch dims {Size(ks[:2])} do not match value's {Size(vs[:2])}")
    elif ks != vs:
        raise AssertionError(f"key shape {Size(ks)} does not match value shape {Size(vs)}")
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    causal = False
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # torch: the hint replaces the mask by SDPA's causal masking
        causal = True
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be {(tgt_len, src_len)}."
                )
        elif attn_mask.dim() == 3:
            want = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != want:
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be {want}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")
    if (bias_k is None) != (bias_v is None):
        raise AssertionError("bias_k and bias_v must both be given or both be None")
    if bias_k is not None and (static_k is not None or static_v is not None):
        raise AssertionError(
            "bias cannot be added to static key." if static_k is not None else "bias cannot be added to static value."
        )
    for st, name in ((static_k, "static_k"), (static_v, "static_v")):
        if st is not None:
            if st.shape[0] != bsz * num_heads:
                raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got {st.shape[0]}")
            if st.shape[2] != head_dim:
                raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {st.shape[2]}")
    if key_padding_mask is not None:
        s_kpm = src_len if static_k is None else static_k.shape[1]
        want = (bsz, s_kpm) if batched else (s_kpm,)
        if tuple(key_padding_mask.shape) != want:
            raise AssertionError(
                f"expecting key_padding_mask shape of {(bsz, s_kpm)}, but got {key_padding_mask.shape}"
            )
    if not training:
        dropout_p = 0.0
    args = (
        query,
        key,
        value,
        in_proj_weight,
        in_proj_bias,
        q_proj_weight,
        k_proj_weight,
        v_proj_weight,
        bias_k,
        bias_v,
        out_proj_weight,
        out_proj_bias,
        key_padding_mask,
        attn_mask,
        static_k,
        static_v,
    )
    static = {
        "num_heads": int(num_heads),
        "need_weights": bool(need_weights),
        "average": bool(average_attn_weights),
        "add_zero_attn": bool(add_zero_attn),
        "batch_first": bool(batch_first),
        "unbatched": not batched,
        "causal": causal,
        "self_attn": query is key and key is value and in_proj_weight is not None,
    }
    if dropout_p > 0.0:
        outs = _draw_many(_MHA_DROP, args, {"p": float(dropout_p), **static})
    else:
        outs = dispatch(_MHA, args, static)
    return (outs[0], outs[1]) if need_weights else (outs[0], None)


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """torch's functional multi-head attention on (L, N, E) (or unbatched (L, E)) inputs."""
    key_padding_mask, attn_mask = _canonical_pair(
        key_padding_mask, "key_padding_mask", attn_mask, "attn_mask", query.dtype, stacklevel=3
    )
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError(
                "use_separate_proj_weight is True but q_proj_weight, k_proj_weight or v_proj_weight is None"
            )
        in_proj_weight = None
    elif in_proj_weight is None:
        raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
    return _mha(
        query,
        key,
        value,
        embed_dim_to_check,
        num_heads,
        in_proj_weight,
        in_proj_bias,
        bias_k,
        bias_v,
        add_zero_attn,
        dropout_p,
        out_proj_weight,
        out_proj_bias,
        training,
        key_padding_mask,
        need_weights,
        attn_mask,
        q_proj_weight if use_separate_proj_weight else None,
        k_proj_weight if use_separate_proj_weight else None,
        v_proj_weight if use_separate_proj_weight else None,
        static_k,
        static_v,
        average_attn_weights,
        is_causal,
        False,
    )


class NonDynamicallyQuantizableLinear(Linear):
    """torch's marker subclass of ``Linear`` used for ``MultiheadAttention.out_proj``."""


class MultiheadAttention(Module):
    """``torch.nn.MultiheadAttention`` with torch's parameters, layouts, init, masks and outputs.

    Parameters: ``in_proj_weight (3E, E)`` and ``in_proj_bias (3E,)`` (or
    ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim``/``vdim``
    differ from ``embed_dim``), ``out_proj`` (a Linear), and ``bias_k``/``bias_v``
    ``(1, 1, E)`` with ``add_bias_kv``. ``forward`` returns ``(output, weights)``;
    weights are averaged over heads unless ``average_attn_weights=False`` and are
    ``None`` with ``need_weights=False``.
    """

    __constants__ = ["batch_first"]

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                f"num_heads={num_heads} instead"
            )
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(_empty((embed_dim, embed_dim), dtype))
            self.k_proj_weight = Parameter(_empty((embed_dim, self.kdim), dtype))
            self.v_proj_weight = Parameter(_empty((embed_dim, self.vdim), dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(_empty((3 * embed_dim, embed_dim), dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_empty((3 * embed_dim,), dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(_empty((1, 1, embed_dim), dtype))
            self.bias_v = Parameter(_empty((1, 1, embed_dim), dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        key_padding_mask, attn_mask = _canonical_pair(
            key_padding_mask, "key_padding_mask", attn_mask, "attn_mask", query.dtype
        )
        same = self._qkv_same_embed_dim
        return _mha(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight if same else None,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            self.training,
            key_padding_mask,
            need_weights,
            attn_mask,
            None if same else self.q_proj_weight,
            None if same else self.k_proj_weight,
            None if same else self.v_proj_weight,
            None,
            None,
            average_attn_weights,
            is_causal,
            self.batch_first,
        )
