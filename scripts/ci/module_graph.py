"""Draws the dependency graph between the modules of one crate and names its cycles.

A module depends on another when its code names it: `use crate::a::b`, `use crate::{a, b::{c, d}}`,
`crate::a::f(..)` or `$crate::a::..` in code, `super::x` / `self::x` (resolved from the file's
module), or a bare `child::x` naming a child module. Comments, strings and every item under
`#[cfg(test)]` (the `mod tests { .. }` blocks, test-only impls: test code may depend on anything)
are left out. A `mod child;` declaration is not an edge; neither is a reference from a module to
itself, nor (unless --keep-nesting) one between a module and its own descendants or ancestors
at the chosen depth (the crate root, `crate`, is everyone's ancestor). A path is counted against
the module it names (`crate::config::X` is a use of `config`, even when config re-exports X).

Modules are cut to --depth segments: at 1 the nodes are `config`, `guards`, `twofactor`..., at 2
`config::signup`, `twofactor::handler`... (and `guards`, which has no submodules).

Prints the edges, then each strongly connected component of more than one module (a cycle), with
every edge inside it and one place (file:line) that makes it, so that a developer can break it.

Usage: python scripts/ci/module_graph.py [SRC] [--depth N] [--check] [--json] [--keep-nesting]
  SRC defaults to shared/src. --check: exit 1 when there is a cycle (for CI).
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

Module = tuple[str, ...]
ROOT: Module = ()

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
CFG_TEST_INNER = re.compile(r"#\s*!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
INLINE_MOD = re.compile(r"\bmod\s+(?:r#)?([A-Za-z_][A-Za-z0-9_]*)\s*\{")
USE = re.compile(r"(?<![A-Za-z0-9_$])use\b")
USE_TOKEN = re.compile(r"\$crate|r#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*|::|[{},*;]|\S")
PATH = re.compile(r"(?<![A-Za-z0-9_$])(\$crate|[A-Za-z_][A-Za-z0-9_]*)((?:\s*::\s*[A-Za-z_][A-Za-z0-9_]*)+)")
VISIBILITY_IN = re.compile(r"pub\s*\(\s*in\s*$")


@dataclass(frozen=True)
class Ref:
    """One place where a module names another."""

    file: str
    line: int
    path: str  # the path as resolved from the crate root, e.g. crate::guards::Rule
    source: Module
    target: Module
    text: str  # the source line, trimmed


# --- reading Rust as text -------------------------------------------------------------------------


def blank(chars: list[str], start: int, end: int) -> None:
    """Replaces chars[start:end] with spaces, keeping the newlines (so offsets and lines hold)."""
    for i in range(start, min(end, len(chars))):
        if chars[i] != "\n":
            chars[i] = " "


def strip_comments_and_literals(text: str) -> str:
    """The code with comments, string, byte-string, raw-string and char literals blanked."""
    chars = list(text)
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(chars, i, end)
            i = end
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(chars, i, j)
            i = j
        elif c in "rb" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.compile(r"(?:br|r|b)(#*)\"").match(text, i)
            if m and (m.group(0).startswith(("r", "br"))):
                closing = '"' + m.group(1)
                end = text.find(closing, m.end())
                end = n if end < 0 else end + len(closing)
                blank(chars, i, end)
                i = end
            else:
                i += 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(chars, i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', '\'') or a lifetime ('a, 'static): leave the latter.
            if nxt == "\\":
                j = i + 2
                while j < n and text[j] != "'":
                    j += 1
                blank(chars, i, j + 1)
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                blank(chars, i, i + 3)
                i += 3
            else:
                i += 1
        else:
            i += 1
    return "".join(chars)


def matching(code: str, open_at: int) -> int:
    """The offset just past the bracket that closes the one at open_at (or the end of the code)."""
    pairs = {"{": "}", "(": ")", "[": "]"}
    stack = [pairs[code[open_at]]]
    i = open_at + 1
    while i < len(code) and stack:
        c = code[i]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}" and c == stack[-1]:
            stack.pop()
        i += 1
    return i


def cut_test_items(code: str) -> str:
    """Blanks every item under #[cfg(test)] (a `mod tests { .. }`, an impl, a fn, a use ..;)."""
    if CFG_TEST_INNER.search(code):
        return re.sub(r"[^\n]", " ", code)
    chars = list(code)
    for m in CFG_TEST.finditer(code):
        i = m.end()
        # Further attributes on the same item.
        while True:
            while i < len(code) and code[i].isspace():
                i += 1
            if code.startswith("#", i):
                j = code.find("[", i)
                i = matching(code, j) if j >= 0 else len(code)
            else:
                break
        # The item ends at its first `;` or at the close of its first `{` (outside () and []).
        while i < len(code) and code[i] not in "{;":
            i = matching(code, i) if code[i] in "([" else i + 1
        end = matching(code, i) if i < len(code) and code[i] == "{" else i + 1
        blank(chars, m.start(), end)
    return "".join(chars)


# --- modules --------------------------------------------------------------------------------------


def file_module(rel: Path) -> Module:
    """lib.rs / main.rs = the crate root, foo.rs and foo/mod.rs = foo, foo/bar.rs = foo::bar."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
        parts.pop()
    return tuple(parts)


def name(module: Module) -> str:
    return "::".join(module) if module else "crate"


def inline_modules(code: str, base: Module) -> list[tuple[int, int, Module]]:
    """The `mod x { .. }` blocks of a file (tests already blanked): (start, end, module)."""
    found: list[tuple[int, int, Module]] = []
    for m in INLINE_MOD.finditer(code):
        start, end = m.end() - 1, matching(code, m.end() - 1)
        enclosing = [f for f in found if f[0] < start < f[1]]
        parent = max(enclosing, key=lambda f: f[0])[2] if enclosing else base
        found.append((start, end, (*parent, m.group(1))))
    return found


def module_at(offset: int, base: Module, inline: list[tuple[int, int, Module]]) -> Module:
    inside = [f for f in inline if f[0] < offset < f[1]]
    return max(inside, key=lambda f: f[0])[2] if inside else base


def absolute(segments: list[str], current: Module, known: set[Module]) -> list[str] | None:
    """The path from the crate root that `segments` names in `current`, or None (another crate,
    a type, an imported name: whatever the `use` that brought it in already counted)."""
    first, rest = segments[0], segments[1:]
    if first in ("crate", "$crate"):
        return rest
    if first in ("super", "self"):
        module = list(current)
        lead = 0
        while lead < len(segments) and segments[lead] in ("super", "self"):
            if segments[lead] == "super":
                if not module:
                    return None
                module.pop()
            lead += 1
        return module + segments[lead:]
    if (*current, first) in known:
        return [*current, *segments]
    return None


def target_module(path: list[str], known: set[Module]) -> Module:
    for cut in range(len(path), -1, -1):
        if tuple(path[:cut]) in known:
            return tuple(path[:cut])
    return ROOT


# --- references -----------------------------------------------------------------------------------


def use_leaves(code: str, start: int) -> tuple[list[tuple[list[str], int]], int]:
    """The leaf paths of the use tree after `use` at start, each with the offset of its last
    segment, and the offset past the closing `;`."""
    tokens: list[tuple[str, int]] = []
    for m in USE_TOKEN.finditer(code, start + 3):
        tokens.append((m.group(0), m.start()))
        if m.group(0) == ";":
            break
    end = tokens[-1][1] + 1 if tokens else len(code)
    leaves: list[tuple[list[str], int]] = []
    pos = 0

    def tree(prefix: list[str]) -> None:
        nonlocal pos
        segments = list(prefix)
        last = tokens[pos][1] if pos < len(tokens) else end
        if pos < len(tokens) and tokens[pos][0] == "::":  # ::extern_crate::..
            segments.append("::")
            pos += 1
        while pos < len(tokens):
            tok, at = tokens[pos]
            if tok == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos][0] != "}":
                    if tokens[pos][0] == ",":
                        pos += 1
                        continue
                    tree(segments)
                pos += 1
                return
            if tok == "*":
                pos += 1
                leaves.append((segments, at))
                return
            if tok == "self" and prefix and segments == prefix:
                # `self` inside a group: the group's own prefix.
                pos += 1
                leaves.append((segments, at))
                break
            if IDENT.fullmatch(tok) or tok == "$crate" or tok.startswith("r#"):
                segments.append(tok.removeprefix("r#"))
                last = at
                pos += 1
                if pos < len(tokens) and tokens[pos][0] == "::":
                    pos += 1
                    continue
                leaves.append((segments, last))
                break
            return
        # `as alias`
        if pos + 1 < len(tokens) and tokens[pos][0] == "as":
            pos += 2

    while pos < len(tokens) and tokens[pos][0] != ";":
        before = pos
        tree([])
        if pos == before:
            pos += 1
    return leaves, end


def references(src: Path, label: str, rel: Path, known: set[Module]) -> list[Ref]:
    text = (src / rel).read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    newlines = [i for i, c in enumerate(text) if c == "\n"]
    code = cut_test_items(strip_comments_and_literals(text))
    base = file_module(rel)
    inline = inline_modules(code, base)
    file = f"{label}/{rel.as_posix()}"
    refs: list[Ref] = []

    def add(segments: list[str], offset: int) -> None:
        if not segments or segments[0] == "::":
            return
        current = module_at(offset, base, inline)
        path = absolute(segments, current, known)
        if path is None:
            return
        line = bisect.bisect_left(newlines, offset) + 1
        target = target_module(path, known)
        shown = "::".join(["crate", *path])
        refs.append(Ref(file, line, shown, current, target, lines[line - 1].strip()[:120]))

    chars = list(code)
    for m in USE.finditer(code):
        leaves, end = use_leaves(code, m.start())
        for segments, offset in leaves:
            add(segments, offset)
        blank(chars, m.start(), end)
    code = "".join(chars)
    for m in PATH.finditer(code):
        before = code[: m.start()].rstrip()
        if before.endswith("::") or VISIBILITY_IN.search(before[-40:]):
            continue  # the tail of a longer path (`<T>::f`), or `pub(in crate::x)`
        segments = [m.group(1), *re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m.group(2))]
        add(segments, m.start())
    return refs


# --- the graph ------------------------------------------------------------------------------------


def cut(module: Module, depth: int) -> Module:
    return module[:depth]


def nested(a: Module, b: Module) -> bool:
    """One of a and b is inside the other (the crate root holds every module)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return long[: len(short)] == short


def build(refs: list[Ref], depth: int, keep_nesting: bool) -> dict[tuple[Module, Module], list[Ref]]:
    edges: dict[tuple[Module, Module], list[Ref]] = defaultdict(list)
    for ref in refs:
        a, b = cut(ref.source, depth), cut(ref.target, depth)
        if a == b or (not keep_nesting and nested(a, b)):
            continue
        edges[(a, b)].append(ref)
    for found in edges.values():
        found.sort(key=lambda r: (r.file, r.line))
    return dict(edges)


def components(nodes: list[Module], succ: dict[Module, list[Module]]) -> list[list[Module]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[Module, int] = {}
    low: dict[Module, int] = {}
    stack: list[Module] = []
    on_stack: set[Module] = set()
    found: list[list[Module]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            nexts = succ.get(node, [])
            if child < len(nexts):
                work.append((node, child + 1))
                w = nexts[child]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[node] = min(low[node], index[w])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                found.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def simple_cycles(comp: list[Module], succ: dict[Module, list[Module]], most: int) -> list[list[Module]]:
    """Up to `most` elementary cycles inside one component, shortest first."""
    members = set(comp)
    order = {m: i for i, m in enumerate(comp)}
    cycles: list[list[Module]] = []
    for start in comp:
        path = [start]
        stack = [iter([w for w in succ.get(start, []) if w in members and order[w] >= order[start]])]
        while stack and len(cycles) < most * 20:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                path.pop()
                continue
            if nxt == start:
                cycles.append(list(path))
            elif nxt not in path:
                path.append(nxt)
                stack.append(iter([w for w in succ.get(nxt, []) if w in members and order[w] >= order[start]]))
    cycles.sort(key=lambda c: (len(c), [name(m) for m in c]))
    return cycles[:most]


def ref_json(ref: Ref) -> dict[str, object]:
    return {"file": ref.file, "line": ref.line, "path": ref.path, "text": ref.text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", nargs="?", default="shared/src", help="the crate's src/ (default shared/src)")
    parser.add_argument("--depth", type=int, default=1, help="module path segments a node keeps (default 1)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the graph has a cycle")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--keep-nesting", action="store_true", help="count edges between a module and its ancestors/descendants"
    )
    parser.add_argument("--max-cycles", type=int, default=10, help="elementary cycles shown per component")
    parser.add_argument("--quiet", action="store_true", help="leave the edges out: the summary and any cycles")
    args = parser.parse_args(argv)
    if args.depth < 1:
        parser.error("--depth takes a whole number from 1")

    src = Path(args.src)
    if not src.is_dir() and not src.is_absolute():
        src = Path(__file__).resolve().parents[2] / args.src  # run from elsewhere than the repo root
    if not src.is_dir():
        parser.error(f"no such folder: {args.src}")
    label = args.src.rstrip("/")

    files = sorted(p.relative_to(src) for p in src.rglob("*.rs"))
    known = {file_module(f) for f in files}
    for rel in files:  # inline `mod x { .. }` modules count too
        code = cut_test_items(strip_comments_and_literals((src / rel).read_text(encoding="utf-8", errors="replace")))
        known.update(m for _, _, m in inline_modules(code, file_module(rel)))
    refs = [r for rel in files for r in references(src, label, rel, known)]

    edges = build(refs, args.depth, args.keep_nesting)
    nodes = sorted({cut(m, args.depth) for m in known}, key=name)
    succ: dict[Module, list[Module]] = defaultdict(list)
    for a, b in sorted(edges, key=lambda e: (name(e[0]), name(e[1]))):
        succ[a].append(b)
    comps = [c for c in components(nodes, succ) if len(c) > 1]
    comps.sort(key=lambda c: [name(m) for m in c])

    cycles = []
    for comp in comps:
        members = set(comp)
        inner = sorted(
            ((a, b) for (a, b) in edges if a in members and b in members), key=lambda e: (name(e[0]), name(e[1]))
        )
        cycles.append((comp, inner, simple_cycles(comp, succ, args.max_cycles)))

    if args.json:
        out = {
            "src": label,
            "depth": args.depth,
            "modules": [name(m) for m in nodes],
            "edges": [
                {"from": name(a), "to": name(b), "refs": [ref_json(r) for r in edges[(a, b)]]}
                for a, b in sorted(edges, key=lambda e: (name(e[0]), name(e[1])))
            ],
            "cycles": [
                {
                    "modules": [name(m) for m in comp],
                    "edges": [
                        {
                            "from": name(a),
                            "to": name(b),
                            "count": len(edges[(a, b)]),
                            "example": ref_json(edges[(a, b)][0]),
                        }
                        for a, b in inner
                    ],
                    "simple_cycles": [[name(m) for m in c] for c in simple],
                }
                for comp, inner, simple in cycles
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        print(f"{label}, depth {args.depth}: {len(nodes)} modules, {len(edges)} edges, {len(cycles)} cycle(s)")
        if not args.quiet:
            print("\nedges:")
            for a, b in sorted(edges, key=lambda e: (name(e[0]), name(e[1]))):
                first = edges[(a, b)][0]
                print(f"  {name(a)} -> {name(b)}  ({len(edges[(a, b)])}, e.g. {first.file}:{first.line})")
        for k, (comp, inner, simple) in enumerate(cycles, 1):
            print(f"\ncycle {k}: {', '.join(name(m) for m in comp)}")
            for c in simple:
                print(f"  e.g. {' -> '.join(name(m) for m in [*c, c[0]])}")
            for a, b in inner:
                first = edges[(a, b)][0]
                print(f"  {name(a)} -> {name(b)}  ({len(edges[(a, b)])} refs)  {first.file}:{first.line}  {first.path}")
        if not cycles:
            print("\nno cycles")
    return 1 if args.check and cycles else 0


if __name__ == "__main__":
    sys.exit(main())
