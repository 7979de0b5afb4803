"""Random models and optimizers for ``eagerjax.testing.modules`` / ``optimizers``.

A :class:`ModelSpec` is a printable recipe (``Sequential(Linear(6, 8), ReLU(), ...)``) whose
``build(seed)`` makes a fresh eagerjax model and ``inputs(batch)`` matching data; an
:class:`OptimizerSpec` is a recipe for an optimizer (and optional lr scheduler) over given
parameters. Both only need ``draw`` and are built by the strategies in ``eagerjax.testing``.
"""

from __future__ import annotations


class Draws:
    """``pick``/``int``/``bool`` on top of a hypothesis ``draw``."""

    def __init__(self, draw, st) -> None:
        self.draw, self.st = draw, st

    def pick(self, seq):
        seq = list(seq)
        return seq[0] if len(seq) == 1 else self.draw(self.st.sampled_from(seq))

    def int(self, lo, hi) -> int:
        return lo if lo >= hi else self.draw(self.st.integers(lo, hi))

    def bool(self, p: float = 0.5) -> bool:
        return self.draw(self.st.integers(0, 99)) < int(p * 100)


ACTIVATIONS = ["ReLU", "Tanh", "GELU", "SiLU", "Sigmoid", "LeakyReLU", "ELU"]


def _fmt(name, args, kwargs) -> str:
    a = [repr(x) for x in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(a)})"


class _SelfAttention:
    """Factory for a module: self-attention over ``(B, T, E)`` (``nn.MultiheadAttention``, batch_first)."""

    @staticmethod
    def make(embed_dim, num_heads, dropout=0.0):
        import eagerjax.nn as nn

        class SelfAttention(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)

            def forward(self, x):
                return self.attn(x, x, x, need_weights=False)[0]

        return SelfAttention()


class _MeanTime:
    @staticmethod
    def make(dim=1):
        import eagerjax.nn as nn

        class Mean(nn.Module):
            def forward(self, x):
                return x.mean(dim=dim)

        return Mean()


class ModelSpec:
    """A random layer stack: ``layers`` (class name, args, kwargs), the input's per-example shape
    ``features`` and the number of outputs ``classes`` (``(B, classes)`` logits)."""

    def __init__(self, layers, features: tuple, classes: int, kind: str) -> None:
        self.layers = list(layers)
        self.features = tuple(features)
        self.classes = classes
        self.kind = kind

    def __repr__(self) -> str:
        body = ", ".join(_fmt(n, a, k) for n, a, k in self.layers)
        return f"Sequential({body})  # input (B, {', '.join(map(str, self.features))})"

    @property
    def has_dropout(self) -> bool:
        return any(n == "Dropout" or k.get("dropout") for n, _, k in self.layers)

    @property
    def has_batchnorm(self) -> bool:
        return any(n.startswith("BatchNorm") for n, _, _ in self.layers)

    def build(self, seed: int = 0):
        """A fresh ``nn.Sequential`` (initialized after ``ej.manual_seed(seed)``)."""
        import eagerjax as ej
        import eagerjax.nn as nn

        ej.manual_seed(seed)
        mods = []
        for name, args, kwargs in self.layers:
            if name == "SelfAttention":
                mods.append(_SelfAttention.make(*args, **kwargs))
            elif name == "MeanTime":
                mods.append(_MeanTime.make(*args, **kwargs))
            else:
                mods.append(getattr(nn, name)(*args, **kwargs))
        return nn.Sequential(*mods)

    def input_shape(self, batch: int) -> tuple:
        return (batch,) + self.features

    def inputs(self, batch: int, seed: int = 0):
        """``(x, y)``: standard-normal inputs and integer class labels for a batch."""
        import eagerjax as ej

        g = ej.Generator().manual_seed(seed)
        return (ej.randn(*self.input_shape(batch), generator=g), ej.randint(0, self.classes, (batch,), generator=g))


def _act(G):
    n = G.pick(ACTIVATIONS)
    return (n, (), {"negative_slope": 0.1} if n == "LeakyReLU" else {})


def _mlp(G, max_layers, dropout, norm) -> ModelSpec:
    f = G.int(1, 12)
    layers, width = [], f
    for _ in range(G.int(1, max_layers)):
        h = G.int(1, 16)
        layers.append(("Linear", (width, h), {} if G.bool(0.8) else {"bias": False}))
        width = h
        if norm and G.bool(0.3):
            layers.append(G.pick([("LayerNorm", (h,), {}), ("BatchNorm1d", (h,), {})]))
        layers.append(_act(G))
        if dropout and G.bool(0.3):
            layers.append(("Dropout", (G.pick([0.1, 0.5]),), {}))
    c = G.int(1, 6)
    layers.append(("Linear", (width, c), {}))
    return ModelSpec(layers, (f,), c, "mlp")


def _conv_spec(G, nd, max_layers, dropout, norm) -> ModelSpec:
    size0 = [G.int(4, 9) for _ in range(nd)]
    cin = G.int(1, 3)
    size = list(size0)
    layers, ch = [], cin
    for _ in range(G.int(1, max(1, max_layers - 1))):
        k, stride, pad = G.int(1, 3), G.int(1, 2), G.int(0, 1)
        if any((s + 2 * pad - k) // stride + 1 < 1 for s in size):
            break
        cout = G.int(1, 6)
        layers.append((f"Conv{nd}d", (ch, cout, k), {"stride": stride, "padding": pad}))
        size = [(s + 2 * pad - k) // stride + 1 for s in size]
        ch = cout
        if norm and nd == 1 and G.bool(0.3):
            layers.append(("BatchNorm1d", (ch,), {}))
        layers.append(_act(G))
        if dropout and G.bool(0.2):
            layers.append(("Dropout", (0.2,), {}))
    flat = ch
    for s in size:
        flat *= s
    c = G.int(1, 5)
    layers += [("Flatten", (), {}), ("Linear", (flat, c), {})]
    return ModelSpec(layers, (cin, *size0), c, f"conv{nd}d")


def _attention(G, dropout, norm) -> ModelSpec:
    heads = G.int(1, 2)
    e = heads * G.int(1, 4)
    t = G.int(1, 5)
    layers = [("Linear", (e, e), {})] if G.bool(0.3) else []
    layers.append(("SelfAttention", (e, heads), {"dropout": 0.1} if dropout and G.bool(0.2) else {}))
    if norm and G.bool(0.5):
        layers.append(("LayerNorm", (e,), {}))
    layers.append(_act(G))
    c = G.int(1, 4)
    layers += [("MeanTime", (), {"dim": 1}), ("Linear", (e, c), {})]
    return ModelSpec(layers, (t, e), c, "attention")


def draw_model(G, kinds, max_layers, dropout, norm) -> ModelSpec:
    kind = G.pick(kinds)
    if kind == "mlp":
        return _mlp(G, max_layers, dropout, norm)
    if kind in ("conv1d", "conv2d"):
        return _conv_spec(G, int(kind[4]), max_layers, dropout, norm)
    return _attention(G, dropout, norm)


# --------------------------------------------------------------------------- optimizers


class OptimizerSpec:
    """``name(params, **kwargs)`` plus an optional scheduler ``(name, kwargs)``."""

    def __init__(self, name: str, kwargs: dict, scheduler: tuple | None = None) -> None:
        self.name = name
        self.kwargs = dict(kwargs)
        self.scheduler = scheduler

    def __repr__(self) -> str:
        s = _fmt(f"optim.{self.name}", ("params",), self.kwargs)
        if self.scheduler:
            s += " + " + _fmt(f"lr_scheduler.{self.scheduler[0]}", ("opt",), self.scheduler[1])
        return s

    def build(self, params):
        """``(optimizer, scheduler or None)`` over ``params``."""
        import eagerjax as ej

        opt = getattr(ej.optim, self.name)(params, **self.kwargs)
        sched = None
        if self.scheduler:
            sched = getattr(ej.optim.lr_scheduler, self.scheduler[0])(opt, **self.scheduler[1])
        return opt, sched


def _opt_kwargs(G, name) -> dict:
    lr = G.pick([1e-3, 1e-2, 0.05, 0.1])
    wd = {"weight_decay": G.pick([1e-4, 1e-2])} if G.bool(0.3) else {}
    if name == "SGD":
        kw = {"lr": lr}
        if G.bool(0.5):
            kw["momentum"] = G.pick([0.5, 0.9])
            if G.bool(0.4):
                kw["nesterov"] = True
            elif G.bool(0.3):
                kw["dampening"] = 0.1
        if G.bool(0.1):
            kw["maximize"] = True
        return {**kw, **wd}
    if name in ("Adam", "AdamW", "Adamax", "NAdam", "RAdam"):
        # eps well above float32 rounding: Adam divides a gradient by its own magnitude, so a
        # gradient that is zero up to rounding (a weight before BatchNorm, a dead unit) would
        # move by a different lr-sized step in each mode: ill-conditioned, not a capture bug
        # (README, "What differs"; thorough runs found exactly that with eps 1e-8, 1e-6 and, at
        # lr 0.1 on a conv weight before BatchNorm, 1e-4: update noise ~ lr * rounding / eps).
        kw = {"lr": lr, "betas": G.pick([(0.9, 0.999), (0.8, 0.99)]), "eps": 1e-3}
        if name in ("Adam", "AdamW") and G.bool(0.3):
            kw["amsgrad"] = True
        if name in ("NAdam", "RAdam") and G.bool(0.3):
            kw["decoupled_weight_decay"] = True
        return {**kw, **wd}
    if name == "RMSprop":
        # (eps well above rounding, as for Adam: RMSprop divides by the gradient's own scale too)
        kw = {"lr": lr / 10, "alpha": G.pick([0.9, 0.99]), "eps": 1e-3}
        if G.bool(0.3):
            kw["momentum"] = 0.5
        if G.bool(0.3):
            kw["centered"] = True
        return {**kw, **wd}
    if name == "Adagrad":
        kw = {"lr": lr, "eps": 1e-3}  # (likewise)
        if G.bool(0.3):
            kw["lr_decay"] = 0.01
        if G.bool(0.3):
            kw["initial_accumulator_value"] = 0.1
        return {**kw, **wd}
    return {"lr": lr}


def _sched(G, name):
    return {
        "StepLR": lambda: {"step_size": G.int(1, 3), "gamma": G.pick([0.5, 0.9])},
        "MultiStepLR": lambda: {"milestones": sorted({G.int(1, 4), G.int(1, 4)}), "gamma": 0.5},
        "ExponentialLR": lambda: {"gamma": G.pick([0.5, 0.9])},
        "CosineAnnealingLR": lambda: {"T_max": G.int(1, 5), "eta_min": G.pick([0.0, 1e-4])},
        "LinearLR": lambda: {"start_factor": G.pick([0.25, 0.5]), "total_iters": G.int(1, 4)},
        "ConstantLR": lambda: {"factor": 0.5, "total_iters": G.int(1, 3)},
        "PolynomialLR": lambda: {"total_iters": G.int(1, 4), "power": G.pick([1.0, 2.0])},
        "CosineAnnealingWarmRestarts": lambda: {"T_0": G.int(1, 3), "T_mult": G.int(1, 2)},
    }[name]()


OPTIMIZERS = [
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adamax",
    "NAdam",
    "RAdam",
    "ASGD",
]  # (not Rprop: it steps by the sign of ~0 gradients, which rounding decides)
SCHEDULERS = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "ConstantLR",
    "PolynomialLR",
    "CosineAnnealingWarmRestarts",
]


def draw_optimizer(G, names, schedulers, p_scheduler) -> OptimizerSpec:
    import eagerjax as ej

    names = [n for n in names if hasattr(ej.optim, n)]
    name = G.pick(names)
    sched = None
    avail = [s for s in schedulers if hasattr(ej.optim.lr_scheduler, s)]
    if avail and G.bool(p_scheduler):
        s = G.pick(avail)
        sched = (s, _sched(G, s))
    return OptimizerSpec(name, _opt_kwargs(G, name), sched)
