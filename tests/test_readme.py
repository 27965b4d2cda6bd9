"""README.md stays true: its scan options block is the real --help output."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_scan_options_match_the_help():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Usage: dedup scan \[OPTIONS\] CORPUS\n\n(Options:.*?)\n```", text, flags=re.S)
    assert block, "README.md lost its `dedup scan --help` block"
    env = {**os.environ, "COLUMNS": "80"}
    output = subprocess.run(
        [sys.executable, "-m", "dedup", "scan", "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    help_options = output[output.index("Options:") :].rstrip().split("\n")
    expected = "\n".join(line for line in help_options if not line.startswith("  --help"))
    assert block.group(1) == expected


def test_readme_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
