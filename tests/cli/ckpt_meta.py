"""Reads or edits the metadata of a safetensors checkpoint, for the CLI tests (json only).

  ckpt_meta.py FILE get KEY               print one metadata value
  ckpt_meta.py IN OUT OP...               write IN with its metadata edited to OUT, OPs in order:
      set KEY VALUE   set (or add) a field
      del KEY         remove a field
      dup KEY VALUE   add a second KEY entry after the first (the JSON then has a duplicate key)
The tensors and their bytes are copied unchanged."""
import json
import struct
import sys


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def main(argv):
    if len(argv) == 4 and argv[2] == "get":
        header, _ = read(argv[1])
        print(header["__metadata__"][argv[3]])
        return
    header, body = read(argv[1])
    meta = header.pop("__metadata__")
    dups = []
    ops = argv[3:]
    while ops:
        op = ops.pop(0)
        if op == "set":
            key = ops.pop(0)
            meta[key] = ops.pop(0)
        elif op == "del":
            del meta[ops.pop(0)]
        elif op == "dup":
            key = ops.pop(0)
            dups.append((key, ops.pop(0)))
        else:
            sys.exit("unknown op " + op)
    items = []
    for k, v in meta.items():
        items.append(json.dumps(k) + ":" + json.dumps(v))
        items += [json.dumps(k) + ":" + json.dumps(dv) for dk, dv in dups if dk == k]
    text = '{"__metadata__":{' + ",".join(items) + "}"
    for k, t in header.items():
        text += "," + json.dumps(k) + ":" + json.dumps(t, separators=(",", ":"))
    text += "}"
    text += " " * (-len(text) % 8)
    raw = text.encode()
    open(argv[2], "wb").write(struct.pack("<Q", len(raw)) + raw + body)


main(sys.argv)
