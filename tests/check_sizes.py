#!/usr/bin/env python3
"""Size limits of the code (run by ctest, test `sizes`): prints the largest files and classes of src/
and fails when a file in a checked room has more than MAX_LINES lines (generated tables exempt:
*.inc, *_gen.*) or a class there has more than MAX_MEMBERS members (data members and member
functions; nested types count one each; constructors, the destructor and deleted or defaulted
members do not count). KNOWN lists the classes over the limit that are still to be split: they are
printed, and fail once they are within it (then drop them from KNOWN).

usage: check_sizes.py [--root REPO] [--top N] [ROOM...]   (default rooms: prune persist)
Members are counted by a light parse (declarations at the class body's top level), good for this
code base's style (one declaration per statement), not for C++ in general.
"""
import argparse
import os
import re
import sys

MAX_LINES = 500
MAX_MEMBERS = 12
EXEMPT = re.compile(r"(\.inc$|_gen\.)")
KNOWN = {}


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\])*'", "''", text)


def special(cls, stmt):
    """A constructor, the destructor, or a deleted / defaulted member."""
    s = re.sub(r"\s+", " ", stmt).strip()
    s = re.sub(r"^(explicit|virtual|constexpr|inline) ", "", s)
    return bool(re.match(rf"~?{cls} ?\(", s) or re.search(r"= ?(delete|default)$", s))


def classes(path):
    """(name, members, line) of every class defined in the file."""
    raw = open(path, encoding="utf-8", errors="replace").read()
    text = strip(raw)
    out = []
    for m in re.finditer(r"\bclass\s+(\w+)\s*(final\s*)?(:[^;{]*)?\{", text):
        name, i, depth, members, stmt = m.group(1), m.end(), 1, 0, ""
        while i < len(text) and depth > 0:
            c = text[i]
            if c == "{":
                if depth == 1 and stmt.strip() and stmt != "<counted>":
                    if not special(name, stmt):
                        members += 1  # a function body, a nested type or a brace initialiser opens here
                    stmt = "<counted>"
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 1:
                    pass
            elif c == ";" and depth == 1:
                s = stmt.strip()
                if s and s != "<counted>" and not re.match(r"(using|friend|static_assert)\b", s) and not special(name, s):
                    members += 1
                stmt = ""
            elif depth == 1:
                if c == ":" and re.fullmatch(r"\s*(public|private|protected)\s*", stmt):
                    stmt = ""
                else:
                    stmt += c
            i += 1
        out.append((name, members, text.count("\n", 0, m.start()) + 1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("rooms", nargs="*", default=["prune", "persist"])
    a = ap.parse_args()
    src = os.path.join(os.path.abspath(a.root), "src")
    files, klasses = [], []
    for d, _, names in os.walk(src):
        for n in names:
            if not re.search(r"\.(h|cpp|cu|cuh|inc)$", n):
                continue
            p = os.path.join(d, n)
            rel = os.path.relpath(p, src)
            files.append((sum(1 for _ in open(p, encoding="utf-8", errors="replace")), rel))
            if n.endswith((".h", ".cpp", ".cu", ".cuh")):
                klasses += [(k, name, f"{rel}:{line}") for name, k, line in classes(p)]
    files.sort(reverse=True)
    klasses.sort(reverse=True)
    print(f"largest files of src/ (limit {MAX_LINES} lines in {', '.join(a.rooms)}; generated tables exempt):")
    for n, rel in files[: a.top]:
        print(f"  {n:6d}  {rel}")
    print(f"largest classes of src/ (limit {MAX_MEMBERS} members in {', '.join(a.rooms)}):")
    for k, name, where in klasses[: a.top]:
        print(f"  {k:6d}  {name}  ({where})")
    checked = lambda rel: rel.split(os.sep)[0] in a.rooms
    bad = [f"{rel}: {n} lines" for n, rel in files if checked(rel) and n > MAX_LINES and not EXEMPT.search(rel)]
    over = [(k, name, where) for k, name, where in klasses if checked(where) and k > MAX_MEMBERS]
    bad += [f"{where}: class {name} has {k} members" for k, name, where in over if name not in KNOWN]
    for k, name, where in over:
        if name in KNOWN:
            print(f"over the limit, known: {where}: class {name} has {k} members ({KNOWN[name]})")
    bad += [f"class {name} is within the limit now: drop it from KNOWN" for name in KNOWN
            if not any(n == name and k > MAX_MEMBERS for k, n, _ in klasses)]
    for b in bad:
        print("over the limit:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
