#!/usr/bin/python3
"""Checks the reference interpreter against PyTorch (float64) on fixed inputs.

Usage: interp_ops.py TEST_INTERP

Writes one IR graph using attention / attention_lse / attention_grad (causal grouped, and non-causal with
S != T), layernorm / layernorm_grad, rope (with and without positions), cross_entropy /
cross_entropy_grad, gelu / gelu_grad, and its inputs; runs `TEST_INTERP --run-ir` on them and
compares every output with what PyTorch computes (autograd for the gradients). Inputs come from a
seeded generator, so the test is deterministic; it takes about two seconds, most of it importing
torch. Exits non-zero on any mismatch, or when torch is missing (scripts/setup.sh installs it).
"""
import os
import subprocess
import sys
import tempfile

import torch

torch.set_default_dtype(torch.float64)
TOL = 1e-12


class Graph:
    """Builds the IR text and the inputs file side by side."""

    def __init__(self):
        self.lines, self.inputs, self.outputs = [], [], {}
        self.gen = torch.Generator().manual_seed(1234)

    def input(self, name, shape, values=None, dtype="f32"):
        if values is None:
            values = torch.randn(*shape, generator=self.gen)
        dims = ",".join(str(d) for d in shape)
        self.lines.append(f'  %{name} = input() name="{name}" : {dtype}[{dims}]')
        self.inputs.append((name, values.flatten().tolist()))
        return values

    def op(self, text):
        self.lines.append("  " + text)

    def output(self, name, value, want):
        self.lines.append(f'  %out.{name} = output(%{value}) name="{name}" : {type_of(want)}')
        self.outputs[name] = want.detach()

    def text(self):
        return 'graph "ref" {\n' + "\n".join(self.lines) + "\n}\n"


def type_of(t):
    return "f32[" + ",".join(str(d) for d in t.shape) + "]"


def attention(q, k, v, causal, scale):
    """Query head h reads KV head h // (H/G)."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    s = scale * q @ k.transpose(-1, -2)
    if causal:
        t = q.shape[2]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, -1) @ v


def attention_lse(q, k, causal, scale):
    """Each query row's log-sum-exp of its scaled, masked scores."""
    k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    s = scale * q @ k.transpose(-1, -2)
    if causal:
        t = q.shape[2]
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.logsumexp(s, -1)


def rope(x, pos, fraction, base):
    d = x.shape[-1]
    r = round(fraction * d)
    half = r // 2
    inv = base ** (-2.0 * torch.arange(half) / r)
    th = pos[..., None] * inv
    c, s = torch.cos(th), torch.sin(th)
    a, b = x[..., :half], x[..., half:r]
    return torch.cat([a * c - b * s, b * c + a * s, x[..., r:]], -1)


def grads(f, args, dout):
    args = [a.clone().requires_grad_() for a in args]
    f(*args).backward(dout)
    return [a.grad for a in args]


def build():
    g = Graph()
    for tag, (qs, ks, vs, causal) in {
        "gqa": ((2, 4, 5, 3), (2, 2, 5, 3), (2, 2, 5, 2), 1),
        "cross": ((1, 2, 3, 3), (1, 1, 4, 3), (1, 1, 4, 2), 0),
    }.items():
        q, k, v = g.input(f"{tag}.q", qs), g.input(f"{tag}.k", ks), g.input(f"{tag}.v", vs)
        out = attention(q, k, v, causal, 0.6)
        dout = g.input(f"{tag}.dout", tuple(out.shape))
        qkv = f"%{tag}.q, %{tag}.k, %{tag}.v"
        g.op(f"%{tag}.att = attention({qkv}) causal={causal} scale=0.6 : {type_of(out)}")
        g.output(f"{tag}.att", f"{tag}.att", out)
        lse = attention_lse(q, k, causal, 0.6)
        g.op(f"%{tag}.lse = attention_lse({qkv}) causal={causal} scale=0.6 : {type_of(lse)}")
        g.output(f"{tag}.lse", f"{tag}.lse", lse)
        for which, (name, want) in enumerate(zip("qkv", grads(lambda *a: attention(*a, causal, 0.6), [q, k, v], dout))):
            g.op(f"%{tag}.d{name} = attention_grad({qkv}, %{tag}.dout) causal={causal} scale=0.6 which={which}"
                 f" : {type_of(want)}")
            g.output(f"{tag}.d{name}", f"{tag}.d{name}", want)
            # With the forward's output and statistics as operands (pass attention_stats): the same.
            g.op(f"%{tag}.d{name}.s = attention_grad({qkv}, %{tag}.dout, %{tag}.att, %{tag}.lse) causal={causal}"
                 f" scale=0.6 which={which} : {type_of(want)}")
            g.output(f"{tag}.d{name}.s", f"{tag}.d{name}.s", want)

    x, w, b, dy = g.input("ln.x", (3, 6)), g.input("ln.w", (6,)), g.input("ln.b", (6,)), g.input("ln.dy", (3, 6))
    ln = torch.nn.functional.layer_norm(x, (6,), w, b, 1e-5)
    g.op(f"%ln = layernorm(%ln.x, %ln.w, %ln.b) eps=1e-05 : {type_of(ln)}")
    g.output("ln", "ln", ln)
    dx = grads(lambda x_: torch.nn.functional.layer_norm(x_, (6,), w, b, 1e-5), [x], dy)[0]
    g.op(f"%lng = layernorm_grad(%ln.x, %ln.w, %ln.dy) eps=1e-05 : {type_of(dx)}")
    g.output("lng", "lng", dx)

    x = g.input("rope.x", (2, 2, 3, 8))
    pos = torch.tensor([[[5, 0, 17], [2, 2, 9]], [[0, 1, 2], [30, 4, 1]]], dtype=torch.float64)
    g.input("rope.pos", (2, 2, 3), pos, "i32")
    want = rope(x, pos, 0.5, 100.0)
    g.op(f"%rope.p = rope(%rope.x, %rope.pos) fraction=0.5 base=100.0 : {type_of(want)}")
    g.output("rope.pos", "rope.p", want)
    want = rope(x, torch.arange(3.0).expand(2, 2, 3), 1.0, 10000.0)
    g.op(f"%rope.t = rope(%rope.x) fraction=1.0 base=1e+04 : {type_of(want)}")
    g.output("rope", "rope.t", want)

    logits = g.input("ce.logits", (2, 3, 7))
    targets = torch.tensor([[0, 6, 3], [2, 2, 5]])
    g.input("ce.targets", (2, 3), targets.double(), "i32")
    dloss = g.input("ce.dloss", (), torch.tensor(1.7))
    ce = lambda z: torch.nn.functional.cross_entropy(z.reshape(-1, 7), targets.reshape(-1))
    g.op("%ce = cross_entropy(%ce.logits, %ce.targets) : f32[]")
    g.output("ce", "ce", ce(logits))
    g.op("%ceg = cross_entropy_grad(%ce.logits, %ce.targets, %ce.dloss) : f32[2,3,7]")
    g.output("ceg", "ceg", grads(ce, [logits], dloss)[0])

    x, dy = g.input("gelu.x", (4, 5)), g.input("gelu.dy", (4, 5))
    g.op("%gelu = gelu(%gelu.x) : f32[4,5]")
    g.output("gelu", "gelu", torch.nn.functional.gelu(x))
    g.op("%gelug = gelu_grad(%gelu.x, %gelu.dy) : f32[4,5]")
    g.output("gelug", "gelug", grads(torch.nn.functional.gelu, [x], dy)[0])
    return g


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    g = build()
    with tempfile.TemporaryDirectory() as tmp:
        ir, inputs = os.path.join(tmp, "ref.ir"), os.path.join(tmp, "inputs.txt")
        with open(ir, "w") as f:
            f.write(g.text())
        with open(inputs, "w") as f:
            for name, values in g.inputs:
                f.write(f"{name} {len(values)} " + " ".join(repr(float(v)) for v in values) + "\n")
        run = subprocess.run([sys.argv[1], "--run-ir", ir, inputs], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"interpreter failed:\n{run.stderr}")
    got = {}
    for line in run.stdout.splitlines():
        name, count, *values = line.split()
        assert int(count) == len(values), line
        got[name] = [float(v) for v in values]
    failures = 0
    for name, want in g.outputs.items():
        want = want.flatten().tolist()
        have = got.get(name)
        if have is None or len(have) != len(want):
            print(f"{name}: missing or wrong size")
            failures += 1
            continue
        err = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(have, want))
        ok = err <= TOL
        failures += not ok
        print(f"{name:12} {len(want):4} values, max rel err {err:.2g}{'' if ok else '  FAIL'}")
    if failures:
        sys.exit(f"{failures} outputs differ from PyTorch")


if __name__ == "__main__":
    main()
