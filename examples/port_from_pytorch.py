"""A PyTorch training script, ported by changing its import.

``script()`` below is plain PyTorch code: a small CNN, SGD with momentum, a StepLR
schedule, a few training steps. It receives the library as its ``torch`` argument, so
the *same lines* run once with PyTorch and once with ``import eagerjax as torch``.
Both start from one PyTorch ``state_dict`` (saved with ``torch.save`` and loaded
straight into the eagerjax model), and the losses agree step for step.

    python examples/port_from_pytorch.py [--quick]       # needs torch for the comparison
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np


def make_net(torch):
    """Unmodified PyTorch model code (torch is either PyTorch or eagerjax)."""
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.bn1(self.conv1(x))))
            x = self.pool(F.relu(self.conv2(x)))
            return self.fc(torch.flatten(x, 1))

    return Net()


def script(torch, state_dict, images, labels, steps: int) -> list[float]:
    """Unmodified PyTorch training code."""
    F = torch.nn.functional
    model = make_net(torch)
    model.load_state_dict(state_dict)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    x = torch.tensor(images)
    y = torch.tensor(labels).long()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    steps = 3 if ap.parse_args().quick else 30
    try:
        import torch as pytorch
    except ImportError:
        raise SystemExit("this example compares against PyTorch: pip install torch==2.13.0") from None
    import eagerjax

    rng = np.random.default_rng(0)
    images = rng.normal(size=(32, 1, 16, 16)).astype(np.float32)
    labels = rng.integers(0, 10, size=32)

    # A PyTorch checkpoint, as a PyTorch user would have it on disk.
    pytorch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.pt")
        pytorch.save(make_net(pytorch).state_dict(), path)
        state_dict = pytorch.load(path)

    theirs = script(pytorch, state_dict, images, labels, steps)
    ours = script(eagerjax, state_dict, images, labels, steps)
    print(f"{'step':>4} {'PyTorch':>10} {'eagerjax':>10}")
    for i, (a, b) in enumerate(zip(theirs, ours), 1):
        print(f"{i:>4} {a:>10.5f} {b:>10.5f}")
    worst = max(abs(a - b) / max(abs(a), 1e-6) for a, b in zip(theirs, ours))
    print(f"max relative difference over {steps} steps: {worst:.1e}")
    assert worst < 1e-3, worst


if __name__ == "__main__":
    main()
