"""Train an MLP and a small CNN on scikit-learn's bundled digits (no download), PyTorch style.

Each model trains twice from the same initial weights: eagerly (define-by-run,
every op runs at once), then with the training step captured by ``ej.compile``
as one XLA program. Same code, same numbers, and the speed-up is printed.

    python examples/train_digits.py            # full run (~1 minute on 2 CPU cores)
    python examples/train_digits.py --quick    # a few steps, used by the test suite
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import eagerjax as torch  # the only line that differs from a PyTorch script
import eagerjax.nn as nn
import eagerjax.nn.functional as F

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is optional

    def tqdm(it, **_):
        return it


def load_digits(seed: int = 0):
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = idx[:cut], idx[cut:]
    return torch.tensor(x[tr]), torch.tensor(y[tr]), torch.tensor(x[te]), torch.tensor(y[te])


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def train(make_model, data, *, compiled: bool, epochs: int, batch: int, max_steps: int | None, label: str):
    xtr, ytr, xte, yte = data
    torch.manual_seed(0)  # same initial weights and dropout masks in both runs
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step = torch.compile(train_step) if compiled else train_step
    n = xtr.shape[0] - xtr.shape[0] % batch  # fixed batch shape: one compiled program
    steps, losses = 0, []
    t_first = None
    t0 = time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"{label:>13}", leave=False):
        perm = torch.randperm(xtr.shape[0])[:n]
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            loss = step(xtr[idx], ytr[idx])
            steps += 1
            if t_first is None:
                float(loss)
                t_first = time.perf_counter() - t0
            if max_steps and steps >= max_steps:
                break
        losses.append(float(loss))
        if max_steps and steps >= max_steps:
            break
    elapsed = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = float((model(xte).argmax(1) == yte).float().mean())
    steady = (elapsed - t_first) / max(1, steps - 1)
    return {"loss": losses[-1], "acc": acc, "steps": steps, "first_s": t_first, "step_us": steady * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few steps only (for tests)")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    data = load_digits()
    epochs, max_steps = (1, 6) if args.quick else (args.epochs, None)
    print(f"digits: {data[0].shape[0]} train / {data[2].shape[0]} test images, 8x8, 10 classes")
    print(f"{'model':<5} {'mode':<9} {'test acc':>9} {'final loss':>11} {'first step':>11} {'per step':>10}")
    for name, make in (("MLP", mlp), ("CNN", cnn)):
        res = {}
        for compiled in (False, True):
            mode = "compiled" if compiled else "eager"
            r = res[mode] = train(
                make, data, compiled=compiled, epochs=epochs, batch=64, max_steps=max_steps, label=f"{name} {mode}"
            )
            print(
                f"{name:<5} {mode:<9} {r['acc']:>9.3f} {r['loss']:>11.4f} {r['first_s']:>10.2f}s {r['step_us']:>8.0f}µs"
            )
        print(
            f"{name}: compiled step is {res['eager']['step_us'] / res['compiled']['step_us']:.1f}x faster "
            f"than eager; same loss to {abs(res['eager']['loss'] - res['compiled']['loss']):.1e}"
        )


if __name__ == "__main__":
    main()
