"""A tiny character-level Transformer language model, trained compiled, then sampling text.

The corpus ships with the repository (examples/data/tiny_corpus.txt). The model is
written exactly as in PyTorch — Embedding, positional embedding, TransformerEncoder
with a causal mask, a linear head — and its training step is captured by
``torch.compile`` (eagerjax's) into one XLA program.

    python examples/char_transformer.py           # ~1-2 minutes on 2 CPU cores
    python examples/char_transformer.py --quick   # a few steps (tests)
"""

from __future__ import annotations

import argparse
import os
import time

import eagerjax as torch
import eagerjax.nn as nn
import eagerjax.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class CharLM(nn.Module):
    def __init__(self, vocab: int, block: int, d: int = 64, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(block, d)
        layer = nn.TransformerEncoderLayer(
            d, heads, dim_feedforward=4 * d, dropout=0.1, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(block), persistent=False)

    def forward(self, idx):
        t = idx.shape[1]
        h = self.tok(idx) + self.pos(torch.arange(t))
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=600)
    args = ap.parse_args()
    steps = 5 if args.quick else args.steps
    with open(os.path.join(HERE, "data", "tiny_corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text])
    block, batch = 32, 32
    torch.manual_seed(0)
    # --quick: a smaller model so the test suite compiles less.
    model = CharLM(len(chars), block, d=32, layers=1) if args.quick else CharLM(len(chars), block)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)

    @torch.compile
    def train_step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        return loss

    print(
        f"corpus: {len(text)} characters, vocabulary {len(chars)}; model: "
        f"{sum(p.numel() for p in model.parameters())} parameters"
    )
    offsets = torch.arange(block)
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(data) - block - 1, (batch,))
        idx = starts[:, None] + offsets
        loss = train_step(data[idx], data[idx + 1])
        if step == 1 or step % 100 == 0 or step == steps:
            print(f"step {step:4d}  loss {float(loss):.3f}  ({time.perf_counter() - t0:.1f}s)")
    stats = train_step.stats()
    print(f"compiled {stats['traces']} time(s), {stats['compile_seconds']:.1f}s compiling; {stats['hits']} cache hits")

    model.eval()
    out = [stoi[c] for c in "The river "]
    with torch.no_grad():
        for _ in range(40 if args.quick else 300):
            ctx = torch.tensor([out[-block:]])
            logits = model(ctx)[0, -1] / 0.8
            out.append(int(torch.multinomial(logits.softmax(-1), 1)))
    print("sample:", "".join(chars[i] for i in out))


if __name__ == "__main__":
    main()
