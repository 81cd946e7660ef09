#!/usr/bin/env bash
# Every relative Markdown link in README.md, docs/*.md and docs/results/*.md resolves: the file exists and a
# #fragment names a heading of the target (GitHub's anchors). Links in code spans and blocks are not links.
#   tests/check_doc_links.sh [REPO_ROOT]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
python3 - README.md docs/*.md docs/results/*.md <<'PY'
import os, re, sys

def strip_code(text):
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    text = re.sub(r"^(    |\t).*$", "", text, flags=re.M)
    return re.sub(r"`[^`\n]*`", "", text)

def anchors(path):
    out, seen = set(), {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out

bad = 0
for src in sys.argv[1:]:
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", strip_code(open(src, encoding="utf-8").read())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        path, _, frag = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(src), path)) if path else src
        if not os.path.exists(full):
            print(f"{src}: broken link {target} (no {full})")
            bad += 1
        elif frag and full.endswith(".md") and frag not in anchors(full):
            print(f"{src}: broken link {target} (no heading #{frag} in {full})")
            bad += 1
print(f"check_doc_links: {len(sys.argv) - 1} files, {bad} broken link(s)")
sys.exit(1 if bad else 0)
PY
