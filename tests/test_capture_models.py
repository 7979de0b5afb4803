"""Eager is the reference: compiled and lazy training of real models give the same numbers."""

import numpy as np
import pytest

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F
from eagerjax.testing import assert_compile_equivalent

pytestmark = pytest.mark.usefixtures("fresh_lazy")  # (tests/conftest.py)


def make_step(model, opt, sched=None, loss_fn=F.cross_entropy, clip=None):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
        return loss

    return step


def test_mlp_adam_cosine():
    ej.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 5))
    opt = ej.optim.Adam(model.parameters(), lr=1e-2)
    sched = ej.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    x, y = ej.randn(16, 20), ej.randint(0, 5, (16,))
    assert_compile_equivalent(make_step(model, opt, sched), x, y, steps=20, rtol=1e-5, atol=1e-6)


def test_mlp_batchnorm_dropout_sgd_nesterov_steplr():
    ej.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Dropout(0.3), nn.Linear(24, 3))
    opt = ej.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    x, y = ej.randn(32, 10), ej.randint(0, 3, (32,))
    assert_compile_equivalent(make_step(model, opt, sched), x, y, steps=20, rtol=1e-5, atol=1e-6)


def test_dropout_masks_bit_identical_across_modes():
    drop = nn.Dropout(0.5)

    def f(x):
        return drop(x)

    x = ej.ones(64)
    ej.manual_seed(5)
    eager = [f(x).numpy() for _ in range(3)]
    ej.manual_seed(5)
    c = ej.compile(f)
    comp = [c(x).numpy() for _ in range(3)]
    ej.manual_seed(5)
    with ej.lazy():
        lz = [f(x) for _ in range(3)]
    lz = [t.numpy() for t in lz]
    np.testing.assert_array_equal(np.stack(comp), np.stack(eager))
    np.testing.assert_array_equal(np.stack(lz), np.stack(eager))


def test_trace_counts_with_optimizer_scheduler_and_eval():
    ej.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4))
    opt = ej.optim.Adam(model.parameters(), lr=1e-3)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    step = ej.compile(make_step(model, opt, sched))
    x, y = ej.randn(32, 8), ej.randint(0, 4, (32,))
    for _ in range(50):
        step(x, y)
    s = step.stats()
    assert s["traces"] == 1, s["recompiles"]
    lr_after = float(opt.param_groups[0]["lr"])
    assert lr_after == pytest.approx(1e-3 * 0.5 ** (50 // 3))  # the schedule advanced in every compiled call
    opt.param_groups[0]["lr"] = 0.5  # by hand: no recompile
    step(x, y)
    assert step.stats()["traces"] == 1
    x2, y2 = ej.randn(16, 8), ej.randint(0, 4, (16,))
    step(x2, y2)
    assert step.stats()["traces"] == 2
    step(x, y)
    assert step.stats()["traces"] == 2
    model.eval()
    step(x, y)
    assert step.stats()["traces"] == 3
    assert "training True -> False" in step.stats()["recompiles"][-1]
    model.train()
    step(x, y)
    assert step.stats()["traces"] == 3


def test_compiled_module_forward_trains_with_eager_backward():
    ej.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 2))
    ref = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 2))
    ref.load_state_dict(model.state_dict())
    cmodel = ej.compile(model)
    x = ej.randn(10, 6)
    out = cmodel(x)
    eout = ref(x)
    np.testing.assert_allclose(out.detach().numpy(), eout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    eout.sum().backward()
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)
    np.testing.assert_allclose(model[1].running_mean.numpy(), ref[1].running_mean.numpy(), rtol=1e-6)
    assert cmodel.stats()["traces"] >= 1


def test_buffer_reassigned_in_forward_is_state():
    class Ema(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("avg", ej.zeros(3))

        def forward(self, x):
            self.avg = 0.9 * self.avg + 0.1 * x.mean(0)
            return x - self.avg

    m = Ema()
    x = ej.randn(4, 3)
    assert_compile_equivalent(lambda x: m(x), x, steps=4)
    c = ej.compile(m)
    for _ in range(3):
        c(x)
    assert c.stats()["traces"] == 1


def test_cnn_batchnorm_dropout_sgd_momentum_nesterov_steplr():
    ej.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, 5),
    )
    opt = ej.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    sched = ej.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.3)
    x, y = ej.randn(8, 1, 8, 8), ej.randint(0, 5, (8,))
    assert_compile_equivalent(make_step(model, opt, sched), x, y, steps=20, rtol=1e-5, atol=1e-6)


def test_transformer_encoder_adamw_grad_clipping():
    if not hasattr(nn, "TransformerEncoderLayer"):
        pytest.skip("nn.TransformerEncoderLayer not available")
    ej.manual_seed(5)

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 8)
            # bias=False: the key projection's bias has an exactly zero gradient (softmax ignores a
            # per-query constant), so AdamW would turn each mode's rounding noise into lr-sized steps
            layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True, bias=False)
            self.enc = nn.TransformerEncoder(layer, 1)
            self.head = nn.Linear(8, 11)

        def forward(self, tokens):
            return self.head(self.enc(self.emb(tokens)))

    model = LM()
    opt = ej.optim.AdamW(model.parameters(), lr=1e-3)
    x = ej.randint(0, 11, (4, 7))
    y = ej.randint(0, 11, (4, 7))

    def loss_fn(logits, target):
        return F.cross_entropy(logits.reshape(-1, 11), target.reshape(-1))

    step = make_step(model, opt, loss_fn=loss_fn, clip=1.0)
    assert_compile_equivalent(step, x, y, steps=20, rtol=1e-5, atol=1e-5)


def test_lstm_classifier():
    if not hasattr(nn, "LSTM"):
        pytest.skip("nn.LSTM not available")
    ej.manual_seed(6)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(5, 12, num_layers=2, batch_first=True)
            self.fc = nn.Linear(12, 3)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            return self.fc(out[:, -1])

    model = Net()
    opt = ej.optim.Adam(model.parameters(), lr=1e-2)
    x, y = ej.randn(6, 9, 5), ej.randint(0, 3, (6,))
    assert_compile_equivalent(make_step(model, opt), x, y, steps=20, rtol=1e-5, atol=1e-6)
