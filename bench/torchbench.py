"""Shared setup of bench/torch_ae.py and bench/torch_dit.py: the command line THREADS BATCH REPS, the
PyTorch thread count and seed, tools/ on the import path (the twins), and best-of-N timing."""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))


def setup(batch, reps):
    """Reads THREADS BATCH REPS from argv (defaults 2, batch, reps), sets the threads and seed 0 and
    returns (batch, reps)."""
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    return (int(sys.argv[2]) if len(sys.argv) > 2 else batch), (int(sys.argv[3]) if len(sys.argv) > 3 else reps)


def best(fn, reps):
    """Best wall-clock and best CPU (process, all threads) seconds of one call, after a warm-up call."""
    fn()
    t, c = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        t.append(time.perf_counter() - t0)
        c.append(time.process_time() - c0)
    return min(t), min(c)
