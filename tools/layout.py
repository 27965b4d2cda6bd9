"""The package layout of ``dedup/`` (issue 16): which folder each module lives in, and a rewrite
of imports to match it.

``python tools/layout.py --check`` lists modules that are not where LAYOUT puts them;
``python tools/layout.py --move`` moves them with ``git mv`` and rewrites every import in
dedup/, tests/, bench/ and tools/ (relative imports inside the package, ``dedup.x`` elsewhere).
Run it again after merging a branch written against the flat layout: it only rewrites names
that no longer resolve.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dedup"

# module -> the sub-package it lives in ("" = the top of dedup/)
LAYOUT = {
    "sources": ["corpus", "selection", "records", "webpage", "tabular", "dispatch"],
    "text": ["paragraphs", "normalize", "fingerprint"],
    "match": ["signatures", "lsh", "verify", "cluster", "canonical", "boilerplate", "passages"],
    "engines": ["local", "update", "spark", "memory"],
    "store": ["writer", "keystore", "index", "lookup", "summary", "import_parquet"],
    "apps": ["cli", "service", "filter", "clean", "export", "report", "charts", "console", "diffview"],
}
# modules whose name changes with the move (old flat name -> new name)
RENAMED = {"sources": "dispatch", "spark_engine": "spark", "store": "writer"}


def location() -> dict[str, str]:
    """Old flat module name -> dotted path below dedup (``engines.local``)."""
    where = {}
    for folder, names in LAYOUT.items():
        for name in names:
            where[name] = f"{folder}.{name}"
    for old, new in RENAMED.items():
        where[old] = where[new]
    return where


def exists(dotted: str) -> bool:
    """Is ``dedup.<dotted>`` a module or package in the tree now?"""
    path = PACKAGE.joinpath(*dotted.split(".")) if dotted else PACKAGE
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists() or path.with_suffix(".c").exists()


def resolve(dotted: str, where: dict[str, str]) -> str:
    """The current dotted path of a module named by the flat layout (or already by the new one).

    A flat name that is now also a package (``sources``, ``store``) means the flat module unless
    it names a module inside that package."""
    head, _, rest = dotted.partition(".")
    if head not in where or where[head] == dotted:
        return dotted
    if head in LAYOUT and rest and exists(dotted):
        return dotted
    if head not in LAYOUT and exists(dotted):
        return dotted
    return where[head] + (f".{rest}" if rest else "")


def renamed_item(item: str, module: str, leaf: str) -> str:
    """An imported name ``item`` ("x" or "x as y") of module ``module``, now named ``leaf``,
    keeping the name the importing code uses."""
    if leaf == module:
        return item
    if " as " in item:
        return f"{leaf} as {item.split(' as ')[1].strip()}"
    return f"{leaf} as {module}"


def relative(from_package: str, target: str) -> str:
    """``target`` (dotted below dedup) as a relative import from a module in ``from_package``."""
    here = from_package.split(".") if from_package else []
    there = target.split(".") if target else []
    common = 0
    while common < len(here) and common < len(there) and here[common] == there[common]:
        common += 1
    dots = "." * (len(here) - common + 1)
    return dots + ".".join(there[common:])


FROM_RE = re.compile(r"^(\s*)from (\.+)([\w.]*) import (.+)$")


def absolute(package: str, dots: str, name: str) -> str:
    parts = package.split(".") if package else []
    up = len(dots) - 1
    base = parts[: len(parts) - up] if up else parts
    return ".".join(base + ([name] if name else [])).strip(".")


def rewrite_package_file(path: Path, where: dict[str, str]) -> str:
    """The text of a module inside dedup/ with its relative imports pointing at the layout."""
    package = ".".join(path.relative_to(PACKAGE).parent.parts)
    out = []
    for line in path.read_text().splitlines(keepends=True):
        m = FROM_RE.match(line.rstrip("\n"))
        if not m:
            out.append(line)
            continue
        indent, dots, name, names = m.groups()
        target = absolute(package, dots, name)
        modules = [n.split(" as ")[0].strip() for n in names.strip("() ").split(",")]
        if target in LAYOUT and all(exists(f"{target}.{n}") for n in modules):
            out.append(line)  # "from ..store import keystore": the package, already in the layout
            continue
        if name:
            # not found where it points: written for the flat layout, where "." was the top
            # (a flat module that is now a package, like ``store``, means its flat module)
            new = target if exists(target) and target.split(".")[0] not in RENAMED else resolve(name if not exists(target) else target, where)
            out.append(f"{indent}from {relative(package, new)} import {names}\n")
            continue
        # "from . import a, b as c": each name is a module (or a name of that package)
        if names.strip().startswith("("):
            out.append(line)
            continue
        groups: dict[str, list[str]] = {}
        for item in names.split(","):
            item = item.strip()
            module = item.split(" as ")[0].strip()
            if exists(f"{target}.{module}".strip(".")) or (target == "" and module not in where):
                groups.setdefault(target, []).append(item)
            elif module in where:
                parent, _, leaf = resolve(module, where).rpartition(".")
                groups.setdefault(parent, []).append(renamed_item(item, module, leaf))
            else:  # a top-level module or a name of dedup/__init__, seen from the flat layout
                groups.setdefault("", []).append(item)
        for parent, items in groups.items():
            out.append(f"{indent}from {relative(package, parent)} import {', '.join(items)}\n")
    return "".join(out)


def rewrite_outside_file(path: Path, where: dict[str, str]) -> str:
    """The text of a file outside the package with ``dedup.<old>`` names pointing at the layout."""
    text = path.read_text()

    text = re.sub(r"(?<![\w/])dedup\.([a-z_][\w]*(?:\.[a-z_]\w*)*)", lambda m: _fix_dotted(m, where), text)

    def from_import(m: re.Match) -> str:
        indent, names = m.group(1), m.group(2)
        if names.strip().startswith("("):
            return m.group(0)
        groups: dict[str, list[str]] = {}
        for item in names.split(","):
            item = item.strip()
            module = item.split(" as ")[0].strip()
            if module in where and resolve(module, where) != module:
                parent, _, leaf = resolve(module, where).rpartition(".")
                groups.setdefault("dedup." + parent, []).append(renamed_item(item, module, leaf))
            else:
                groups.setdefault("dedup", []).append(item)
        return "\n".join(f"{indent}from {p} import {', '.join(i)}" for p, i in groups.items())

    return re.sub(r"(?m)^(\s*)from dedup import (.+)$", from_import, text)


def _fix_dotted(m: re.Match, where: dict[str, str]) -> str:
    following = m.string[m.end() :]
    imported = re.match(r" import (\w+)", following)
    if m.group(1) in LAYOUT and imported and exists(f"{m.group(1)}.{imported.group(1)}"):
        return m.group(0)  # "from dedup.store import keystore": the package, already in the layout
    new = resolve(m.group(1), where)
    return m.group(0) if new == m.group(1) else "dedup." + new


def misplaced(where: dict[str, str]) -> list[tuple[Path, Path]]:
    """(current path, layout path) of every flat module the layout moves."""
    moves = []
    for old, new in where.items():
        src = PACKAGE / f"{old}.py"
        dst = PACKAGE.joinpath(*new.split(".")).with_suffix(".py")
        if src.exists() and src != dst:
            moves.append((src, dst))
    return moves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--move", action="store_true")
    args = parser.parse_args()
    where = location()
    moves = misplaced(where)
    if args.check or not args.move:
        for src, dst in moves:
            print(f"{src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
        return 1 if moves else 0
    for folder in LAYOUT:
        (PACKAGE / folder).mkdir(exist_ok=True)
        init = PACKAGE / folder / "__init__.py"
        if not init.exists():
            init.write_text("")
            subprocess.run(["git", "add", str(init)], cwd=ROOT, check=True)
    for src, dst in moves:
        subprocess.run(["git", "mv", str(src), str(dst)], cwd=ROOT, check=True)
    for path in PACKAGE.rglob("*.py"):
        new = rewrite_package_file(path, where)
        if new != path.read_text():
            path.write_text(new)
    for folder in ("tests", "bench", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue
            new = rewrite_outside_file(path, where)
            if new != path.read_text():
                path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
