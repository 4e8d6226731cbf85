#!/usr/bin/env python3
"""Time one training step (forward + backward + grad clip + AdamW) of the MoAS paper configuration
(batch 12, context 256, vocab 283, width 384, 4 layers, 6 heads, LayerNorm without bias, GELU MLP 4x,
learned positions, tied embeddings, dropout 0.1, AdamW lr 3e-4 betas (0.9, 0.99) wd 0.1 on >= 2-D
weights, clip 1.0) in moac and in its peers, in one run, on the same number of threads:

  moac           ./build/moac train models/<m>.moa --backend <B>   (step time = B*T / tokens_per_s)
  pytorch        PyTorch eager, Debian python3-torch via /usr/bin/python3, OpenBLAS with
                 OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset in that command (the design brief, §5)
  torch-compile  the same model under torch.compile, where the installed torch has it ("n/a" on 1.13)
  jax            pure JAX, the whole step under jax.jit (the `python3` on PATH)
  tinygrad       tinygrad on its CPU device, the whole step under TinyJit (the `python3` on PATH)

    python3 bench/train_step.py                                   # all models, all peers, moac --backend cpu
    python3 bench/train_step.py --models mha --peers pytorch,jax --steps 4 --json out.json
    python3 bench/train_step.py --models mha --moac-backend interp --batch 1 --steps 1 --peers none
    python3 bench/train_step.py --moac-backend cuda --device cuda --peers pytorch,torch-compile \
        --torch-python python3                                    # the GPU: moac's cuda backend against PyTorch

Each peer runs in its own subprocess (a crash or a missing module costs only its column), builds
the model from `moac check --json` of the same spec (so heads, KV heads, router width and the
parameter count come from moac), checks that its non-embedding parameter count equals moac's, does
--warmup steps, then times --steps steps; the table shows medians in seconds per step and how many
times faster moac is than each peer (peer time / moac time). Install the peers with
scripts/bench-setup.sh.

--device cuda runs the PyTorch peers on the GPU (fp32; --tf32 lets their matmuls use TF32 tensor
cores, torch.backends.cuda.matmul.allow_tf32), each step ending in loss.item(), which waits for the
GPU; pair it with --moac-backend cuda.

Debian's torch calls libblas.so.3: without libopenblas0 (scripts/bench-setup.sh installs it) that is
the reference BLAS, ~50x slower on matmuls; the pytorch row reports which BLAS it found.
--dropout 0 makes the peers' losses agree step by step (same numpy init, same batches): a check that
they train the same model.

The peer models mirror moac's IR (`moac ir models/<m>.moa`): separate Q, K, V, O projections per
branch (no biases), GQA/MQA read KV head i / (H/G) without materialising repeated K/V, dropout on the
embeddings, on each branch output (after its output projection, before the mix), on the MLP output
and (dynamic MoAS) on the gates, not on attention probabilities; the balance loss
weight/layers * MSE(mean_{B,T} gates, 1/n) per layer is computed from the gates before dropout;
exact (erf) GELU; GPT-2 init; global-norm clip with scale clip/(norm + 1e-6) as torch does.
"""
import argparse, json, math, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_PEERS = ["pytorch", "torch-compile", "jax", "tinygrad"]
ALL_MODELS = ["mha", "moas-static", "moas"]
NOT_INSTALLED = "not installed (run scripts/bench-setup.sh)"

# What `moac check --json` does not print: the paper's training configuration and the backbone
# details shared by the three specs (models/common/moas-paper.moa, docs/language.md).
PAPER = dict(batch=12, mlp_mult=4, dropout=0.1, eps=1e-5, lr=3e-4, betas=(0.9, 0.99), weight_decay=0.1,
             adam_eps=1e-8, clip=1.0, init_std=0.02)


# ---------------------------------------------------------------------------------------------
# The model description every peer builds from (from `moac check --json`).

def model_config(moac, model, batch):
    spec = os.path.join(ROOT, "models", model + ".moa")
    r = subprocess.run([moac, "check", "--json", spec], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"moac check failed on {spec}: {(r.stderr or r.stdout).strip()[-400:]}")
    j = json.loads(r.stdout)
    att = j["attention"]
    if att["kind"] == "dense":
        rule, branches = "single", [att]
    elif att["kind"] == "mixture" and att["rule"] in ("mean", "route"):
        rule, branches = att["rule"], att["branches"]
        if rule == "route" and (att.get("gate") != "softmax" or att.get("hard")):
            raise RuntimeError(f"{model}: only soft softmax routing is modelled by the peers")
    else:
        raise RuntimeError(f"{model}: attention kind {att['kind']} is not modelled by the peers")
    for b in branches:
        if b["kind"] != "dense" or b.get("rope", 0) != 0:
            raise RuntimeError(f"{model}: only dense attention branches without RoPE are modelled")
    cfg = dict(PAPER)
    cfg.update(model=model, vocab=j["vocab"], context=j["context"], width=j["width"], layers=j["layers"],
               rule=rule, batch=batch,
               branches=[dict(label=b["label"], heads=b["heads"], kv_heads=b["kv_heads"], head_dim=b["head_dim"])
                         for b in branches],
               router_hidden=att.get("router_hidden"), aux_weight=att.get("aux_weight", 0.0) if att.get("aux") == "balance" else 0.0,
               params_nonembedding=j["params_nonembedding"], params=j["params"])
    return cfg


def data_batches(cfg, n=4):
    """n fixed batches of random tokens (timing does not depend on the values)."""
    import random
    rng = random.Random(1337)
    B, T, V = cfg["batch"], cfg["context"], cfg["vocab"]
    out = []
    for _ in range(n):
        seq = [[rng.randrange(V) for _ in range(T + 1)] for _ in range(B)]
        out.append(([s[:-1] for s in seq], [s[1:] for s in seq]))
    return out


def init_arrays(cfg, np):
    """Parameters with moac's names and shapes ([out, in] for linear weights), GPT-2 init."""
    rng = np.random.default_rng(0)
    C, L, V, T, std = cfg["width"], cfg["layers"], cfg["vocab"], cfg["context"], cfg["init_std"]
    proj_std = std / math.sqrt(2 * L)
    p = {}
    def normal(name, shape, s=std): p[name] = (rng.standard_normal(shape) * s).astype(np.float32)
    normal("wte", (V, C)); normal("wpe", (T, C))
    for l in range(L):
        pre = f"h{l}"
        p[f"{pre}.ln1.w"] = np.ones(C, np.float32)
        multi = len(cfg["branches"]) > 1
        if cfg["rule"] == "route":
            normal(f"{pre}.attn.router.w1", (cfg["router_hidden"], C))
            normal(f"{pre}.attn.router.w2", (len(cfg["branches"]), cfg["router_hidden"]))
        for b in cfg["branches"]:
            a = f"{pre}.attn.{b['label']}" if multi else f"{pre}.attn"
            H, G, D = b["heads"], b["kv_heads"], b["head_dim"]
            normal(a + ".wq", (H * D, C)); normal(a + ".wk", (G * D, C)); normal(a + ".wv", (G * D, C))
            normal(a + ".wo", (C, H * D), proj_std)
        p[f"{pre}.ln2.w"] = np.ones(C, np.float32)
        normal(f"{pre}.mlp.w1", (cfg["mlp_mult"] * C, C)); normal(f"{pre}.mlp.w2", (C, cfg["mlp_mult"] * C), proj_std)
    p["ln_f.w"] = np.ones(C, np.float32)
    return p


def branch_names(cfg, l):
    multi = len(cfg["branches"]) > 1
    return [(f"h{l}.attn.{b['label']}" if multi else f"h{l}.attn", b) for b in cfg["branches"]]


def causal_mask(np, R, T):
    """[R*T, T]: row r*T + i (query head r of a KV group, position i) sees keys j <= i."""
    i = np.tile(np.arange(T), R)[:, None]
    return i >= np.arange(T)[None, :]


def nonembedding(shapes):
    return sum(math.prod(s) for n, s in shapes.items() if n != "wpe")


# ---------------------------------------------------------------------------------------------
# Peers. Each returns dict(times=[...], params=N, losses=[...], version=..., first_s=...).

def run_pytorch(cfg, a, compile_=False):
    import numpy as np
    import torch, torch.nn.functional as F
    torch.set_num_threads(a.threads)
    if compile_ and not hasattr(torch, "compile"):
        return dict(na=f"n/a (torch {torch.__version__} has no torch.compile)", version=torch.__version__)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    C, L, V, T = cfg["width"], cfg["layers"], cfg["vocab"], cfg["context"]
    p = {n: torch.nn.Parameter(torch.from_numpy(w).to(dev)) for n, w in init_arrays(cfg, np).items()}
    masks = {R: torch.from_numpy(~causal_mask(np, R, T)).to(dev) for R in {b["heads"] // b["kv_heads"] for b in cfg["branches"]}}
    drop, eps = cfg["dropout"], cfg["eps"]
    mode = dict(train=True)
    def dropout(t): return F.dropout(t, drop, mode["train"])

    def attend(pre, b, h):
        B = h.shape[0]
        H, G, D = b["heads"], b["kv_heads"], b["head_dim"]
        R = H // G
        q = F.linear(h, p[pre + ".wq"]).view(B, T, G, R, D).permute(0, 2, 3, 1, 4).reshape(B, G, R * T, D)
        k = F.linear(h, p[pre + ".wk"]).view(B, T, G, D).transpose(1, 2)
        v = F.linear(h, p[pre + ".wv"]).view(B, T, G, D).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        s = s.masked_fill(masks[R], float("-inf")).softmax(-1)
        y = (s @ v).view(B, G, R, T, D).permute(0, 3, 1, 2, 4).reshape(B, T, H * D)
        return dropout(F.linear(y, p[pre + ".wo"]))

    def forward(x, y):
        h = dropout(F.embedding(x, p["wte"]) + p["wpe"])
        aux = 0.0
        for l in range(L):
            n = F.layer_norm(h, (C,), p[f"h{l}.ln1.w"], None, eps)
            outs = [attend(pre, b, n) for pre, b in branch_names(cfg, l)]
            if cfg["rule"] == "route":
                g = F.linear(F.gelu(F.linear(n, p[f"h{l}.attn.router.w1"])), p[f"h{l}.attn.router.w2"]).softmax(-1)
                aux = aux + (cfg["aux_weight"] / L) * ((g.mean((0, 1)) - 1.0 / len(outs)) ** 2).mean()
                g = dropout(g)
                att = sum(g[..., i:i + 1] * o for i, o in enumerate(outs))
            else:
                att = outs[0] if len(outs) == 1 else sum(outs) / len(outs)
            h = h + att
            n = F.layer_norm(h, (C,), p[f"h{l}.ln2.w"], None, eps)
            h = h + dropout(F.linear(F.gelu(F.linear(n, p[f"h{l}.mlp.w1"])), p[f"h{l}.mlp.w2"]))
        logits = F.linear(F.layer_norm(h, (C,), p["ln_f.w"], None, eps), p["wte"])
        return F.cross_entropy(logits.view(-1, V), y.view(-1)) + aux

    fwd = torch.compile(forward) if compile_ else forward
    decay = [w for w in p.values() if w.dim() >= 2]
    no_decay = [w for w in p.values() if w.dim() < 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=cfg["weight_decay"]), dict(params=no_decay, weight_decay=0.0)],
                            lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["adam_eps"])
    batches = [(torch.tensor(x).to(dev), torch.tensor(y).to(dev)) for x, y in data_batches(cfg)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), cfg["clip"])
        opt.step()
        return loss.item()

    def loss0():
        mode["train"] = False
        with torch.no_grad():
            v = forward(*batches[0]).item()
        mode["train"] = True
        return v

    shapes = {n: tuple(w.shape) for n, w in p.items()}
    where = (f"{torch.cuda.get_device_name(dev)}, {'TF32' if a.tf32 else 'fp32'} matmuls" if dev.type == "cuda"
             else f"threads {torch.get_num_threads()}, BLAS {blas_in_use()}")
    return timed(step, a, shapes, loss0, version=f"torch {torch.__version__} ({where})")


def blas_in_use():
    """The BLAS library this process mapped: Debian's torch calls libblas.so.3, which is the slow
    reference BLAS unless libopenblas0 provides it (scripts/bench-setup.sh installs that)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "blas" in l.lower() and "/" in l}
        names = sorted(os.path.realpath(p) for p in libs)
        if any("openblas" in n for n in names): return "OpenBLAS"
        if any("/blas/" in n for n in names): return "reference (netlib) -- slow; run scripts/bench-setup.sh"
        return ", ".join(os.path.basename(n) for n in names) or "?"
    except OSError:
        return "?"


def run_jax(cfg, a):
    import numpy as np
    import jax, jax.numpy as jnp
    C, L, V, T = cfg["width"], cfg["layers"], cfg["vocab"], cfg["context"]
    p0 = {n: jnp.asarray(w) for n, w in init_arrays(cfg, np).items()}
    masks = {R: jnp.asarray(causal_mask(np, R, T)) for R in {b["heads"] // b["kv_heads"] for b in cfg["branches"]}}
    drop, eps = cfg["dropout"], cfg["eps"]
    b1, b2 = cfg["betas"]

    def layernorm(x, w):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) * jax.lax.rsqrt(var + eps) * w

    def linear(x, w): return x @ w.T

    def forward(p, x, y, key):
        site = [0]
        def dropout(t):
            if key is None: return t
            site[0] += 1
            keep = jax.random.bernoulli(jax.random.fold_in(key, site[0]), 1.0 - drop, t.shape)
            keep = jax.lax.optimization_barrier(keep)   # made once: XLA otherwise re-fuses the RNG into consumers (+35%)
            return jnp.where(keep, t / (1.0 - drop), 0.0)
        def attend(pre, b, h):
            B = h.shape[0]
            H, G, D = b["heads"], b["kv_heads"], b["head_dim"]
            R = H // G
            q = linear(h, p[pre + ".wq"]).reshape(B, T, G, R, D).transpose(0, 2, 3, 1, 4).reshape(B, G, R * T, D)
            k = linear(h, p[pre + ".wk"]).reshape(B, T, G, D).transpose(0, 2, 1, 3)
            v = linear(h, p[pre + ".wv"]).reshape(B, T, G, D).transpose(0, 2, 1, 3)
            s = jnp.einsum("bgqd,bgkd->bgqk", q, k) * (1.0 / math.sqrt(D))
            s = jax.nn.softmax(jnp.where(masks[R], s, -jnp.inf), axis=-1)
            o = jnp.einsum("bgqk,bgkd->bgqd", s, v).reshape(B, G, R, T, D).transpose(0, 3, 1, 2, 4).reshape(B, T, H * D)
            return dropout(linear(o, p[pre + ".wo"]))
        h = dropout(p["wte"][x] + p["wpe"])
        aux = 0.0
        for l in range(L):
            n = layernorm(h, p[f"h{l}.ln1.w"])
            outs = [attend(pre, b, n) for pre, b in branch_names(cfg, l)]
            if cfg["rule"] == "route":
                g = jax.nn.softmax(linear(jax.nn.gelu(linear(n, p[f"h{l}.attn.router.w1"]), approximate=False),
                                          p[f"h{l}.attn.router.w2"]), axis=-1)
                aux = aux + (cfg["aux_weight"] / L) * ((g.mean((0, 1)) - 1.0 / len(outs)) ** 2).mean()
                g = dropout(g)
                att = sum(g[..., i:i + 1] * o for i, o in enumerate(outs))
            else:
                att = outs[0] if len(outs) == 1 else sum(outs) / len(outs)
            h = h + att
            n = layernorm(h, p[f"h{l}.ln2.w"])
            h = h + dropout(linear(jax.nn.gelu(linear(n, p[f"h{l}.mlp.w1"]), approximate=False), p[f"h{l}.mlp.w2"]))
        logits = linear(layernorm(h, p["ln_f.w"]), p["wte"])
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.take_along_axis(logp, y[..., None], axis=-1).mean() + aux

    def train_step(p, m, v, t, x, y, key):
        loss, g = jax.value_and_grad(forward)(p, x, y, key)
        norm = jnp.sqrt(sum(jnp.sum(gi * gi) for gi in jax.tree_util.tree_leaves(g)))
        scale = jnp.minimum(1.0, cfg["clip"] / (norm + 1e-6))
        t = t + 1
        c1, c2 = 1.0 - b1 ** t, 1.0 - b2 ** t
        np_, nm, nv = {}, {}, {}
        for n in p:
            gi = g[n] * scale
            nm[n] = b1 * m[n] + (1 - b1) * gi
            nv[n] = b2 * v[n] + (1 - b2) * gi * gi
            w = p[n] * (1.0 - cfg["lr"] * cfg["weight_decay"]) if p[n].ndim >= 2 else p[n]
            np_[n] = w - cfg["lr"] * (nm[n] / c1) / (jnp.sqrt(nv[n] / c2) + cfg["adam_eps"])
        return np_, nm, nv, t, loss

    jstep = jax.jit(train_step, donate_argnums=(0, 1, 2))
    state = dict(p=p0, m={n: jnp.zeros_like(w) for n, w in p0.items()}, v={n: jnp.zeros_like(w) for n, w in p0.items()},
                 t=jnp.zeros((), jnp.float32))
    batches = [(jnp.asarray(x, jnp.int32), jnp.asarray(y, jnp.int32)) for x, y in data_batches(cfg)]
    root = jax.random.PRNGKey(0)

    def step(i):
        x, y = batches[i % len(batches)]
        state["p"], state["m"], state["v"], state["t"], loss = jstep(state["p"], state["m"], state["v"], state["t"], x, y,
                                                                      jax.random.fold_in(root, i))
        return float(loss.block_until_ready())

    def loss0(): return float(jax.jit(lambda p, x, y: forward(p, x, y, None))(state["p"], *batches[0]))

    shapes = {n: tuple(w.shape) for n, w in p0.items()}
    return timed(step, a, shapes, loss0, version=f"jax {jax.__version__} ({jax.devices()[0].platform})")


def run_tinygrad(cfg, a):
    import numpy as np
    import tinygrad
    from tinygrad import Tensor, TinyJit, Device
    from tinygrad.helpers import Context
    from tinygrad.nn.optim import AdamW, OptimizerGroup
    C, L, V, T = cfg["width"], cfg["layers"], cfg["vocab"], cfg["context"]
    p = {n: Tensor(w).realize() for n, w in init_arrays(cfg, np).items()}
    masks = {R: Tensor(causal_mask(np, R, T)).realize() for R in {b["heads"] // b["kv_heads"] for b in cfg["branches"]}}
    drop, eps = cfg["dropout"], cfg["eps"]

    def linear(x, w): return x.linear(w.T)

    def attend(pre, b, h):
        B = h.shape[0]
        H, G, D = b["heads"], b["kv_heads"], b["head_dim"]
        R = H // G
        q = linear(h, p[pre + ".wq"]).reshape(B, T, G, R, D).permute(0, 2, 3, 1, 4).reshape(B, G, R * T, D)
        k = linear(h, p[pre + ".wk"]).reshape(B, T, G, D).permute(0, 2, 1, 3)
        v = linear(h, p[pre + ".wv"]).reshape(B, T, G, D).permute(0, 2, 1, 3)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(D))
        s = masks[R].where(s, float("-inf")).softmax(-1)
        o = (s @ v).reshape(B, G, R, T, D).permute(0, 3, 1, 2, 4).reshape(B, T, H * D)
        return linear(o, p[pre + ".wo"]).dropout(drop)

    def forward(x, y):
        B = x.shape[0]
        onehot = x.one_hot(V).float()                    # the embedding lookup as a matmul: cheap backward
        h = (onehot @ p["wte"] + p["wpe"]).dropout(drop)
        aux = None
        for l in range(L):
            n = h.layernorm(eps=eps) * p[f"h{l}.ln1.w"]
            outs = [attend(pre, b, n) for pre, b in branch_names(cfg, l)]
            if cfg["rule"] == "route":
                g = linear(linear(n, p[f"h{l}.attn.router.w1"]).gelu(approximate="none"), p[f"h{l}.attn.router.w2"]).softmax(-1)
                term = ((g.mean((0, 1)) - 1.0 / len(outs)) ** 2).mean() * (cfg["aux_weight"] / L)
                aux = term if aux is None else aux + term
                g = g.dropout(drop)
                att = outs[0] * g[:, :, 0:1]
                for i in range(1, len(outs)): att = att + outs[i] * g[:, :, i:i + 1]
            else:
                att = outs[0]
                for o in outs[1:]: att = att + o
                if len(outs) > 1: att = att * (1.0 / len(outs))
            h = h + att
            n = h.layernorm(eps=eps) * p[f"h{l}.ln2.w"]
            h = h + linear(linear(n, p[f"h{l}.mlp.w1"]).gelu(approximate="none"), p[f"h{l}.mlp.w2"]).dropout(drop)
        logits = linear(h.layernorm(eps=eps) * p["ln_f.w"], p["wte"])
        loss = logits.reshape(B * T, V).sparse_categorical_crossentropy(y.reshape(B * T))
        return loss if aux is None else loss + aux

    plist = list(p.values())
    b1, b2 = cfg["betas"]
    decay = [w for w in plist if len(w.shape) >= 2]
    no_decay = [w for w in plist if len(w.shape) < 2]
    opt = OptimizerGroup(AdamW(decay, lr=cfg["lr"], b1=b1, b2=b2, eps=cfg["adam_eps"], weight_decay=cfg["weight_decay"]),
                         AdamW(no_decay, lr=cfg["lr"], b1=b1, b2=b2, eps=cfg["adam_eps"], weight_decay=0.0))

    @TinyJit
    def jstep(x, y):
        with Context(TRAINING=1):
            opt.zero_grad()
            loss = forward(x, y)
            loss.backward()
            norm = Tensor.stack(*[w.grad.square().sum() for w in plist]).sum().sqrt()
            scale = (cfg["clip"] / (norm + 1e-6)).minimum(1.0)
            for w in plist: w.grad = w.grad * scale
            # realize the loss with the update: realized after it, it would read the new weights
            Tensor.realize(loss, *opt.schedule_step())
            return loss

    batches = [(Tensor(x, dtype="int32").realize(), Tensor(y, dtype="int32").realize()) for x, y in data_batches(cfg)]

    def step(i):
        x, y = batches[i % len(batches)]
        return jstep(x, y).item()

    def loss0(): return forward(*batches[0]).item()   # outside Context(TRAINING=1): no dropout

    shapes = {n: tuple(w.shape) for n, w in p.items()}
    a.warmup = max(a.warmup, 3)                        # TinyJit captures on the 2nd call, replays from the 3rd
    ver = getattr(tinygrad, "__version__", None)
    if ver is None:
        try:
            from importlib.metadata import version as _v
            ver = _v("tinygrad")
        except Exception:
            ver = "?"
    return timed(step, a, shapes, loss0, version=f"tinygrad {ver} (DEV={os.environ.get('DEV', Device.DEFAULT)}, BEAM={os.environ.get('BEAM', '0')})")


def timed(step, a, shapes, loss0, version):
    """loss0: the loss at initialisation on batch 0 without dropout; the weights are the same
    numpy arrays in every peer, so it must agree across peers to about 1e-5."""
    nparams = nonembedding(shapes)
    l0 = loss0()
    t0 = time.perf_counter()
    losses, warm = [], []
    for i in range(a.warmup):
        t = time.perf_counter()
        losses.append(step(i))
        warm.append(time.perf_counter() - t)
    times = []
    for i in range(a.warmup, a.warmup + a.steps):
        t = time.perf_counter()
        losses.append(step(i))
        times.append(time.perf_counter() - t)
    return dict(times=times, warmup_times=warm, params=nparams, loss0=l0, losses=losses, version=version,
                total_s=time.perf_counter() - t0)


def worker(a):
    cfg = json.loads(a.cfg)
    runners = {"pytorch": lambda: run_pytorch(cfg, a), "torch-compile": lambda: run_pytorch(cfg, a, compile_=True),
               "jax": lambda: run_jax(cfg, a), "tinygrad": lambda: run_tinygrad(cfg, a)}
    try:
        res = runners[a.worker]()
    except ImportError as e:
        res = dict(error=NOT_INSTALLED, detail=str(e))
    except Exception as e:
        import traceback
        traceback.print_exc()
        res = dict(error=f"{type(e).__name__}: {e}"[:300])
    if "params" in res and res["params"] != cfg["params_nonembedding"]:
        res = dict(error=f"parameter count {res['params']:,} != moac's {cfg['params_nonembedding']:,}", params=res["params"])
    print("RESULT " + json.dumps(res), flush=True)


# ---------------------------------------------------------------------------------------------
# The driver.

def pinned(cmd, threads):
    """Pin to the first `threads` CPUs where that restricts anything (taskset, Linux)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", ",".join(str(i) for i in range(min(threads, os.cpu_count()))) ] + cmd
    return cmd


def thread_env(threads, drop_openblas, tinygrad_dev="CPU", tinygrad_beam=0):
    env = dict(os.environ)
    n = str(threads)
    env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, NUM_CPU_THREADS=n,
               XLA_FLAGS=(env.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={n}").strip(),
               JAX_PLATFORMS="cpu")
    env["DEV"] = tinygrad_dev                         # tinygrad: CPU (clang-compiled kernels) or CPU:LLVM
    if tinygrad_beam:
        env["BEAM"] = str(tinygrad_beam)              # tinygrad's kernel search (slow once, cached in ~/.cache/tinygrad)
    if drop_openblas:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_peer(name, cfg, a):
    torchy = name in ("pytorch", "torch-compile")
    py = a.torch_python if torchy else a.python
    if not shutil.which(py) and not os.path.exists(py):
        return dict(error=f"{py} not found")
    cmd = pinned([py, os.path.abspath(__file__), "--worker", name, "--cfg", json.dumps(cfg), "--steps", str(a.steps),
                  "--warmup", str(a.warmup), "--threads", str(a.threads), "--device", a.device]
                 + (["--tf32"] if a.tf32 else []), a.threads)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(a.threads, torchy, a.tinygrad_dev, a.tinygrad_beam), cwd=ROOT, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {a.timeout} s")
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return dict(error=f"exit {r.returncode}: " + " | ".join(tail)[-300:])
    res = json.loads(lines[-1][len("RESULT "):])
    if a.verbose and r.stderr.strip():
        print(f"--- {name} stderr ---\n{r.stderr.strip()[-2000:]}", file=sys.stderr)
    if "times" in res:
        res["median_s"] = statistics.median(res["times"])
    res["cmd"] = " ".join(cmd[:cmd.index("--cfg") + 1] + ["<cfg>"] + cmd[cmd.index("--cfg") + 2:])
    return res


def run_moac(cfg, a):
    out = tempfile.mkdtemp(prefix="moac-bench-")
    spec = os.path.join(ROOT, "models", cfg["model"] + ".moa")
    n = a.warmup + a.steps
    cmd = [a.moac, "train", spec, "--steps", str(n), "--batch", str(cfg["batch"]), "--out", out, "--quiet"]
    if a.moac_backend:
        cmd += ["--backend", a.moac_backend]
    cmd = pinned(cmd, a.threads)
    try:
        t0 = time.perf_counter()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(a.threads, False), cwd=ROOT,
                               timeout=a.timeout)
        except subprocess.TimeoutExpired:
            return dict(error=f"timed out after {a.timeout} s", cmd=" ".join(cmd))
        wall = time.perf_counter() - t0
        text = (r.stdout + "\n" + r.stderr).strip()
        if r.returncode != 0:
            return dict(error=f"moac exit {r.returncode}: " + " | ".join(text.splitlines()[-2:])[-300:], cmd=" ".join(cmd))
        tokens = cfg["batch"] * cfg["context"]
        steps = []
        with open(os.path.join(out, "metrics.jsonl")) as f:
            for line in f:
                j = json.loads(line)
                if "tokens_per_s" in j and j["tokens_per_s"] > 0:
                    steps.append(tokens / j["tokens_per_s"])
        if not steps:
            return dict(error="no step lines with tokens_per_s in metrics.jsonl", cmd=" ".join(cmd))
        timed_ = steps[a.warmup:] if len(steps) > a.warmup else steps
        res = dict(times=timed_, warmup_times=steps[:len(steps) - len(timed_)], median_s=statistics.median(timed_),
                   params=cfg["params_nonembedding"], backend=a.moac_backend or "default", wall_s=wall, cmd=" ".join(cmd))
        compile_lines = [l.strip() for l in text.splitlines() if "compil" in l.lower()]
        if compile_lines:
            res["compile"] = compile_lines[:3]
        return res
    finally:
        shutil.rmtree(out, ignore_errors=True)


def cell(res):
    """A table cell: seconds per step, or why there is none (details are listed under the table)."""
    if res is None:
        return "-"
    if "median_s" in res:
        return f"{res['median_s']:.3f}"
    if "na" in res:
        return "n/a"
    return "not installed" if res.get("error") == NOT_INSTALLED else "failed"


def print_table(results, cols, peers):
    rows = [["model", "params (non-emb.)"] + [f"{c} s/step" for c in cols] +
            [f"{p}/moac" for p in peers if "moac" in cols]]
    for m, row in results.items():
        sysres = row["systems"]
        counts = {r["params"] for r in sysres.values() if "params" in r}
        params = f"{row['params_nonembedding']:,}" + ("" if counts <= {row["params_nonembedding"]} else " MISMATCH")
        r = [m, params] + [cell(sysres.get(c)) for c in cols]
        mo = sysres.get("moac", {})
        for p in peers if "moac" in cols else []:
            pr = sysres.get(p, {})
            if "median_s" in mo and "median_s" in pr:
                pr["moac_speedup"] = pr["median_s"] / mo["median_s"]
                r.append(f"{pr['moac_speedup']:.2f}x")
            else:
                r.append("-")
        rows.append(r)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print()
    for m, row in results.items():
        mo = row["systems"].get("moac", {})
        for p in peers:
            pr = row["systems"].get(p, {})
            if "moac_speedup" in pr:
                x = pr["moac_speedup"]
                word = f"{x:.2f}x faster than" if x >= 1 else f"{1 / x:.2f}x slower than"
                print(f"{m}: moac is {word} {p} ({mo['median_s']:.3f} vs {pr['median_s']:.3f} s/step)")
    notes = [(m, c, r.get("error") or r.get("na")) for m, row in results.items() for c, r in row["systems"].items()
             if "error" in r or "na" in r]
    if notes:
        print()
        for m, c, e in notes:
            print(f"{m} / {c}: {e}")
    for m, row in results.items():
        mo = row["systems"].get("moac", {})
        if mo.get("compile"):
            print(f"{m} / moac compile: {'; '.join(mo['compile'])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(ALL_MODELS), help="comma list of models/<name>.moa (default: %(default)s)")
    ap.add_argument("--peers", default=",".join(ALL_PEERS), help="comma list of %s, or none (default: all)" % ",".join(ALL_PEERS))
    ap.add_argument("--steps", type=int, default=10, help="timed steps per system (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: %(default)s; tinygrad: at least 3)")
    ap.add_argument("--batch", type=int, default=PAPER["batch"], help="sequences per step (default: the paper's %(default)s)")
    ap.add_argument("--dropout", type=float, default=PAPER["dropout"],
                    help="the peers' dropout rate (default: the paper's %(default)s; with 0 the peers' losses agree step by "
                         "step; moac keeps its spec's)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every system (default: %(default)s)")
    ap.add_argument("--moac", default=os.path.join(ROOT, "build", "moac"), help="the moac binary")
    ap.add_argument("--moac-backend", default="cpu", help="moac train --backend (default: %(default)s; '' for moac's default)")
    ap.add_argument("--no-moac", action="store_true", help="time only the peers")
    ap.add_argument("--device", default="cpu", help="the PyTorch peers' device: cpu or cuda (default: %(default)s)")
    ap.add_argument("--tf32", action="store_true", help="with --device cuda: the peers' matmuls in TF32")
    ap.add_argument("--torch-python", default="/usr/bin/python3", help="interpreter with Debian's python3-torch")
    ap.add_argument("--python", default="python3", help="interpreter with jax and tinygrad (default: python3 on PATH)")
    ap.add_argument("--tinygrad-dev", default="CPU", help="tinygrad's DEV: CPU (clang) or CPU:LLVM (default: %(default)s)")
    ap.add_argument("--tinygrad-beam", type=int, default=0,
                    help="tinygrad's BEAM kernel search width (default 0: none; its untuned CPU matmuls run at ~5 GFLOP/s)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds allowed per system and model")
    ap.add_argument("--json", help="also write the results here as JSON")
    ap.add_argument("--verbose", action="store_true", help="show the peers' stderr")
    ap.add_argument("--worker", choices=ALL_PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    models = [m for m in a.models.split(",") if m]
    peers = [] if a.peers in ("", "none") else [p for p in a.peers.split(",") if p]
    for p in peers:
        if p not in ALL_PEERS:
            ap.error(f"unknown peer '{p}' (choose from {', '.join(ALL_PEERS)})")
    if not os.path.exists(a.moac):
        sys.exit(f"train_step.py: {a.moac} not found; build moac first (cmake -S . -B build && cmake --build build)")

    print(f"# training-step benchmark: batch {a.batch}, {a.threads} threads, {a.warmup} warm-up + {a.steps} timed steps, "
          f"moac --backend {a.moac_backend or '(default)'}, peers on {a.device}{' (TF32)' if a.tf32 else ''}", flush=True)
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"# warning: load average {load_before:.2f} before starting: other work on this machine skews the timings",
              flush=True)
    results = {}
    for m in models:
        cfg = model_config(a.moac, m, a.batch)
        cfg["dropout"] = a.dropout
        row = results[m] = dict(params_nonembedding=cfg["params_nonembedding"], systems={})
        systems = ([] if a.no_moac else ["moac"]) + peers
        for s in systems:
            t = time.perf_counter()
            res = run_moac(cfg, a) if s == "moac" else run_peer(s, cfg, a)
            row["systems"][s] = res
            extra = f" params {res['params']:,}" if "params" in res else ""
            loss = (f" init loss {res['loss0']:.6f}, training loss {res['losses'][0]:.3f} -> {res['losses'][-1]:.3f}"
                    if res.get("losses") else "")
            what = f"{res['median_s']:.3f} s/step" if "median_s" in res else (res.get("na") or res.get("error", "?"))
            print(f"  {m:12s} {s:14s} {what}{extra}{loss}  ({time.perf_counter() - t:.0f} s)", flush=True)

    print()
    print_table(results, ([] if a.no_moac else ["moac"]) + peers, peers)
    if a.json:
        doc = dict(batch=a.batch, context=256, threads=a.threads, device=a.device, tf32=a.tf32, steps=a.steps, warmup=a.warmup, dropout=a.dropout,
                   moac_backend=a.moac_backend, tinygrad_dev=a.tinygrad_dev,
                   machine=dict(cpus=os.cpu_count(), uname=" ".join(os.uname()), load_before=load_before,
                                load_after=os.getloadavg()[0]),
                   results=results)
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nresults written to {a.json}")
    if any("parameter count" in r.get("error", "") for row in results.values() for r in row["systems"].values()):
        sys.exit(1)                                  # a peer does not build moac's model: its time means nothing


if __name__ == "__main__":
    main()
