"""Writes the seed corpus of the fuzz targets into fuzz/corpus/<target>/ (small valid files of every
format; run from the repository root: /usr/bin/python3 fuzz/make_corpus.py). The seeds are committed;
this script says how they were made."""
import json
import os
import struct
import subprocess

import numpy as np

ROOT = "fuzz/corpus"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta):
    header, blobs, off = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def npy(a):
    import io
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


config = json.load(open("configs/mini.json"))
f32 = np.arange(6, dtype=np.float32).reshape(2, 3).tobytes()
bf16 = (np.arange(4, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
put("safetensors", "plain", safetensors({"a": ("F32", [2, 3], f32), "b": ("BF16", [4], bf16)}, {"k": "v"}))
put("safetensors", "checkpoint", safetensors(
    {"dit.patchify.weight": ("F32", [2, 3], f32)},
    {"millivid_model": "video_universal", "variant": "millivid", "step": "3", "format_version": "1",
     "config": json.dumps(config)}))
put("safetensors", "empty", safetensors({}, {}))

put("npy", "frames_u8", npy(np.arange(2 * 3 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 3, 8, 8, 3)))
put("npy", "actions_f32", npy(np.zeros((2, 3, 6), dtype=np.float32)))
put("npy", "f64", npy(np.ones((3,), dtype=np.float64)))
put("npy", "i64_fortran", npy(np.asfortranarray(np.ones((2, 2), dtype=np.int64))))

put("config", "mini", open("configs/mini.json", "rb").read())
put("config", "mini_sets", open("configs/mini.json", "rb").read() + b"\0dit.depth=2\nmillivid.windows=[1,2,4,8]\n")
put("config", "paper", open("configs/paper.json", "rb").read())

put("actions", "lines", b'{"action": 0}\n{"action": 1}\n\n{"action": 2}\n')
put("actions", "one", b'{"action": 2}')

index = json.dumps({"format_version": 1, "videos": 2, "frames": 3, "size": 8, "split": "test"}).encode()
put("dataset", "index", b"\0" + index)
put("dataset", "frames", b"\1" + npy(np.zeros((2, 3, 8, 8, 3), dtype=np.uint8)))
put("dataset", "actions", b"\2" + npy(np.zeros((2, 3, 6), dtype=np.float32)))

os.makedirs(os.path.join(ROOT, "video"), exist_ok=True)
subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=20",
                "-frames:v", "6", "-c:v", "libx264", "-pix_fmt", "yuv420p", os.path.join(ROOT, "video", "h264.mp4")],
               check=True)
subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10",
                "-frames:v", "3", "-c:v", "mjpeg", os.path.join(ROOT, "video", "mjpeg.avi")], check=True)
