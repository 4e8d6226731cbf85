"""Writes a token file (flat little-endian u16 or u32, nanoGPT's train.bin) for the CLI tests,
with Python's standard library only (scripts/tokenize.py needs tiktoken; the tests do not).

  write_tokens.py OUT u16|u32 COUNT VOCAB [INDEX=VALUE ...]

Token i is (7 i + i // 5) mod VOCAB (a sequence a model can learn something of), then each
INDEX=VALUE sets one token, so a test can put a bad token at a known place."""
import struct
import sys


def main(argv):
    out, dtype, count, vocab = argv[1], argv[2], int(argv[3]), int(argv[4])
    tokens = [(7 * i + i // 5) % vocab for i in range(count)]
    for edit in argv[5:]:
        index, value = edit.split("=")
        tokens[int(index)] = int(value)
    code = {"u16": "H", "u32": "I"}[dtype]
    with open(out, "wb") as f:
        f.write(struct.pack("<%d%s" % (count, code), *tokens))


if __name__ == "__main__":
    main(sys.argv)
