"""GPU smoke check: eagerjax on JAX's default device (a GPU), eager vs compiled vs lazy.

Run on a machine where JAX sees a GPU (``tools/gpu_check.sh`` runs it first). Prints one
OK/FAIL line per check and exits 1 if any failed. Every check is torch's behaviour on CUDA:
the three modes agree, tensors live on ``cuda:0``, GradScaler and autocast("cuda") are
active, float32 products are full float32 (torch's ``allow_tf32=False``)."""

import io
import sys

import jax
import numpy as np

import eagerjax as ej
import eagerjax.nn as nn
import eagerjax.nn.functional as F

print("jax", jax.__version__, jax.devices(), flush=True)
if jax.default_backend() == "cpu":
    sys.exit("tools/gpu_smoke.py: JAX sees no GPU here")
print("ej.cuda.is_available", ej.cuda.is_available(), "device", ej.randn(2).device, "is_cuda", ej.randn(2).is_cuda)
failures = []


def check(name, ok, detail=""):
    print(("OK   " if ok else "FAIL ") + name, detail, flush=True)
    if not ok:
        failures.append(name)


def make():
    ej.manual_seed(0)
    m = nn.Sequential(nn.Linear(32, 64, bias=False), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    opt = ej.optim.Adam(m.parameters(), lr=1e-2)
    sch = ej.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    return m, opt, sch


rng = np.random.default_rng(0)
X = ej.tensor(rng.standard_normal((20, 16, 32)).astype(np.float32))
Y = ej.tensor(rng.integers(0, 10, (20, 16)))


def run(mode):
    m, opt, sch = make()

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        sch.step()
        return loss

    f = ej.compile(step) if mode == "compiled" else step
    losses = []
    if mode == "lazy":
        with ej.lazy():
            for i in range(20):
                losses.append(float(f(X[i], Y[i])))
    else:
        for i in range(20):
            losses.append(float(f(X[i], Y[i])))
    params = np.concatenate([p.detach().cpu().numpy().ravel() for p in m.parameters()])
    bufs = np.concatenate([b.cpu().numpy().ravel().astype(np.float64) for b in m.buffers()])
    return np.array(losses), params, bufs


ref = run("eager")
for mode in ("compiled", "lazy"):
    got = run(mode)
    for what, a, b in zip(("losses", "params", "buffers"), ref, got):
        err = float(np.max(np.abs(a - b)) / (np.max(np.abs(a)) + 1e-12))
        check(f"{mode} {what} == eager", err < 1e-5, f"max err / max|ref| {err:.2e}")

# device movement and host round trips
t = ej.arange(6.0).reshape(2, 3)
check("cpu() numpy", np.allclose(t.cpu().numpy(), np.arange(6.0).reshape(2, 3)))
check("to('cuda'), str(device)", str(t.to("cuda").device) == "cuda:0", str(t.to("cuda").device))
check("tolist/item", t.sum().item() == 15.0 and t.tolist()[1] == [3.0, 4.0, 5.0])

# autocast + GradScaler on cuda
m, opt, _ = make()
scaler = ej.amp.GradScaler("cuda")
check("GradScaler enabled on cuda", scaler.is_enabled())
for i in range(5):
    opt.zero_grad()
    with ej.autocast("cuda"):
        out = m(X[i])
        check_dtype = out.dtype
        loss = F.cross_entropy(out, Y[i])
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
check("autocast cuda dtype float16", check_dtype == ej.float16, str(check_dtype))
check("amp loss finite", np.isfinite(float(loss)), str(float(loss)))

# save/load
buf = io.BytesIO()
ej.save(m.state_dict(), buf)
buf.seek(0)
sd = ej.load(buf)
check("save/load", all(np.array_equal(sd[k].cpu().numpy(), v.cpu().numpy()) for k, v in m.state_dict().items()))

# fp32 matmul precision: torch's default is full fp32 on cuda (allow_tf32=False)
a = ej.randn(512, 512)
b = ej.randn(512, 512)
ref64 = a.cpu().numpy().astype(np.float64) @ b.cpu().numpy().astype(np.float64)
err = float(np.max(np.abs((a @ b).cpu().numpy() - ref64)) / np.max(np.abs(ref64)))
check(
    "fp32 matmul is full precision (no tf32)", err < 1e-5, f"{err:.2e}, allow_tf32={ej.backends.cuda.matmul.allow_tf32}"
)

print("FAILURES:", failures)
sys.exit(1 if failures else 0)
