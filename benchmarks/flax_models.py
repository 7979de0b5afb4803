"""The workloads as Flax NNX modules, loaded with the same initial weights as every other system.

Flax keeps its own layouts: ``Linear`` kernels are ``(in, out)`` and convolutions
are NHWC with ``(kh, kw, in, out)`` kernels, so the weights are transposed once at
load time and the cnn input is handed over in NHWC (also once, at setup).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .workloads import LM, MLP_SIZES, init_params


def _linear(sd, pre, rngs):
    w = sd[pre + "weight"]
    lin = nnx.Linear(w.shape[1], w.shape[0], rngs=rngs)
    lin.kernel.value = jnp.asarray(w.T)
    lin.bias.value = jnp.asarray(sd[pre + "bias"])
    return lin


def _conv(sd, pre, rngs):
    w = sd[pre + "weight"]
    c = nnx.Conv(w.shape[1], w.shape[0], (3, 3), padding="VALID", rngs=rngs)
    c.kernel.value = jnp.asarray(w.transpose(2, 3, 1, 0))
    c.bias.value = jnp.asarray(sd[pre + "bias"])
    return c


def _norm(sd, pre, rngs):
    n = nnx.LayerNorm(sd[pre + "weight"].shape[0], epsilon=1e-5, rngs=rngs)
    n.scale.value = jnp.asarray(sd[pre + "weight"])
    n.bias.value = jnp.asarray(sd[pre + "bias"])
    return n


class MLP(nnx.Module):
    def __init__(self, sd, rngs):
        self.l0, self.l1, self.l2 = (_linear(sd, f"{2 * i}.", rngs) for i in range(3))

    def __call__(self, x):
        return self.l2(jax.nn.relu(self.l1(jax.nn.relu(self.l0(x)))))


class CNN(nnx.Module):
    def __init__(self, sd, rngs):
        self.c0, self.c1 = _conv(sd, "0.", rngs), _conv(sd, "2.", rngs)
        self.fc = _linear(sd, "6.", rngs)

    def __call__(self, x):  # x: NHWC
        h = jax.nn.relu(self.c1(jax.nn.relu(self.c0(x))))
        return self.fc(h.mean((1, 2)))


class EncoderLayer(nnx.Module):
    def __init__(self, sd, pre, rngs):
        d = LM["d"]
        w = sd[pre + "self_attn.in_proj_weight"]
        self.in_proj = nnx.Linear(d, 3 * d, rngs=rngs)
        self.in_proj.kernel.value = jnp.asarray(w.T)
        self.in_proj.bias.value = jnp.asarray(sd[pre + "self_attn.in_proj_bias"])
        self.out_proj = _linear(sd, pre + "self_attn.out_proj.", rngs)
        self.linear1 = _linear(sd, pre + "linear1.", rngs)
        self.linear2 = _linear(sd, pre + "linear2.", rngs)
        self.norm1 = _norm(sd, pre + "norm1.", rngs)
        self.norm2 = _norm(sd, pre + "norm2.", rngs)

    def __call__(self, x, mask):
        b, s, d = x.shape
        nh = LM["heads"]
        hd = d // nh
        q, k, v = (t.reshape(b, s, nh, hd).transpose(0, 2, 1, 3) for t in jnp.split(self.in_proj(x), 3, -1))
        att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + mask, axis=-1)
        o = self.out_proj((att @ v).transpose(0, 2, 1, 3).reshape(b, s, d))
        x = self.norm1(x + o)
        return self.norm2(x + self.linear2(jax.nn.relu(self.linear1(x))))


class TinyLM(nnx.Module):
    def __init__(self, sd, rngs):
        self.emb = nnx.Embed(LM["vocab"], LM["d"], rngs=rngs)
        self.emb.embedding.value = jnp.asarray(sd["emb.weight"])
        self.pos = nnx.Param(jnp.asarray(sd["pos"]))
        self.layers = nnx.List([EncoderLayer(sd, f"encoder.layers.{i}.", rngs) for i in range(LM["layers"])])
        self.head = _linear(sd, "head.", rngs)

    def __call__(self, x):
        seq = LM["seq"]
        mask = jnp.triu(jnp.full((seq, seq), -jnp.inf, jnp.float32), k=1)
        h = self.emb(x) + self.pos.value
        for layer in self.layers:
            h = layer(h, mask)
        return self.head(h)


def build(name: str):
    """The NNX model for workload ``name`` and a function mapping the numpy input to its layout."""
    sd = init_params(name)
    rngs = nnx.Rngs(0)
    if name in MLP_SIZES:
        return MLP(sd, rngs), lambda x: x
    if name == "cnn":
        return CNN(sd, rngs), lambda x: x.transpose(0, 2, 3, 1)
    if name == "lm":
        return TinyLM(sd, rngs), lambda x: x
    raise KeyError(name)
