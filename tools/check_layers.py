#!/usr/bin/env python3
"""The library's structure, checked from its sources and objects (tests/test_layers.c runs this).

1. Includes point down the layers only: core -> nn -> io -> models -> rollout -> pipeline -> eval / cli
   (world uses core and io; cli may use everything). An `#include "dir/x.h"` from a folder to a folder
   it may not use is reported as "upward".
2. No two modules use each other, directly or around a longer cycle. A module is one .c file; it uses
   another when it calls a function or reads a variable that the other defines (the undefined symbols of
   its object file, resolved with `nm` against the symbols the other objects define). This also sees a
   pair that shares one internal header and calls each other through it, and calls up the layers that
   no include shows (a prototype written by hand).

usage: check_layers.py BUILD_DIR            (the objects in BUILD_DIR/obj/src)
       check_layers.py --self-test           (shows that a planted upward include and cycle are found)
Exits 0 when the structure is clean, 1 with one line per problem otherwise.
"""
import os
import re
import subprocess
import sys

ALLOWED = {
    "core": {"core"},
    "nn": {"core", "nn"},
    "io": {"core", "io"},
    "world": {"core", "io", "world"},
    "models": {"core", "nn", "io", "models"},
    "rollout": {"core", "nn", "io", "models", "rollout"},
    "pipeline": {"core", "nn", "io", "world", "models", "rollout", "pipeline"},
    "eval": {"core", "nn", "io", "world", "models", "rollout", "pipeline", "eval"},
    "cli": {"core", "nn", "io", "world", "models", "rollout", "pipeline", "eval", "cli"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def include_problems(files):
    """files: {path 'src/dir/x.c': text}. Upward or sideways includes."""
    out = []
    for path, text in sorted(files.items()):
        folder = path.split("/")[1]
        allowed = ALLOWED.get(folder)
        if allowed is None:
            out.append(f"{path}: folder '{folder}' has no place in the layer order (add it to tools/check_layers.py)")
            continue
        for m in INCLUDE.finditer(text):
            if m.group(1) not in allowed:
                line = text.count("\n", 0, m.start()) + 1
                out.append(f"{path}:{line}: upward include of {m.group(1)}/ from {folder}/")
    return out


def cycles(uses):
    """uses: {module: set(modules)}. Every strongly connected component of more than one module."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's algorithm, recursive (a few hundred modules at most)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(uses.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(uses):
        if v not in index:
            visit(v)
    return comps


def symbol_uses(objects):
    """objects: {module: path.o}. module -> modules whose symbols it uses (nm)."""
    defined, undefined = {}, {}
    for mod, obj in objects.items():
        res = subprocess.run(["nm", "-P", obj], capture_output=True, text=True, check=True)
        undefined[mod] = set()
        for line in res.stdout.splitlines():
            f = line.split()
            if len(f) < 2:
                continue
            name, kind = f[0], f[1]
            if kind == "U":
                undefined[mod].add(name)
            elif kind in "TDBRCVW" and kind.isupper():
                defined.setdefault(name, mod)
    return {m: {defined[s] for s in u if s in defined and defined[s] != m} for m, u in undefined.items()}


def cycle_problems(uses):
    return [f"modules that use each other: {' <-> '.join(c)}" for c in cycles(uses)]


def use_problems(uses):
    """Calls up the layers (a symbol used across folders against the include order)."""
    out = []
    for m in sorted(uses):
        for n in sorted(uses[m]):
            if n.split("/")[1] not in ALLOWED.get(m.split("/")[1], ()):
                out.append(f"{m}: uses {n} (upward)")
    return out


def check(build):
    files = {}
    for root, _, names in os.walk("src"):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(root, n)
                with open(p, encoding="utf-8") as f:
                    files[p] = f.read()
    probs = include_problems(files)
    objects = {}
    for p in files:
        if p.endswith(".c") and not p.startswith("src/cli/"):
            obj = os.path.join(build, "obj", p[:-2] + ".o")
            if not os.path.exists(obj):
                probs.append(f"{obj}: missing (build first: make)")
                continue
            objects[p] = obj
    if objects:
        uses = symbol_uses(objects)
        probs += use_problems(uses) + cycle_problems(uses)
    return probs


def self_test():
    bad = include_problems({"src/models/x.c": '#include "core/core.h"\n#include "rollout/rollout.h"\n',
                            "src/io/y.h": '#include "models/dit.h"\n',
                            "src/eval/z.c": '#include "pipeline/generator.h"\n'})
    assert len(bad) == 2 and "src/io/y.h:1" in bad[0] and "src/models/x.c:2" in bad[1], bad
    assert cycle_problems({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == ["modules that use each other: a <-> b"]
    assert cycle_problems({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["modules that use each other: a <-> b <-> c"]
    assert cycle_problems({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert use_problems({"src/models/a.c": {"src/rollout/b.c", "src/core/c.c"}}) == [
        "src/models/a.c: uses src/rollout/b.c (upward)"]
    print("self-test: planted upward includes and cycles are found")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    probs = check(argv[1])
    for p in probs:
        print(p)
    print(f"layers: {len(probs)} problem(s)")
    return 1 if probs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
