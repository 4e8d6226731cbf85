# The fixed part of every model.py that `moac export --pytorch` writes (export/pytorch.c puts a
# header comment above it and replaces the two marker lines with the model's constants and its
# graph). It is Python, kept here as a file of its own so that it reads as Python; the build
# embeds it in moac (export/embed.cmake). This first comment is not copied: the copy starts at
# the imports.
#@START@
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

#@CONSTANTS@

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- safetensors, read without the safetensors package (Debian's torch 1.13 has no reader) ----

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}


def load_safetensors(path):
    """The tensors of a safetensors file, {name: tensor}, and its metadata, {key: str}.

    The format: an 8-byte little-endian header length N, N bytes of JSON {name: {"dtype",
    "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the tensor bytes."""
    if sys.byteorder != "little":
        raise RuntimeError(f"{path}: safetensors data is little-endian; this reader runs on little-endian hosts only")
    size = os.path.getsize(path)
    buf = bytearray(size)  # writable, so torch.frombuffer shares it without a warning
    with open(path, "rb") as f:
        if f.readinto(buf) != size:
            raise ValueError(f"{path}: could not read the whole file")
    if size < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    n = struct.unpack("<Q", bytes(buf[:8]))[0]
    if n > size - 8:
        raise ValueError(f"{path}: not a safetensors file (its header length {n} is past the end of the file)")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not a safetensors file (its header is not JSON: {e})") from None
    meta = header.pop("__metadata__", None) or {}
    start, tensors = 8 + n, {}
    for name, info in header.items():
        dtype = _DTYPES.get(info.get("dtype"))
        shape = info.get("shape")
        begin, end = info.get("data_offsets", (0, -1))
        if dtype is None or shape is None:
            raise ValueError(f"{path}: tensor '{name}' has dtype {info.get('dtype')!r}, which this reader does not know")
        count = math.prod(shape)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= size - start or end - begin != count * itemsize:
            raise ValueError(f"{path}: tensor '{name}' has data offsets {[begin, end]} that do not fit its shape "
                             f"{shape} or the file")
        if count == 0:
            tensors[name] = torch.zeros(shape, dtype=dtype)
        else:  # shares buf (the tensor keeps it alive); load() copies into the parameters
            tensors[name] = torch.frombuffer(buf, dtype=dtype, count=count, offset=start + begin).reshape(shape)
    return tensors, meta


# ---- moac ops that take more than one line of torch (the rest are written in graph() below);
# ---- each follows the reference interpreter's kernel (backends/interp/kernels_*.c) ----------

def _attention(q, k, v, causal, scale):
    """softmax(q k^T * scale, causally masked) v per head: q [B,H,T,D], k [B,G,S,D], v [B,G,S,Dv],
    query head h reads KV head h // (H // G) (GQA, MQA)."""
    H, G = q.shape[1], k.shape[1]
    if G != H:
        k = k.repeat_interleave(H // G, dim=1)
        v = v.repeat_interleave(H // G, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if causal:
        keep = torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool, device=s.device).tril()
        s = s.masked_fill(~keep, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def _rope(x, pos, rot, base):
    """Rotary embedding, rotate-half form, on the first rot dims of each head of x [B,H,T,D]:
    dims j and j + rot/2 turn by pos * base^(-2j/rot) (GPT-NeoX's partial rotary); the rest pass
    through. pos: the positions [B,H,T] (sparse heads' tokens), or None for 0..T-1. The angles
    are float64, as moac's: at position 1000 a float32 angle is already 1e-4 off."""
    half = rot // 2
    inv = torch.tensor([base ** (-2.0 * j / rot) for j in range(half)], dtype=torch.float64, device=x.device)
    if pos is None:
        pos = torch.arange(x.shape[2], device=x.device)
    angle = pos.to(torch.float64).unsqueeze(-1) * inv
    cos, sin = torch.cos(angle).to(x.dtype), torch.sin(angle).to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:rot]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin, x[..., rot:]), dim=-1)


def _group_mean(x, size):
    """[B,H,T,D] -> [B,H/size,T,D]: the mean of each run of size contiguous heads."""
    B, H, T, D = x.shape
    return x.reshape(B, H // size, size, T, D).mean(dim=2)


def _bce_logits(z, y):
    """BCE(sigmoid(z), y) per element, in the stable form max(z, 0) - z y + log(1 + exp(-|z|))."""
    return torch.clamp(z, min=0) - z * y + torch.log1p(torch.exp(-torch.abs(z)))


def _best_first(s):
    """Positions along the last axis from the highest score down; ties go to the lower position
    and NaN ranks above every number (moac's order, so the choice never depends on the sort)."""
    return torch.sort(s, dim=-1, descending=True, stable=True).indices


def _topk(s, k, first):
    """The positions of the k highest scores along the last axis, in ascending position order;
    first=1 always keeps position 0 and takes the other k-1 from positions 1.. (MoSA)."""
    if first:
        zero = torch.zeros(s.shape[:-1] + (1,), dtype=torch.long, device=s.device)
        chosen = torch.cat((zero, _best_first(s[..., 1:])[..., :k - 1] + 1), dim=-1)
    else:
        chosen = _best_first(s)[..., :k]
    return torch.sort(chosen, dim=-1).values


def _gather_rows(x, idx):
    """(x [B,T,C], idx [B,E,k]) -> [B,E,k,C]: out[b,e,j] = x[b, idx[b,e,j]]."""
    return x[torch.arange(x.shape[0], device=x.device).view(-1, 1, 1), idx]


def _scatter_rows(y, idx, rows):
    """(y [B,E,k,C], idx [B,E,k]) -> [B,rows,C]: zeros, then out[b, idx[b,e,j]] += y[b,e,j]."""
    B, E, K, C = y.shape
    index = idx.reshape(B, E * K, 1).expand(B, E * K, C)
    return y.new_zeros(B, rows, C).scatter_add(1, index, y.reshape(B, E * K, C))


def _onehot_argmax(x):
    """One-hot (float) of the first maximum along the last axis (hard top-1 routing)."""
    return F.one_hot(torch.argmax(x, dim=-1), x.shape[-1]).to(x.dtype)


def _capacity_route(s, caps):
    """Expert choice with capacities (mixSGA), per batch row of s [B,T,E]: experts e = 0, 1, ...
    in order each take the caps[e] tokens with the highest s[..., e] among those not taken yet
    (fewer when fewer remain); a token still left goes to the last expert. The result is each
    token's one-hot expert, a hard mask (no gradient reaches s through it, as in moac)."""
    B, T, E = s.shape
    out = torch.zeros_like(s, requires_grad=False)
    taken = torch.zeros(B, T, dtype=torch.bool, device=s.device)
    rank = torch.arange(T, device=s.device)
    s = s.detach()
    for e, cap in enumerate(caps):
        order = _best_first(s[..., e])
        # tokens not taken before all taken ones, keeping the score order among each (stable)
        order = order.gather(1, torch.sort(taken.gather(1, order).to(torch.uint8), dim=-1, stable=True).indices)
        free = T - taken.sum(dim=1, keepdim=True)
        pick = torch.zeros_like(taken).scatter(1, order, rank < torch.clamp(free, max=cap))
        out[..., e] = pick.to(s.dtype)
        taken |= pick
    out[..., E - 1] += (~taken).to(s.dtype)
    return out


#@GRAPH@


class Model(torch.nn.Module):
    """The model as a torch module. Its parameters carry moac's names: state_dict() keys are the
    checkpoint's (nested modules make the dots: model.h0.attn.mha.wq is 'h0.attn.mha.wq')."""

    def __init__(self):
        super().__init__()
        nodes = {"": self}
        for name, shape, fill, std in PARAMS:
            path = name.split(".")
            for i in range(1, len(path)):
                prefix = ".".join(path[:i])
                if prefix not in nodes:
                    nodes[prefix] = torch.nn.Module()
                    nodes[".".join(path[:i - 1])].add_module(path[i - 1], nodes[prefix])
            p = torch.nn.Parameter(torch.empty(shape, dtype=torch.float32))
            with torch.no_grad():  # moac's initialisation, fill + std * N(0, 1) (other draws)
                if std > 0:
                    torch.nn.init.normal_(p, mean=fill, std=std)
                else:
                    p.fill_(fill)
            nodes[".".join(path[:-1])].register_parameter(path[-1], p)

    def forward(self, idx, targets=None):
        """idx: token ids [B, T], T <= BLOCK_SIZE. Returns (logits [B, T, VOCAB], loss), the loss
        None without targets. The loss is moac's training objective: the cross-entropy plus
        the auxiliary losses, if any (outputs()['lm_loss'] is the cross-entropy alone)."""
        out = self.outputs(idx, targets)
        return out["logits"], out.get("loss")

    def outputs(self, idx, targets=None):
        """Every output of moac's graph, by moac's names (OUTPUTS): logits, and with targets the
        losses and the routing statistics. A window shorter than BLOCK_SIZE is padded with token
        0 at the end, as moac generate does: causal attention keeps the padding out of the real
        positions' logits, except where routing ranks the tokens of the whole window (capacity
        experts, sparse heads), which then sees the padding too, as moac does. Statistics are
        over the padded window; targets need full windows."""
        if idx.dim() != 2 or not 1 <= idx.shape[1] <= BLOCK_SIZE:
            raise ValueError(f"idx must be [B, T] token ids with 1 <= T <= {BLOCK_SIZE}, not {list(idx.shape)}")
        T = idx.shape[1]
        idx = idx.long()
        if targets is not None:
            if T != BLOCK_SIZE or targets.shape != idx.shape:
                raise ValueError(f"with targets, idx and targets must both be [B, {BLOCK_SIZE}], not "
                                 f"{list(idx.shape)} and {list(targets.shape)}")
            targets = targets.long()
        if T < BLOCK_SIZE:
            idx = F.pad(idx, (0, BLOCK_SIZE - T))
        if idx.min() < 0 or idx.max() >= VOCAB:
            raise ValueError(f"token ids must be in [0, {VOCAB}); got {idx.min().item()} .. {idx.max().item()}")
        out = graph(dict(self.named_parameters()), idx, targets, self.training)
        if T < BLOCK_SIZE:
            out["logits"] = out["logits"][:, :T]
        return out

    @classmethod
    def from_pretrained(cls, path=HERE):
        """A model with the weights of path (see load()), in eval mode (dropout off)."""
        model = cls()
        model.load(path)
        return model.eval()

    def load(self, path=HERE):
        """Copies the weights of path into the parameters: an export directory (its
        model.safetensors), or a safetensors file of this model's parameters, such as a later
        moac checkpoint of the same spec (its adam.* moments are skipped)."""
        if os.path.isdir(path):
            path = os.path.join(path, "model.safetensors")
        tensors, _ = load_safetensors(path)
        names = [p[0] for p in PARAMS]
        missing = [n for n in names if n not in tensors]
        extra = [n for n in tensors if n not in names and not n.startswith(("adam.m.", "adam.v."))]
        if missing or extra:
            raise ValueError(f"{path}: not the weights of model '{MODEL}' (" +
                             (f"lacks {missing[0]!r}" if missing else f"has {extra[0]!r}, which the model has not") +
                             ")")
        for name, shape, _, _ in PARAMS:
            if list(tensors[name].shape) != list(shape) or tensors[name].dtype != torch.float32:
                raise ValueError(f"{path}: tensor {name!r} is {str(tensors[name].dtype)[6:]} "
                                 f"{list(tensors[name].shape)}, but model '{MODEL}' has float32 {list(shape)}")
        self.load_state_dict({n: tensors[n] for n in names}, strict=True)
        return self


# ---- python3 model.py: this module against moac's outputs -----------------------------------

def _rel_err(got, want):
    """max |got - want| / max(max |want|, 1e-6), in float64 (moac verify's measure); inf where one
    side is NaN and the other is not."""
    got, want = got.double(), want.double()
    if not torch.equal(torch.isnan(got), torch.isnan(want)):
        return float("inf")
    keep = ~torch.isnan(want)
    diff = (got[keep] - want[keep]).abs()
    scale = max(want[keep].abs().max().item() if keep.any() else 0.0, 1e-6)
    return diff.max().item() / scale if diff.numel() else 0.0


# The model's own outputs, held to --tolerance; the others are routing statistics (gate means,
# balance and consistency losses, expert shares, selection scores), held to --stat-tolerance:
# a balance loss is the squared difference of gate means near 1/E and 1/E, where float32's
# cancellation alone reaches 1e-5 relative (moac verify holds moac's own backends to 1e-4).
MODEL_OUTPUTS = ("logits", "loss", "lm_loss")


def main(argv):
    ap = argparse.ArgumentParser(description=f"Runs model '{MODEL}' on the tokens of check.safetensors (written by "
                                 "moac export) and compares every output with moac's.")
    ap.add_argument("dir", nargs="?", default=HERE, help="the export directory (default: this file's)")
    ap.add_argument("--tolerance", type=float, default=1e-5,
                    help="the largest relative error accepted for the logits and the losses (1e-5)")
    ap.add_argument("--stat-tolerance", type=float, default=1e-4,
                    help="the largest relative error accepted for the routing statistics (1e-4)")
    a = ap.parse_args(argv)
    check_path = os.path.join(a.dir, "check.safetensors")
    if not os.path.exists(check_path):
        print(f"{check_path}: not found (moac export --no-check writes none)", file=sys.stderr)
        return 2
    model = Model.from_pretrained(a.dir)
    check, meta = load_safetensors(check_path)
    tokens, targets = check["tokens"], check["targets"]
    with torch.no_grad():
        got = model.outputs(tokens, targets)
        rows = [(name, got[name], check["out." + name]) for name in OUTPUTS]
        if tokens.shape[0] > 1:  # the batch is the module's own; and logits alone skip the losses
            rows.append(("logits (row 0 alone)", model.outputs(tokens[:1])["logits"], check["out.logits"][:1]))
    print(f"{MODEL}: PyTorch {torch.__version__} against moac {meta.get('moac', '?')} ({meta.get('backend', '?')} "
          f"backend), {tokens.shape[0]} x {tokens.shape[1]} tokens, {len(rows)} comparisons")
    worst, bad = [0.0, 0.0], 0
    for name, have, want in rows:
        stat = name not in MODEL_OUTPUTS and not name.startswith("logits ")
        tol = a.stat_tolerance if stat else a.tolerance
        err = _rel_err(have, want) if list(have.shape) == list(want.shape) else float("inf")
        worst[stat] = max(worst[stat], err)
        bad += not err <= tol
        print(f"  {name:40s} {want.numel():10d}  rel err {err:.2e}{'  (statistic)' if stat else ''}"
              f"{'  TOO LARGE' if not err <= tol else ''}")
    stats = any(n not in MODEL_OUTPUTS for n in OUTPUTS)
    print(f"worst {worst[0]:.2e} (logits and losses, tolerance {a.tolerance:.0e})" +
          (f"; statistics {worst[1]:.2e} (tolerance {a.stat_tolerance:.0e})" if stats else "") +
          f": {'FAILED' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
