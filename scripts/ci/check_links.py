"""Checks every relative link in README.md and docs/*.md (or the Markdown files given): the file
it names exists, and its #anchor is a heading (or an `<a id>`/`<a name>`) of the Markdown file
it points into. Anchors are made as GitHub makes them: the heading's text lowercased, its
Markdown (code ticks, emphasis, links) taken off, every character but letters, digits, `-`,
`_` and spaces dropped, spaces turned into `-`, and `-1`, `-2` ... added to repeats.
Links to web addresses (http:, https:, mailto:) are not followed. Code blocks and inline code
are skipped.

Usage: python scripts/ci/check_links.py [FILE.md ...]   (exit 1 and one line per dead link)
"""

import glob
import os
import re
import sys
import urllib.parse

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+[^>]*(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose_lines(path):
    """(line number, text) of each line outside fenced code blocks."""
    fenced = None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            fence = FENCE.match(line)
            if fence:
                if fenced is None:
                    fenced = fence.group(1)
                elif fence.group(1) == fenced:
                    fenced = None
                continue
            if fenced is None:
                yield number, line.rstrip("\n")


def slug(heading):
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


def anchors(path, cache={}):  # noqa: B006 (a cache on purpose: each file is read once)
    if path not in cache:
        found, seen = set(), {}
        for _, line in prose_lines(path):
            found.update(HTML_ANCHOR.findall(line))
            heading = HEADING.match(line)
            if heading:
                base = slug(heading.group(2))
                count = seen.get(base, 0)
                seen[base] = count + 1
                found.add(base if count == 0 else f"{base}-{count}")
        cache[path] = found
    return cache[path]


def paragraphs(path):
    """(first line number, lines) of each run of non-blank prose lines: a link's text may wrap."""
    start, block, last = None, [], None
    for number, line in prose_lines(path):
        if line.strip() and (last is None or number == last + 1):
            start = number if not block else start
            block.append(line)
        else:
            if block:
                yield start, block
            start, block = (number, [line]) if line.strip() else (None, [])
        last = number
    if block:
        yield start, block


def links(path):
    for start, block in paragraphs(path):
        prose = []
        for offset, line in enumerate(block):
            definition = REFERENCE_DEFINITION.match(line)
            if definition:
                yield start + offset, definition.group(1)
            else:
                prose.append((start + offset, INLINE_CODE.sub("", line)))
        text = "\n".join(line for _, line in prose)
        for match in INLINE_LINK.finditer(text):
            yield prose[text.count("\n", 0, match.start())][0], match.group(1)


def check(path):
    errors = []
    where = os.path.relpath(path, ROOT)
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        file_part = urllib.parse.unquote(file_part)
        if file_part:
            if file_part.startswith("/"):
                goal = os.path.join(ROOT, file_part.lstrip("/"))
            else:
                goal = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
            if not os.path.exists(goal):
                errors.append(f"{where}:{number}: {target}: no such file")
                continue
        else:
            goal = path
        if anchor and goal.endswith(".md") and os.path.isfile(goal):
            if urllib.parse.unquote(anchor).lower() not in anchors(goal):
                errors.append(f"{where}:{number}: {target}: no heading #{anchor} in {os.path.relpath(goal, ROOT)}")
    return errors


def main():
    files = sys.argv[1:] or [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
    errors, count = [], 0
    for path in files:
        path = os.path.abspath(path)
        count += sum(1 for _ in links(path))
        errors += check(path)
    for error in errors:
        print(f"dead link: {error}", file=sys.stderr)
    print(f"links: {len(files)} files, {count} links, {len(errors)} dead")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
