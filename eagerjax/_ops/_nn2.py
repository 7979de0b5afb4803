"""nn rows, part 2: convolution, pooling, normalization, embedding, padding,
interpolation, distances and the extra losses.

This file is the family's row list: every ``nn2`` row is registered here, in one
place and one order (the registering module names a row's family). The row functions
live in ``_nn2_conv.py`` (padding, convolution, pooling, and the layout helpers the
others share), ``_nn2_layers.py`` (normalization, embedding, distances, interpolation,
bilinear, channel dropout) and ``_nn2_losses.py`` (the extra losses).

Every row is a pure function of jax arrays and static Python values, jitted per
static configuration by ``_dispatch`` (so the NCHW <-> NHWC transposes around a
Flax layer fuse into the one compiled kernel). Gradients come from ``jax.vjp``.
Layer math goes through Flax where Flax has the layer and can express the torch
option exactly (``flax.linen.Conv``/``ConvTranspose``/``max_pool``/``avg_pool``/
``GroupNorm``/``Embed``); LayerNorm and RMSNorm are written out in torch's order,
which trains measurably faster than Flax's (see ``_nn2_layers._scaled``); otherwise the row uses
``lax.conv_general_dilated``/``lax.reduce_window`` or a gather with index tables
computed at trace time (with torch's index arithmetic) so results match torch.

Rows are library-internal (``function=False, method=False``); the public forms
with torch's argument checks live in ``eagerjax.nn._functional_conv``,
``_functional_layers`` and ``_functional_losses``.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._autocast import pad_name, pool_name
from ._nn2_conv import (
    _adaptive_avg_pool,
    _adaptive_max_pool,
    _avg_pool,
    _conv,
    _conv_transpose,
    _max_pool,
    _max_pool_with_indices,
    _pad,
)
from ._nn2_layers import (
    _bilinear,
    _cosine_similarity,
    _dropout_nd,
    _embedding,
    _embedding_renorm,
    _group_norm,
    _interpolate,
    _layer_norm,
    _normalize,
    _one_hot,
    _pairwise_distance,
    _rms_norm,
)
from ._nn2_losses import _bce, _bce_logits, _cosine_embedding_loss, _huber_loss, _kl_div, _l1_loss, _smooth_l1_loss
from ._registry import op

_P = dict(function=False, method=False)
_ND = dict(function=False, method=False, differentiable=False)

# --------------------------------------------------------------------------- padding
op("_pad", _pad, autocast=pad_name, **_P)

# --------------------------------------------------------------------------- convolution
op("_conv", _conv, **_P)
op("_conv_transpose", _conv_transpose, **_P)

# --------------------------------------------------------------------------- pooling
op("_max_pool", _max_pool, autocast=pool_name("max_pool", "kernel_size"), **_P)
op("_max_pool_with_indices", _max_pool_with_indices, **_P)
op("_avg_pool", _avg_pool, autocast=pool_name("avg_pool", "kernel_size"), **_P)
op("_adaptive_avg_pool", _adaptive_avg_pool, autocast=pool_name("adaptive_avg_pool", "output_size"), **_P)
op("_adaptive_max_pool", _adaptive_max_pool, autocast=pool_name("adaptive_max_pool", "output_size"), **_P)

# --------------------------------------------------------------------------- normalization
op("_layer_norm", _layer_norm, **_P)
op("_group_norm", _group_norm, **_P)
op("_rms_norm", _rms_norm, **_P)

# --------------------------------------------------------------------------- embedding
op("_embedding", _embedding, **_P)
op("_embedding_renorm", _embedding_renorm, **_ND)
op("_one_hot", _one_hot, **_ND)
op("_minmax", lambda x: (jnp.min(x), jnp.max(x)), **_ND)  # eager-only value checks (index ranges)

# --------------------------------------------------------------------------- distances
op("_normalize", _normalize, **_P)
op("_cosine_similarity", _cosine_similarity, promote=True, **_P)
op("_pairwise_distance", _pairwise_distance, promote=True, **_P)

# --------------------------------------------------------------------------- interpolation
op("_interpolate", _interpolate, **_P)

# --------------------------------------------------------------------------- bilinear layer
op("_bilinear", _bilinear, promote=True, **_P)

# --------------------------------------------------------------------------- channel dropout (random row)
op("_dropout_nd", _dropout_nd, scalars=("p", 2), **_P)

# --------------------------------------------------------------------------- losses
op("_l1_loss", _l1_loss, promote=True, **_P)
op("_smooth_l1_loss", _smooth_l1_loss, promote=True, **_P)
op("_huber_loss", _huber_loss, promote=True, **_P)
op("_bce", _bce, promote=True, **_P)
op("_bce_logits", _bce_logits, promote=True, **_P)
op("_kl_div", _kl_div, promote=True, **_P)
op("_cosine_embedding_loss", _cosine_embedding_loss, **_P)
