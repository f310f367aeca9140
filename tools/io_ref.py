"""Reference reader/writer for tests/test_io.c: numpy for .npy, plain json + struct for safetensors.

usage: io_ref.py npy_write DIR | npy_check DIR | st_write DIR | st_check DIR | corrupt DIR | dataset DIR
Exit 0 on success; a failed check prints why and exits 1.
"""
import json
import os
import struct
import sys

import numpy as np

ST_SIZES = {"F32": 4, "F16": 2, "BF16": 2, "U8": 1, "I32": 4, "I64": 8, "F64": 8}


def pattern(n, scale=0.25, offset=-3.0):
    """The values both sides agree on: i * scale + offset."""
    return np.arange(n, dtype=np.float64) * scale + offset


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even, NaN kept quiet."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def conversion_probe():
    """float32 values that exercise rounding: ties, subnormals, overflow, specials."""
    rng = np.random.default_rng(7)
    bits = np.concatenate([
        rng.integers(0, 2**32, 20000, dtype=np.uint64),
        np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7FFFFF, 0x00000001, 0x80000000,
                  0x7F800000, 0xFF800000, 0x477FF000, 0x477FEFFF, 0x33000000, 0x33000001, 0x387FC000,
                  0x38800000, 0x3F800000 + 0x1000, 0x3F800000 + 0x3000], dtype=np.uint64),
    ]).astype(np.uint32)
    # Exponents near the float16 range, where subnormal and overflow rounding live.
    e = rng.integers(100, 145, 20000, dtype=np.uint64).astype(np.uint32)
    m = rng.integers(0, 2**23, 20000, dtype=np.uint64).astype(np.uint32)
    s = rng.integers(0, 2, 20000, dtype=np.uint64).astype(np.uint32)
    bits = np.concatenate([bits, (s << 31) | (e << 23) | m])
    return bits.view(np.float32)


def st_write(path, tensors, meta=None):
    """tensors: list of (name, dtype, shape, raw bytes). Header padded to 8 bytes with spaces."""
    header, off = {}, 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors))


def st_read(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack("<Q", b[:8])
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    header = json.loads(b[8:8 + n].decode())
    data = b[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        a, z = e["data_offsets"]
        out[name] = (e["dtype"], tuple(e["shape"]), data[a:z])
    return out, meta, list(header.keys())


def npy_write(d):
    np.save(os.path.join(d, "f32_v1.npy"), pattern(60).astype(np.float32).reshape(3, 4, 5))
    with open(os.path.join(d, "u8_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, (np.arange(24) % 256).astype(np.uint8).reshape(2, 3, 4), version=(2, 0))
    with open(os.path.join(d, "f32_v3.npy"), "wb") as f:
        np.lib.format.write_array(f, pattern(6).astype(np.float32), version=(3, 0))
    np.save(os.path.join(d, "i32.npy"), (np.arange(10) - 5).astype(np.int32).reshape(2, 5))
    np.save(os.path.join(d, "i64.npy"), (np.arange(10) - 5).astype(np.int64))
    np.save(os.path.join(d, "f64.npy"), pattern(8).reshape(2, 2, 2))
    np.save(os.path.join(d, "scalar.npy"), np.array(2.5, dtype=np.float32))
    np.save(os.path.join(d, "empty.npy"), np.zeros((0, 3), dtype=np.float32))


def npy_check(d):
    want = {
        "c_f32.npy": ((2, 3, 4), np.float32, pattern(24).astype(np.float32)),
        "c_u8.npy": ((5, 7), np.uint8, (np.arange(35) * 7 % 256).astype(np.uint8)),
        "c_stream.npy": ((4, 6, 6, 3), np.uint8, (np.arange(432) % 251).astype(np.uint8)),
        "c_i64.npy": ((3,), np.int64, np.array([-1, 0, 1 << 40])),
    }
    for name, (shape, dt, values) in want.items():
        a = np.load(os.path.join(d, name))
        assert a.shape == shape, "%s: shape %s, want %s" % (name, a.shape, shape)
        assert a.dtype == dt, "%s: dtype %s, want %s" % (name, a.dtype, np.dtype(dt))
        assert np.array_equal(a.ravel(), values.astype(dt)), "%s: values differ" % name
        assert a.flags["C_CONTIGUOUS"], name


def st_write_ref(d):
    f32 = pattern(24).astype(np.float32)
    all16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    probe = conversion_probe()
    tensors = [
        ("f32", "F32", (2, 3, 4), f32.tobytes()),
        ("bf16", "BF16", (24,), bf16_bits(f32).tobytes()),
        ("f16", "F16", (4, 6), f32.astype(np.float16).tobytes()),
        ("u8", "U8", (6,), np.arange(250, 256, dtype=np.uint8).tobytes()),
        ("i32", "I32", (3,), np.array([-7, 0, 2**31 - 1], dtype=np.int32).tobytes()),
        ("i64", "I64", (2,), np.array([-9, 1 << 40], dtype=np.int64).tobytes()),
        ("f64", "F64", (2, 2), pattern(4).tobytes()),
        ("scalar", "F32", (), np.array([1.5], dtype=np.float32).tobytes()),
        ("empty", "F32", (0, 5), b""),
        ("all_f16", "F16", (65536,), all16.tobytes()),
        ("all_f16_as_f32", "F32", (65536,), all16.view(np.float16).astype(np.float32).tobytes()),
        ("all_bf16", "BF16", (65536,), all16.tobytes()),
        ("probe", "F32", (probe.size,), probe.tobytes()),
    ]
    st_write(os.path.join(d, "py.safetensors"), tensors, {"format": "pt", "note": "caf\u00e9 \"quoted\"\n2"})


def st_check(d):
    t, meta, order = st_read(os.path.join(d, "c.safetensors"))
    assert meta == {"kind": "test", "config": "{\"a\": [1, 2]}\n", "empty": ""}, "metadata %r" % meta
    assert order == ["w.f32", "w.bf16", "w.f16", "probe.bf16", "probe.f16", "zero"], "order %r" % order
    f32 = pattern(12, 0.37, -2.0).astype(np.float32)
    dt, shape, raw = t["w.f32"]
    assert dt == "F32" and shape == (3, 4) and np.array_equal(np.frombuffer(raw, np.float32), f32)
    dt, shape, raw = t["w.bf16"]
    assert dt == "BF16" and shape == (12,) and np.array_equal(np.frombuffer(raw, np.uint16), bf16_bits(f32))
    dt, shape, raw = t["w.f16"]
    assert dt == "F16" and shape == (2, 6) and np.array_equal(np.frombuffer(raw, np.float16), f32.astype(np.float16))
    probe = conversion_probe()
    got = np.frombuffer(t["probe.bf16"][2], np.uint16)
    bad = np.nonzero(got != bf16_bits(probe))[0]
    assert bad.size == 0, "bf16 rounding differs at %d values, first f32 bits %08x: got %04x want %04x" % (
        bad.size, probe.view(np.uint32)[bad[0]], got[bad[0]], bf16_bits(probe)[bad[0]])
    with np.errstate(over="ignore", invalid="ignore"):
        want16 = probe.astype(np.float16)
    got16 = np.frombuffer(t["probe.f16"][2], np.float16)
    same = (got16.view(np.uint16) == want16.view(np.uint16)) | (np.isnan(got16) & np.isnan(want16))
    bad = np.nonzero(~same)[0]
    assert bad.size == 0, "f16 rounding differs at %d values, first f32 bits %08x: got %04x want %04x" % (
        bad.size, probe.view(np.uint32)[bad[0]], got16.view(np.uint16)[bad[0]], want16.view(np.uint16)[bad[0]])
    assert t["zero"][1] == (0,) and t["zero"][2] == b""


def good_tensors():
    return [("a", "F32", (2, 2), np.ones(4, np.float32).tobytes()), ("b", "U8", (3,), b"\x01\x02\x03")]


def write_raw_header(path, header_obj_or_bytes, data=b"", hlen=None):
    h = header_obj_or_bytes if isinstance(header_obj_or_bytes, bytes) else json.dumps(header_obj_or_bytes).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h) if hlen is None else hlen) + h + data)


def corrupt(d):
    good = os.path.join(d, "good.safetensors")
    st_write(good, good_tensors(), {"k": "v"})
    raw = open(good, "rb").read()
    ok = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
    data16 = bytes(16)
    cases = {
        "st_truncated": raw[:len(raw) - 5],
        "st_header_past_end": struct.pack("<Q", 1 << 40) + raw[8:],
        "st_empty": b"",
        "st_short": b"\x08\x00\x00",
    }
    for name, blob in cases.items():
        open(os.path.join(d, name + ".safetensors"), "wb").write(blob)
    hdrs = {
        "st_bad_json": b'{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]',
        "st_unknown_dtype": {"a": {"dtype": "Q7", "shape": [2, 2], "data_offsets": [0, 16]}},
        "st_negative_shape": {"a": {"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]}},
        "st_overflow_shape": {"a": {"dtype": "F32", "shape": [2**52, 2**52, 2**52], "data_offsets": [0, 16]}},
        "st_offsets_past_end": {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [8, 24]}},
        "st_overlap": {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
        "st_overlap_past_empty": {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                  "z": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
        "st_byte_mismatch": {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 16]}},
        "st_meta_not_string": {"__metadata__": {"step": 5}, **ok},
        "st_duplicate": b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                        b'"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}',
        "st_not_object": b'[1, 2, 3]',
        "st_fraction_shape": {"a": {"dtype": "F32", "shape": [2.5, 2], "data_offsets": [0, 16]}},
        "st_too_many_dims": {"a": {"dtype": "F32", "shape": [1] * 9 + [4], "data_offsets": [0, 16]}},
        "st_offsets_reversed": {"a": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}},
        "st_offsets_one": {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16]}},
        "st_junk_after_json": b'{"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}} xyz',
        "st_missing_dtype": {"a": {"shape": [2, 2], "data_offsets": [0, 16]}},
        "st_meta_not_object": {"__metadata__": "x", **ok},
    }
    for name, h in hdrs.items():
        write_raw_header(os.path.join(d, name + ".safetensors"), h, data16)
    # npy
    np.save(os.path.join(d, "good.npy"), np.arange(12, dtype=np.float32).reshape(3, 4))
    g = open(os.path.join(d, "good.npy"), "rb").read()

    def npy_with_header(dict_text, data=bytes(48), version=1):
        h = dict_text.encode()
        pad = 64 - (10 + len(h) + 1) % 64
        h += b" " * (pad % 64) + b"\n"
        return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(h)) + h + data

    npys = {
        "npy_bad_magic": b"\x93NUMPZ" + g[6:],
        "npy_truncated": g[:len(g) - 4],
        "npy_fortran": npy_with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }"),
        "npy_dtype": npy_with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (3, 2), }"),
        "npy_big_endian": npy_with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }"),
        "npy_bad_header": npy_with_header("{'descr': '<f4', 'fortran_order': Flase, 'shape': (3, 4), }"),
        "npy_bad_shape": npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, -4), }"),
        "npy_missing_key": npy_with_header("{'descr': '<f4', 'shape': (3, 4), }"),
        "npy_header_past_end": g[:8] + struct.pack("<H", 60000) + g[10:],
        "npy_version": g[:6] + b"\x07\x00" + g[8:],
        "npy_trailing": g + b"\x00" * 4,
        "npy_empty": b"",
    }
    for name, blob in npys.items():
        open(os.path.join(d, name + ".npy"), "wb").write(blob)


def dataset(d):
    """A valid tiny data set in d/good and broken copies beside it."""
    n, t, s = 2, 5, 8
    frames = (np.arange(n * t * s * s * 3) % 256).astype(np.uint8).reshape(n, t, s, s, 3)
    actions = np.zeros((n, t, 6), np.float32)
    actions[:, :, 0] = np.array([0, 0, 1, 2, -1])
    actions[:, :, 1] = np.arange(t) * 0.2
    index = {"format_version": 1, "split": "train", "videos": n, "frames": t, "size": s,
             "has_poses": True, "world_seeds": [11, 12]}

    def make(name, fr=frames, ac=actions, ix=index, skip=()):
        p = os.path.join(d, name)
        os.makedirs(p)
        if "frames" not in skip:
            np.save(os.path.join(p, "frames.npy"), fr)
        if "actions" not in skip:
            np.save(os.path.join(p, "actions.npy"), ac)
        if "index" not in skip:
            with open(os.path.join(p, "index.json"), "w") as f:
                f.write(ix if isinstance(ix, str) else json.dumps(ix))

    make("good")
    make("no_actions", skip=("actions",))
    make("no_index", skip=("index",))
    make("frames_f32", fr=frames.astype(np.float32))
    make("frames_4d", fr=frames[0])
    make("actions_count", ac=actions[:1])
    make("actions_width", ac=actions[:, :, :5].copy())
    bad_id = actions.copy()
    bad_id[1, 3, 0] = 7
    make("actions_bad_id", ac=bad_id)
    make("index_version", ix=dict(index, format_version=99))
    make("index_mismatch", ix=dict(index, videos=3))
    make("index_size", ix=dict(index, size=16))
    make("index_bad_json", ix="{\"format_version\": 1,")


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    fn = {"npy_write": npy_write, "npy_check": npy_check, "st_write": st_write_ref, "st_check": st_check,
          "corrupt": corrupt, "dataset": dataset}[cmd]
    try:
        fn(d)
    except AssertionError as e:
        print("io_ref.py %s: check failed: %s" % (cmd, e))
        sys.exit(1)


if __name__ == "__main__":
    main()
