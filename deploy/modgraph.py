#!/usr/bin/env python3
# Top-level module dependency graph of src/ (non-test files), from `crate::X` mentions.
# Prints which top-level modules import which, and exits 1 when two of them import each other
# (directly or through others): the crate keeps its module graph acyclic (ARCHITECTURE.md).
import os, re, sys, itertools
root = sys.argv[1]
tops = set()
for f in os.listdir(root):
    if f.endswith('.rs') and f not in ('lib.rs', 'main.rs'): tops.add(f[:-3])
    elif os.path.isdir(os.path.join(root, f)): tops.add(f)
edges = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        path = os.path.join(dp, f); rel = os.path.relpath(path, root)
        if f in ('tests.rs',) or f.endswith('_tests.rs') or rel in ('lib.rs','main.rs'): continue
        top = rel.split(os.sep)[0].removesuffix('.rs')
        text = open(path).read()
        # drop #[cfg(test)] mod tests { ... } blocks crudely: cut from '#[cfg(test)]\nmod tests {'
        i = text.find('#[cfg(test)]\nmod tests {')
        if i >= 0: text = text[:i]
        uses = set(re.findall(r'crate::([a-z_]+)', text))
        # grouped: use crate::{a, b::c}
        for m in re.finditer(r'crate::\{', text):
            depth = 1; cur = ''; j = m.end()
            while depth and j < len(text):
                ch = text[j]; j += 1
                if ch == '{': depth += 1
                elif ch == '}':
                    depth -= 1
                    if depth == 0: break
                elif ch == ',' and depth == 1:
                    uses.add(cur.strip().split('::')[0]); cur = ''; continue
                if depth == 1 and ch not in '{}': cur += ch
            uses.add(cur.strip().split('::')[0])
        for u in uses:
            if u in tops and u != top:
                edges.setdefault(top, {}).setdefault(u, set()).add(rel)
for a in sorted(edges):
    print(f"{a:12} -> " + ", ".join(sorted(edges[a])))
# cycles: strongly connected components
idx = {}; low = {}; st = []; on = set(); out = []; c = [0]
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(comp)
for v in sorted(tops):
    if v not in idx: sc(v)
print("cycles (strongly connected groups):", out or "none")
for comp in out:
    for a in comp:
        for b in comp:
            if b in edges.get(a, {}): print(f"  {a} -> {b}: {sorted(edges[a][b])}")
sys.exit(1 if out else 0)
