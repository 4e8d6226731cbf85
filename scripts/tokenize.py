#!/usr/bin/env python3
"""Turns a text file into token files for moac (nanoGPT's convention): flat little-endian
unsigned tokens, u16 when the encoding's vocabulary fits in 16 bits (n_vocab <= 65536), else
u32, the same rule as tokens() in a spec (docs/language.md).

  pip install tiktoken          # the tokenizer; its first use downloads the encoding's table
  python3 scripts/tokenize.py input.txt --out-dir data/shakespeare --val-fraction 0.1

writes data/shakespeare/train.bin (the first 90% of the tokens) and val.bin (the rest) and
prints the line to put in the spec's train block:

  data = tokens("data/shakespeare/train.bin", val = "data/shakespeare/val.bin", vocab = 50257)

The model's vocab must be at least the encoding's (nanoGPT pads GPT-2's 50257 to 50304).
--val-fraction 0 writes train.bin alone; moac then splits it by the spec's `split`. The text is
read whole and encoded with encode_ordinary (special tokens are plain text), as nanoGPT's
prepare.py does. Paths in the printed line are as given here: moac reads them relative to the
directory it runs in."""
import argparse
import array
import os
import sys


def token_array(tokens, n_vocab):
    """The tokens as a little-endian array of the narrowest dtype that holds the vocabulary."""
    code = "H" if n_vocab <= 65536 else "I"
    a = array.array(code, tokens)
    if a.itemsize != (2 if code == "H" else 4):
        sys.exit("tokenize.py: this Python's array('%s') is %d bytes wide; cannot write the file" % (code, a.itemsize))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def main(argv):
    p = argparse.ArgumentParser(description="Tokenise a text file into moac/nanoGPT token files (train.bin, val.bin).")
    p.add_argument("input", help="a UTF-8 text file")
    p.add_argument("--out-dir", default=".", help="where train.bin and val.bin go (default: the current directory)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of the tokens, from the end, that go to val.bin (default 0.1; 0: no val.bin)")
    p.add_argument("--encoding", default="gpt2", help="a tiktoken encoding (default gpt2: GPT-2's BPE, 50257 tokens)")
    a = p.parse_args(argv)
    if not 0 <= a.val_fraction < 1:
        p.error("--val-fraction must be in [0, 1), got %g" % a.val_fraction)
    try:
        import tiktoken
    except ImportError:
        sys.exit("tokenize.py: needs tiktoken (pip install tiktoken)")
    enc = tiktoken.get_encoding(a.encoding)
    with open(a.input, encoding="utf-8") as f:
        text = f.read()
    tokens = enc.encode_ordinary(text)
    n_val = int(len(tokens) * a.val_fraction)
    n_train = len(tokens) - n_val
    if n_train == 0 or (a.val_fraction > 0 and n_val == 0):
        sys.exit("tokenize.py: %s gives %d tokens, too few for a split with --val-fraction %g"
                 % (a.input, len(tokens), a.val_fraction))
    os.makedirs(a.out_dir, exist_ok=True)
    train_path = os.path.join(a.out_dir, "train.bin")
    val_path = os.path.join(a.out_dir, "val.bin")
    with open(train_path, "wb") as f:
        token_array(tokens[:n_train], enc.n_vocab).tofile(f)
    if n_val:
        with open(val_path, "wb") as f:
            token_array(tokens[n_train:], enc.n_vocab).tofile(f)
    dtype = "u16" if enc.n_vocab <= 65536 else "u32"
    print("%s: %d tokens (%s, vocab %d): %d in %s%s" % (a.input, len(tokens), dtype, enc.n_vocab, n_train, train_path,
          ", %d in %s" % (n_val, val_path) if n_val else ""), file=sys.stderr)
    val_arg = ', val = "%s"' % val_path if n_val else ""
    print('data = tokens("%s"%s, vocab = %d)' % (train_path, val_arg, enc.n_vocab))


if __name__ == "__main__":
    main(sys.argv[1:])
