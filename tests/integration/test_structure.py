"""The package's structure stays as issue 16 left it: no import cycle, no private name imported
across modules (``tools/structure.py`` counts them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_cycle_and_no_private_import_across_modules():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "structure.py")], capture_output=True, text=True, timeout=120).stdout
    assert "import cycles: 0\n" in out, out
    assert "private names imported across modules: 0\n" in out, out


def test_the_checker_sees_a_cycle_and_a_private_import(tmp_path):
    package = tmp_path / "dedup"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import _hidden\n")
    (package / "b.py").write_text("from . import a\n_hidden = 1\n")
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "structure.py"), "--root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "import cycles: 1\n" in out.stdout and "dedup.a <-> dedup.b" in out.stdout
    assert "dedup.a imports dedup.b._hidden" in out.stdout
