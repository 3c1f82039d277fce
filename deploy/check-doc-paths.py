#!/usr/bin/env python3
"""Checks that every repository path the Markdown files name exists.

    python3 deploy/check-doc-paths.py        # from anywhere in the repository

Reads every `*.md` file git knows (tracked, plus new files not ignored; nothing under
fuzz/corpus/ or target/) and takes from each line:
- every path that starts with `src/`, `tests/`, `docs/` or `deploy/`, in backticks, in a
  Markdown link or bare; it is looked up from the repository root (for a link target, from the
  Markdown file's folder as well: either may exist);
- every relative Markdown link target (`[text](../ARCHITECTURE.md)`, `[x]: profiles/a.svg`),
  looked up from the file's folder and from the root.

A path loses trailing punctuation, a `:line` or `:line:column` suffix and a `#anchor`. A glob
(`src/*.rs`) must match something; `{a,b}` is expanded and each expansion must exist. A path cut
short by an ellipsis (`src/kafka/…`) is checked up to its last whole folder.

Exit 0 with one summary line when all exist; exit 1 listing each missing path as file:line.
Python 3 standard library only.
"""
import glob
import os
import re
import subprocess
import sys

PREFIXES = ("src/", "tests/", "docs/", "deploy/", "testkit/", "fuzz/")
SKIP_DIRS = ("fuzz/corpus/", "target/")

# A path token: a prefix at a word boundary (not inside a URL or a longer path), then anything
# but white space, quotes, brackets, pipes and separators; `{a,b}` groups may hold commas.
PATH_RE = re.compile(
    r"(?<![\w./\-~$])(?:\./)?((?:src|tests|docs|deploy|testkit|fuzz)/"
    r"(?:[^\s`'\"()<>\[\]|,;{}*]|\*|\{[^{}\s]*\})*)"
)
# An inline Markdown link or image target: ](target) or ](target "title").
LINK_RE = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# A reference-style link definition: [label]: target
DEF_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
ELLIPSES = ("…", "...")
TRAILING = ".,;:!?)]}'\"*_`"


def repo_root():
    # The checkout this script is in, wherever it is run from.
    out = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"],
        cwd=os.path.dirname(os.path.abspath(__file__)),
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def markdown_files(root):
    """Markdown files git tracks, plus new ones it does not ignore, that exist."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.md"],
        cwd=root, check=True, capture_output=True, text=True,
    )
    files = set()
    for name in out.stdout.split("\0"):
        if not name or any(name.startswith(d) or ("/" + d) in name for d in SKIP_DIRS):
            continue
        if os.path.isfile(os.path.join(root, name)):
            files.add(name)
    return sorted(files)


def clean(path):
    """The path without an anchor, a `:line` suffix or trailing punctuation; None if nothing
    checkable is left."""
    path = path.split("#", 1)[0]
    path = path.split("?", 1)[0]
    for mark in ELLIPSES:
        if mark in path:
            # Keep the folders before the ellipsis.
            path = path[: path.index(mark)]
            path = path[: path.rfind("/") + 1] if "/" in path else ""
    path = re.sub(r":\d+(?::\d+)?(?:-\d+)?$", "", path)
    path = path.split(":", 1)[0]
    while path and path[-1] in TRAILING:
        # A closing brace belongs to a `{a,b}` group; keep it when the group is open.
        if path[-1] == "}" and path.count("{") >= path.count("}"):
            break
        path = path[:-1]
    return path or None


def expand_braces(path):
    """`src/{a,b}.rs` → [`src/a.rs`, `src/b.rs`] (nested groups too)."""
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    out = []
    for alt in match.group(1).split(","):
        out.extend(expand_braces(path[: match.start()] + alt + path[match.end():]))
    return out


def exists(base, path):
    """Whether `path` (maybe a glob) names something under `base`."""
    full = os.path.normpath(os.path.join(base, path))
    if any(c in path for c in "*?["):
        return bool(glob.glob(full))
    return os.path.exists(full)


def inside(root, base, path):
    full = os.path.normpath(os.path.join(base, path))
    return full == root or full.startswith(root + os.sep)


def found(root, md_dir, path, is_link):
    """Every expansion of `path` exists, from the root or (links) from the file's folder."""
    for one in expand_braces(path):
        bases = [root]
        if is_link:
            bases.append(os.path.join(root, md_dir))
        if not any(inside(root, b, one) and exists(b, one) for b in bases):
            return False
    return True


def is_relative_link(target):
    return not (
        target.startswith(("#", "/", "mailto:"))
        or SCHEME_RE.match(target)
        or "{{" in target
    )


def paths_in_line(line):
    """(path, is_link) pairs named on `line`, each once."""
    seen = {}
    links = [m.group(1) for m in LINK_RE.finditer(line)]
    definition = DEF_RE.match(line)
    if definition:
        links.append(definition.group(1))
    for target in links:
        if is_relative_link(target):
            path = clean(target)
            if path:
                seen[path] = True
    for match in PATH_RE.finditer(line):
        path = clean(match.group(1))
        if path and path.startswith(PREFIXES) and path not in seen:
            seen[path] = False
    return list(seen.items())


def main():
    root = repo_root()
    files = markdown_files(root)
    checked = 0
    missing = []
    for name in files:
        md_dir = os.path.dirname(name)
        fence = None
        with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                stripped = line.lstrip()
                # Code blocks are checked too (commands name scripts); only links are
                # meaningless there, so a fenced line is read for bare paths alone.
                marker = re.match(r"(`{3,}|~{3,})", stripped)
                if marker:
                    if fence is None:
                        fence = marker.group(1)[0]
                    elif stripped.startswith(fence * 3):
                        fence = None
                    continue
                for path, is_link in paths_in_line(line):
                    if fence is not None and is_link:
                        continue
                    checked += 1
                    if not found(root, md_dir, path, is_link):
                        missing.append(f"{name}:{number}: {path}")
    if missing:
        print(f"doc paths: {len(missing)} of {checked} paths in {len(files)} files are missing:")
        for entry in missing:
            print(f"  {entry}")
        return 1
    print(f"doc paths: {checked} paths in {len(files)} files, all exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
