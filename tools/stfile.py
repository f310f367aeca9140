"""safetensors files for the Python twins (tools/ae_twin.py, tools/dit_twin.py and, through them,
bench/torch_*.py): read every tensor as a numpy array (BF16 widened to float32) and write float32 /
int32 / int64 arrays (float64 is stored as float32). The header is padded to 8 bytes with spaces."""
import json
import struct

import numpy as np

DT = {"F32": np.float32, "I32": np.int32, "I64": np.int64, "U8": np.uint8, "F64": np.float64}
NAMES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}


def st_load(path):
    """Returns ({name: array}, metadata dict)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {}) or {}
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        if v["dtype"] == "BF16":
            u = np.frombuffer(data[a:b], dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(data[a:b], dtype=DT[v["dtype"]])
        out[k] = arr.reshape(v["shape"]).copy()
    return out, meta


def st_save(path, tensors, meta=None):
    """tensors: {name: array}, written in that order; meta: {str: str} or None."""
    head, off, blobs = {}, 0, []
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        b = a.tobytes()
        head[k] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    if meta:
        head["__metadata__"] = meta
    h = json.dumps(head).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
