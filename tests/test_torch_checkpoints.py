"""PyTorch checkpoints load as is: the same architecture built from torch and eagerjax layers
gives the same outputs after ``model.load_state_dict(torch_model.state_dict())``."""

import numpy as np
import pytest

import eagerjax as ej

torch = pytest.importorskip("torch")

ATOL = 1e-5


def seq_net(tm):
    """Embedding -> LSTM -> MultiheadAttention (+ residual) -> LayerNorm -> mean pool -> Linear."""
    nn = tm.nn

    class SeqNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 8, batch_first=True)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.norm = nn.LayerNorm(8)
            self.head = nn.Linear(8, 5)

        def forward(self, tokens):
            h = self.emb(tokens)
            h, _ = self.lstm(h)
            a, _ = self.attn(h, h, h, need_weights=False)
            h = self.norm(h + a)
            return self.head(h.mean(dim=1))

    return SeqNet()


def conv_net(tm):
    """Conv2d -> BatchNorm2d -> ReLU -> Conv2d(stride 2) -> flatten -> Linear."""
    nn = tm.nn
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 4, 3, stride=2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 7),
    )


def seq_input():
    r = np.random.RandomState(0)
    tokens = r.randint(0, 20, size=(3, 6)).astype(np.int64)
    tokens[0, -2:] = 0  # padding entries
    return tokens


def conv_input():
    return np.random.RandomState(1).randn(2, 3, 8, 8).astype(np.float32)


def pair(builder, seed=0):
    """A torch model with trained-looking BatchNorm statistics, and a differently-seeded eagerjax twin."""
    torch.manual_seed(seed)
    tmodel = builder(torch)
    if builder is conv_net:
        with torch.no_grad():  # a few training-mode batches move the running statistics
            for k in range(3):
                tmodel(torch.from_numpy(np.random.RandomState(10 + k).randn(4, 3, 8, 8).astype(np.float32) * 2 + 1))
    tmodel.eval()
    ej.manual_seed(seed + 100)
    emodel = builder(ej).eval()
    return tmodel, emodel


def outputs(tmodel, emodel, x):
    with torch.no_grad():
        t = tmodel(torch.from_numpy(x)).numpy()
    with ej.no_grad():
        e = emodel(ej.tensor(x)).numpy()
    return t, e


@pytest.mark.parametrize("builder, make_input", [(seq_net, seq_input), (conv_net, conv_input)], ids=["seq", "conv"])
@pytest.mark.parametrize("source", ["torch", "numpy"])
def test_torch_state_dict_loads_and_matches(builder, make_input, source):
    tmodel, emodel = pair(builder)
    x = make_input()
    sd = tmodel.state_dict()
    assert list(emodel.state_dict()) == list(sd)  # torch's names and order
    for k, v in emodel.state_dict().items():
        assert tuple(v.shape) == tuple(sd[k].shape), k  # and layouts
    t, e = outputs(tmodel, emodel, x)
    assert not np.allclose(t, e, atol=1e-3)  # different weights before loading
    if source == "numpy":
        sd = {k: v.numpy() for k, v in sd.items()}
    result = emodel.load_state_dict(sd)
    assert not result.missing_keys and not result.unexpected_keys
    t, e = outputs(tmodel, emodel, x)
    np.testing.assert_allclose(e, t, rtol=1e-5, atol=ATOL)


@pytest.mark.parametrize("builder, make_input", [(seq_net, seq_input), (conv_net, conv_input)], ids=["seq", "conv"])
def test_eagerjax_state_dict_loads_into_torch(builder, make_input):
    tmodel, emodel = pair(builder)
    x = make_input()
    tmodel.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in emodel.state_dict().items()})
    t, e = outputs(tmodel, emodel, x)
    np.testing.assert_allclose(e, t, rtol=1e-5, atol=ATOL)


def test_batchnorm_buffers_loaded_in_eval():
    tmodel, emodel = pair(conv_net)
    emodel.load_state_dict(tmodel.state_dict())
    np.testing.assert_array_equal(emodel[1].running_mean.numpy(), tmodel[1].running_mean.numpy())
    np.testing.assert_array_equal(emodel[1].running_var.numpy(), tmodel[1].running_var.numpy())
    assert int(emodel[1].num_batches_tracked) == 3


def test_mismatched_checkpoint_is_refused():
    tmodel, emodel = pair(conv_net)
    sd = dict(tmodel.state_dict())
    sd["5.weight"] = torch.zeros(7, 35)
    with pytest.raises(RuntimeError, match="size mismatch for 5.weight"):
        emodel.load_state_dict(sd)
