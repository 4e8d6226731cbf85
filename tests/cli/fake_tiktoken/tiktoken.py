"""A stand-in for tiktoken in tests/cli/test_tokenize.sh, so scripts/tokenize.py is tested
without the network: encoding "bytes" makes each UTF-8 byte a token (n_vocab 256, u16 files);
"wide" makes each character its code point plus 70000 (n_vocab 70000 + 0x110000, u32 files)."""


class _Encoding:
    def __init__(self, n_vocab, encode):
        self.n_vocab = n_vocab
        self.encode_ordinary = encode


def get_encoding(name):
    if name == "bytes":
        return _Encoding(256, lambda text: list(text.encode("utf-8")))
    if name == "wide":
        return _Encoding(70000 + 0x110000, lambda text: [70000 + ord(c) for c in text])
    raise ValueError("Unknown encoding %s" % name)
