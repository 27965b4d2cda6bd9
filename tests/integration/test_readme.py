"""README.md stays true: its scan options block is the real --help output."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


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


def test_readme_show_examples_are_real_output(tmp_path):
    """Every `$ dedup show dedup.db ...` example prints what the README says, on the seeds (lines
    ending in "…" were cut for the README: their start must match)."""
    import shlex

    from click.testing import CliRunner

    from helpers import SEEDS, scanned_seeds
    from dedup.apps.cli import cli

    _, db = scanned_seeds(tmp_path, sorted(SEEDS.glob("*.txt")))
    text = README.read_text(encoding="utf-8")
    examples = re.findall(r"^\$ (dedup show dedup\.db [^\n]*)\n(.*?)(?=^\$ |^```)", text, flags=re.S | re.M)
    assert len(examples) >= 3, "README.md lost its `dedup show` examples"
    for command, expected in examples:
        args = shlex.split(command)[1:]
        args[1] = str(db)
        result = CliRunner().invoke(cli, args)
        real = (result.stdout + result.stderr).splitlines()
        position = 0
        for line in expected.rstrip("\n").splitlines():
            if line.strip() == "...":
                continue
            want = line.removesuffix("…")
            found = next((i for i in range(position, len(real)) if real[i].startswith(want)), None)
            assert found is not None, f"{command}: README line not in the real output, in order:\n{line}"
            position = found + 1


def test_readme_version_block_is_real_output():
    """The README shows a machine with the compiled core (test_core checks it is built wherever
    a C compiler is)."""
    from dedup import compiled

    if compiled._core is None:
        import pytest

        pytest.skip("the compiled core is not built here: the README shows a machine where it is")
    text = README.read_text(encoding="utf-8")
    block = re.search(r"\$ dedup --version\n(.*?)\n```", text, flags=re.S)
    assert block, "README.md lost its `dedup --version` example"
    env = {k: v for k, v in os.environ.items() if k != "DEDUP_CORE"}
    output = subprocess.run([sys.executable, "-m", "dedup", "--version"], capture_output=True, text=True, env=env, check=True).stdout
    assert block.group(1) == output.rstrip()
