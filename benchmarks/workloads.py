"""The benchmark workloads, defined once: data, initial weights, and the model in three spellings.

Every system starts from the *same* numpy weights (PyTorch layout and ``state_dict``
names) and the same fixed batch, so the first-step losses agree across systems and
the timings compare the same computation:

- ``build_module(lib, name)`` — the model written against PyTorch's API; ``lib`` is
  ``eagerjax`` or ``torch`` (the same source runs on both).
- ``loss_fn(name)`` — a pure ``(params, x, y) -> loss`` in ``jax.numpy`` over the
  ``state_dict`` (used by the hand-written ``jax.jit`` step and by naive op-by-op JAX).
- the Flax NNX spelling lives in ``flax_models.py``.

Workloads (see the project's DESIGN notes): tiny = MLP 32→64→64→1 ReLU, MSE,
batch 32; mlp = MLP 784→512→512→10 ReLU, cross-entropy, batch 128; cnn =
Conv(1→32,3x3)→ReLU→Conv(32→64,3x3)→ReLU→global average pool→Linear(64→10),
cross-entropy, batch 32 of 1x28x28; lm = a 2-layer post-norm Transformer encoder
LM with a causal mask (vocab 64, d_model 64, 4 heads, feed-forward 256, seq 32,
batch 16, dropout 0), cross-entropy over every position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LR = 1e-3


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    batch: int
    loss: str  # "mse" or "ce"


WORKLOADS = {
    "tiny": Workload("tiny", "MLP 32-64-64-1 ReLU, MSE, batch 32", 32, "mse"),
    "mlp": Workload("mlp", "MLP 784-512-512-10 ReLU, cross-entropy, batch 128", 128, "ce"),
    "cnn": Workload("cnn", "Conv 1-32-64 3x3 valid, ReLU, GAP, Linear 64-10, CE, batch 32 of 1x28x28", 32, "ce"),
    "lm": Workload(
        "lm", "Transformer LM: vocab 64, d 64, 2 causal layers, 4 heads, ff 256, seq 32, batch 16", 16, "ce"
    ),
}

MLP_SIZES = {"tiny": (32, 64, 64, 1), "mlp": (784, 512, 512, 10)}
LM = {"vocab": 64, "d": 64, "heads": 4, "ff": 256, "layers": 2, "seq": 32}


# -- data and initial weights ---------------------------------------------------------------
def make_data(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The fixed batch ``(x, y)`` as numpy arrays (float32 inputs, int64 class targets)."""
    rng = np.random.default_rng(seed)
    b = WORKLOADS[name].batch
    if name in MLP_SIZES:
        sizes = MLP_SIZES[name]
        x = rng.standard_normal((b, sizes[0])).astype(np.float32)
        if name == "tiny":
            return x, rng.standard_normal((b, 1)).astype(np.float32)
        return x, rng.integers(0, sizes[-1], b).astype(np.int64)
    if name == "cnn":
        return rng.random((b, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, b).astype(np.int64)
    if name == "lm":
        toks = rng.integers(0, LM["vocab"], (b, LM["seq"] + 1)).astype(np.int64)
        return toks[:, :-1], toks[:, 1:]
    raise KeyError(name)


def _uniform(rng, shape, fan_in):
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def _linear(rng, sd, prefix, n_in, n_out):
    sd[prefix + "weight"] = _uniform(rng, (n_out, n_in), n_in)
    sd[prefix + "bias"] = _uniform(rng, (n_out,), n_in)


def init_params(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Initial weights in PyTorch layout, keyed by the module's ``state_dict`` names."""
    rng = np.random.default_rng(1000 + seed)
    sd: dict[str, np.ndarray] = {}
    if name in MLP_SIZES:
        sizes = MLP_SIZES[name]
        for i in range(len(sizes) - 1):
            _linear(rng, sd, f"{2 * i}.", sizes[i], sizes[i + 1])
    elif name == "cnn":
        sd["0.weight"] = _uniform(rng, (32, 1, 3, 3), 9)
        sd["0.bias"] = _uniform(rng, (32,), 9)
        sd["2.weight"] = _uniform(rng, (64, 32, 3, 3), 288)
        sd["2.bias"] = _uniform(rng, (64,), 288)
        _linear(rng, sd, "6.", 64, 10)
    elif name == "lm":
        v, d, ff = LM["vocab"], LM["d"], LM["ff"]
        sd["pos"] = (0.02 * rng.standard_normal((LM["seq"], d))).astype(np.float32)
        sd["emb.weight"] = rng.standard_normal((v, d)).astype(np.float32)
        for i in range(LM["layers"]):
            p = f"encoder.layers.{i}."
            sd[p + "self_attn.in_proj_weight"] = _uniform(rng, (3 * d, d), d / 3)
            sd[p + "self_attn.in_proj_bias"] = np.zeros(3 * d, np.float32)
            _linear(rng, sd, p + "self_attn.out_proj.", d, d)
            _linear(rng, sd, p + "linear1.", d, ff)
            _linear(rng, sd, p + "linear2.", ff, d)
            for n in ("norm1.", "norm2."):
                sd[p + n + "weight"] = np.ones(d, np.float32)
                sd[p + n + "bias"] = np.zeros(d, np.float32)
        _linear(rng, sd, "head.", d, v)
    else:
        raise KeyError(name)
    return sd


# -- the model against PyTorch's API (eagerjax or torch) ------------------------------------
def build_module(lib, name: str):
    """The model as an ``nn.Module`` of ``lib`` (``eagerjax`` or ``torch``), weights from ``init_params``."""
    nn = lib.nn
    if name in MLP_SIZES:
        s = MLP_SIZES[name]
        model = nn.Sequential(nn.Linear(s[0], s[1]), nn.ReLU(), nn.Linear(s[1], s[2]), nn.ReLU(), nn.Linear(s[2], s[3]))
    elif name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        )  # fmt: skip
    elif name == "lm":
        model = _lm_module(lib)
    else:
        raise KeyError(name)
    state = {k: lib.tensor(v) for k, v in init_params(name).items()}
    model.load_state_dict(state, strict=True)
    return model


def missing_layers(lib, name: str) -> list[str]:
    """Layers of ``lib.nn`` the workload needs but ``lib`` lacks (the workload is skipped then)."""
    need = {
        "cnn": ["Conv2d", "AdaptiveAvgPool2d", "Flatten"],
        "lm": ["Embedding", "TransformerEncoderLayer", "TransformerEncoder", "Linear"],
    }.get(name, ["Linear", "ReLU", "Sequential"])
    return [n for n in need if not hasattr(lib.nn, n)]


def _lm_module(lib):
    nn = lib.nn
    v, d, h, ff, n_layers, seq = (LM[k] for k in ("vocab", "d", "heads", "ff", "layers", "seq"))

    class TinyLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(v, d)
            self.pos = nn.Parameter(lib.zeros(seq, d))
            layer = nn.TransformerEncoderLayer(d, h, dim_feedforward=ff, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Linear(d, v)
            mask = lib.triu(lib.full((seq, seq), float("-inf")), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x):
            return self.head(self.encoder(self.emb(x) + self.pos, mask=self.mask, is_causal=True))

    return TinyLM()


def torch_loss(lib, name: str, out, y):
    """The workload's loss with ``lib.nn.functional`` (logits flattened over positions for lm)."""
    F = lib.nn.functional
    if WORKLOADS[name].loss == "mse":
        return F.mse_loss(out, y)
    if name == "lm":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return F.cross_entropy(out, y)


# -- the model as pure jax.numpy over the state_dict ----------------------------------------
def loss_fn(name: str):
    """``(params, x, y) -> scalar loss`` in jax.numpy; ``params`` are ``init_params`` as jax arrays."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def linear(p, pre, x):
        return x @ p[pre + "weight"].T + p[pre + "bias"]

    def ce(logits, y):
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    def layer_norm(p, pre, x, eps=1e-5):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) * lax.rsqrt(var + eps) * p[pre + "weight"] + p[pre + "bias"]

    def conv(p, pre, x):
        y = lax.conv_general_dilated(x, p[pre + "weight"], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + p[pre + "bias"][None, :, None, None]

    if name in MLP_SIZES:

        def loss(p, x, y):
            h = jax.nn.relu(linear(p, "0.", x))
            h = jax.nn.relu(linear(p, "2.", h))
            out = linear(p, "4.", h)
            return jnp.mean((out - y) ** 2) if name == "tiny" else ce(out, y)

    elif name == "cnn":

        def loss(p, x, y):
            h = jax.nn.relu(conv(p, "0.", x))
            h = jax.nn.relu(conv(p, "2.", h))
            return ce(linear(p, "6.", h.mean((2, 3))), y)

    elif name == "lm":
        d, nh, seq = LM["d"], LM["heads"], LM["seq"]
        hd = d // nh

        def attention(p, pre, x, mask):
            b, s, _ = x.shape
            qkv = x @ p[pre + "in_proj_weight"].T + p[pre + "in_proj_bias"]
            q, k, v = (t.reshape(b, s, nh, hd).transpose(0, 2, 1, 3) for t in jnp.split(qkv, 3, axis=-1))
            att = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + mask, axis=-1)
            o = (att @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
            return linear(p, pre + "out_proj.", o)

        def loss(p, x, y):
            mask = jnp.triu(jnp.full((seq, seq), -jnp.inf, jnp.float32), k=1)
            h = p["emb.weight"][x] + p["pos"]
            for i in range(LM["layers"]):
                pre = f"encoder.layers.{i}."
                h = layer_norm(p, pre + "norm1.", h + attention(p, pre + "self_attn.", h, mask))
                ff = linear(p, pre + "linear2.", jax.nn.relu(linear(p, pre + "linear1.", h)))
                h = layer_norm(p, pre + "norm2.", h + ff)
            logits = linear(p, "head.", h)
            return ce(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    else:
        raise KeyError(name)
    return loss
