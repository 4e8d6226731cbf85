#!/usr/bin/python3
"""An independent reader for moac's safetensors files, with nothing but json and numpy.

    read_safetensors.py FILE EXPECTED.json

EXPECTED.json: {"metadata": {"key": "value", ...},
                "tensors": [{"name": ..., "dtype": "F32", "shape": [2, 3], "values": [...]}, ...]}
with the tensors in the order moac was given them (the order of their data in the file).

Checks the layout the format requires (header length within the file, a JSON object header
padded with spaces to a multiple of 8, unique names, offsets that tile the data with no gaps or
overlaps) and that every tensor's bytes equal the expected values exactly. Prints one line and
exits 0 when all is well, 1 (with the problem) otherwise.
"""
import json
import sys

import numpy as np

DTYPES = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2", "I32": "<i4",
    "U32": "<u4", "F32": "<f4", "F64": "<f8", "I64": "<i8", "U64": "<u8",
}


class Bad(Exception):
    pass


def unique_pairs(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise Bad("duplicate key in the header: %r" % keys)
    return dict(pairs)


def check(path, expected_path):
    with open(path, "rb") as f:
        raw = f.read()
    with open(expected_path, "rb") as f:
        expected = json.load(f)
    if len(raw) < 8:
        raise Bad("shorter than 8 bytes")
    n = int.from_bytes(raw[:8], "little")
    if n > len(raw) - 8:
        raise Bad("header length %d exceeds the file" % n)
    if n % 8:
        raise Bad("header length %d is not a multiple of 8" % n)
    text = raw[8:8 + n].decode("utf-8")
    if text.rstrip(" ") != text.rstrip():
        raise Bad("header padding is not spaces")
    header = json.loads(text, object_pairs_hook=unique_pairs)
    if not isinstance(header, dict):
        raise Bad("header is not an object")
    data = raw[8 + n:]

    meta = header.pop("__metadata__", {})
    if meta != expected.get("metadata", {}):
        raise Bad("metadata %r, expected %r" % (meta, expected.get("metadata", {})))
    names = [t["name"] for t in expected["tensors"]]
    if sorted(header) != sorted(names):
        raise Bad("tensors %r, expected %r" % (sorted(header), sorted(names)))

    at = 0
    for t in expected["tensors"]:
        info = header[t["name"]]
        if info["dtype"] != t["dtype"] or info["shape"] != t["shape"]:
            raise Bad("%s: %s %r, expected %s %r" % (t["name"], info["dtype"], info["shape"], t["dtype"], t["shape"]))
        begin, end = info["data_offsets"]
        if begin != at:
            raise Bad("%s starts at %d, expected %d (gap or overlap)" % (t["name"], begin, at))
        dt = np.dtype(DTYPES[t["dtype"]])
        count = int(np.prod(t["shape"], dtype=np.int64))
        if end - begin != count * dt.itemsize or end > len(data):
            raise Bad("%s: data_offsets [%d, %d] do not hold %d x %s" % (t["name"], begin, end, count, t["dtype"]))
        got = np.frombuffer(data, dtype=dt, count=count, offset=begin).reshape(t["shape"])
        want = np.array(t["values"], dtype=dt).reshape(t["shape"])
        # Compare bit patterns, so -0.0 and 0.0 differ and float rounding cannot hide anything.
        if got.tobytes() != want.tobytes():
            raise Bad("%s: values differ:\n got %r\nwant %r" % (t["name"], got, want))
        at = end
    if at != len(data):
        raise Bad("%d bytes of data after the last tensor" % (len(data) - at))
    return len(names)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        count = check(sys.argv[1], sys.argv[2])
    except (Bad, KeyError, ValueError, TypeError, OSError) as e:
        print("read_safetensors.py: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    print("read_safetensors.py: %s: %d tensors ok" % (sys.argv[1], count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
