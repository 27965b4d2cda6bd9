"""Builds the optional compiled core (dedup/_core.c). Everything else is in pyproject.toml.

A machine without a C compiler still installs dedup: the build of the extension is allowed to
fail, with one line saying so, and dedup then runs its Python reference path (see
dedup/compiled.py).
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the extension cannot be compiled."""

    def run(self):
        try:
            super().run()
        except Exception as error:  # no compiler, no Python headers
            self._skip(error)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as error:
            self._skip(error)

    def _skip(self, error):
        sys.stderr.write(f"dedup: the compiled core was not built ({error}); dedup will use the slower Python path\n")


setup(
    ext_modules=[Extension("dedup._core", ["dedup/_core.c"], extra_compile_args=["-O3", "-std=c99", "-Wall"])],
    cmdclass={"build_ext": OptionalBuildExt},
)
