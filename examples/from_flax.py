"""Take a Flax model (Linen and NNX), train it PyTorch-style, export it back to Flax.

``ej.nn.from_flax`` turns the Flax module into a stateful eagerjax Module: Flax params
become Parameters, ``batch_stats`` become buffers, dropout draws from eagerjax's
generator. It then trains with ``loss.backward(); opt.step()`` (here compiled), and
``ej.nn.to_flax`` hands the trained variables back to plain Flax, which must give the
same outputs.

    python examples/from_flax.py [--quick]
"""

from __future__ import annotations

import argparse

import flax.linen as linen
import jax
import numpy as np
from flax import nnx

import eagerjax as torch
import eagerjax.nn as nn
import eagerjax.nn.functional as F


class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x, train: bool = True):
        x = linen.Dense(64)(x)
        x = linen.BatchNorm(use_running_average=not train)(x)
        x = linen.relu(x)
        x = linen.Dropout(0.1, deterministic=not train)(x)
        return linen.Dense(3)(x)


class NNXMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(8, 64, rngs=rngs)
        self.bn = nnx.BatchNorm(64, rngs=rngs)
        self.drop = nnx.Dropout(0.1, rngs=rngs)
        self.fc2 = nnx.Linear(64, 3, rngs=rngs)

    def __call__(self, x):
        return self.fc2(self.drop(nnx.relu(self.bn(self.fc1(x)))))


def toy_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return torch.tensor(x), torch.tensor(y)


def train(model: nn.Module, x, y, steps: int) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    @torch.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return [float(step(x, y)) for _ in range(steps)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    steps = 3 if ap.parse_args().quick else 100
    x, y = toy_data()
    torch.manual_seed(0)

    # --- Linen -------------------------------------------------------------------------
    model = nn.from_flax(LinenMLP(), x[:2])
    print("linen state:", [k for k in model.state_dict()][:6], "...")
    losses = train(model, x, y, steps)
    print(f"linen: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    model.eval()
    with torch.no_grad():
        ours = model(x).numpy()
    flax_module, variables = nn.to_flax(model)
    theirs = np.asarray(flax_module.apply(variables, x.numpy(), train=False))
    print(f"linen: eagerjax vs plain Flax max |diff| = {np.abs(ours - theirs).max():.2e}")
    assert np.allclose(ours, theirs, atol=1e-5)

    # --- NNX ---------------------------------------------------------------------------
    nnx_model = NNXMLP(nnx.Rngs(0))
    model = nn.from_flax(nnx_model, x[:2])
    losses = train(model, x, y, steps)
    print(f"nnx:   loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    model.eval()
    with torch.no_grad():
        ours = model(x).numpy()
    exported = nn.to_flax(model)  # the original nnx module, updated in place
    exported.eval()
    theirs = np.asarray(exported(jax.numpy.asarray(x.numpy())))
    print(f"nnx:   eagerjax vs plain Flax max |diff| = {np.abs(ours - theirs).max():.2e}")
    assert np.allclose(ours, theirs, atol=1e-5)


if __name__ == "__main__":
    main()
