"""Structural facts of the dedup package: import cycles, private names imported across modules,
and the longest functions.

    python tools/structure.py [--max-lines 80]

Exit status 1 when a cycle or a cross-module private import exists, or a function is longer than
--max-lines (data tables apart: a function whose body is one literal is not counted).
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "dedup"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(module: str, level: int, name: str | None, is_package: bool) -> str:
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def scan(root: Path):
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        modules[module_name(path, root)] = path
    imports: dict[str, set[str]] = defaultdict(set)
    private: list[tuple[str, str, str]] = []
    long_functions: list[tuple[int, str]] = []
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(mod, node.level, node.module, is_package)
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    dest = sub if sub in modules else target
                    if dest in modules and dest != mod:
                        imports[mod].add(dest)
                    compiled_extension = (root / PACKAGE / f"{alias.name}.c").exists()  # the C core: private by name, a module of its own
                    if alias.name.startswith("_") and not alias.name.startswith("__") and not compiled_extension and dest in modules and dest != mod:
                        private.append((mod, dest, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.name != mod:
                        imports[mod].add(alias.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if len(body) == 1 or (len(body) == 2 and isinstance(body[0], ast.Expr)):
                    last = body[-1]
                    if isinstance(last, ast.Return) and isinstance(last.value, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
                        continue
                lines = node.end_lineno - node.lineno + 1
                long_functions.append((lines, f"{path.relative_to(root)}:{node.lineno} {node.name}"))
    return modules, imports, private, sorted(long_functions, reverse=True)


def cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(imports.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(set(imports) | {w for ws in imports.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-lines", type=int, default=80)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    modules, imports, private, functions = scan(args.root)
    found = cycles(imports)
    print(f"{len(modules)} modules")
    print(f"import cycles: {len(found)}")
    for c in found:
        print("   ", " <-> ".join(c))
    print(f"private names imported across modules: {len(private)}")
    for mod, dest, name in private:
        print(f"    {mod} imports {dest}.{name}")
    over = [f for f in functions if f[0] > args.max_lines]
    print(f"functions over {args.max_lines} lines: {len(over)}")
    for lines, where in over:
        print(f"    {lines:4d}  {where}")
    print("longest:", ", ".join(f"{where} ({lines})" for lines, where in functions[:3]))
    return 1 if found or private or over else 0


if __name__ == "__main__":
    sys.exit(main())
