#!/usr/bin/env python3
"""Checks two rules of ARCHITECTURE.md's "Names and sizes" on src/:

- no two public types, traits or modules share a name (a private one, seen by its own file
  only, may repeat; the `Result<T, E = ...>` aliases are aliases, not types: see
  ARCHITECTURE.md);
- no function outside tests runs over 80 lines, except the data tables listed in TABLES.

    python3 deploy/rooms.py [src]

Prints what breaks a rule and exits 1, or one line saying both hold.
"""
import re
import sys
from collections import defaultdict
from pathlib import Path

LIMIT = 80
# Functions that are data, not logic: one row per table.
TABLES = {("src/pgstore/layout.rs", "layout")}
# Aliases named after std's, one per module's error (see ARCHITECTURE.md).
ALIASES = {"Result"}

ITEM = re.compile(r"^\s*pub(\([^)]*\))?\s+(struct|enum|trait|type|mod|union)\s+([A-Za-z_]\w*)")
FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+([A-Za-z_]\w*)")


def is_test_file(path: Path) -> bool:
    parts = path.parts
    return "tests" in parts or path.name in ("tests.rs", "suite.rs", "mock.rs") or path.stem.endswith("_tests")


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    names = defaultdict(list)
    long_fns = []
    for path in sorted(root.rglob("*.rs")):
        lines = path.read_text().splitlines()
        test_from = next(
            (i for i, l in enumerate(lines) if l.strip() == "#[cfg(test)]" and i + 1 < len(lines)
             and re.match(r"^mod \w+ \{", lines[i + 1])),
            len(lines),
        )
        for i, line in enumerate(lines[:test_from]):
            m = ITEM.match(line)
            if m and m.group(1) != "(super)" and m.group(3) not in ALIASES:
                names[m.group(3)].append(f"{path}:{i + 1}")
        if is_test_file(path):
            continue
        for i, line in enumerate(lines[:test_from]):
            m = FN.match(line)
            if not m or line.rstrip().endswith(";"):
                continue
            indent = m.group(1)
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j] == indent + "}"),
                None,
            )
            if end is None:
                continue
            length = end - i + 1
            if length > LIMIT and (str(path), m.group(7)) not in TABLES:
                long_fns.append(f"{path}:{i + 1} fn {m.group(7)}: {length} lines")
    shared = {n: places for n, places in names.items() if len(places) > 1}
    for n, places in sorted(shared.items()):
        print(f"name {n} declared public in {len(places)} places: {', '.join(places)}")
    for f in long_fns:
        print(f"over {LIMIT} lines: {f}")
    if shared or long_fns:
        return 1
    print(f"rooms: every public type, trait and module name is unique; no function over {LIMIT} lines outside tests and data tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
