r"""Which files of a corpus folder a scan reads: the ``--include`` and ``--exclude`` globs.

A pattern is matched against a file's path relative to the corpus root, '/'-separated, and is
case-sensitive, as in rsync, git and ripgrep (suffixes are recognised case-blind, patterns are
not: ``--exclude '*.TXT'`` leaves ``a.txt`` in):

* ``*`` matches any run of characters but ``/``; ``?`` one character but ``/``; ``[abc]``,
  ``[a-z]`` and ``[!abc]`` one character of (not of) the set; ``\`` makes the next one literal.
* ``**`` as a whole part of the path matches any number of folders, none included:
  ``**/copyright``, ``docs/**/*.md``; ``drafts/**`` is everything below ``drafts``.
* A pattern without ``/`` matches the name of the file, or of a folder above it, at any depth:
  ``copyright``, ``*.txt``, ``drafts``. A pattern with a ``/`` matches from the root:
  ``docs/*.md`` matches ``docs/a.md``, not ``x/docs/a.md`` (``**/docs/*.md`` matches both); a
  leading ``/`` or ``./`` only anchors a pattern at the root.
* A pattern that matches a folder matches every file below it; a trailing ``/`` matches only
  folders (``build/``). An excluded folder is not even walked.

``--exclude`` wins over ``--include``. Without ``--include``, a file is read when its name does
not say it is something other than text (``corpus.reader_of``); with it, only the files an
include matches are read, but each of them whatever its suffix. Every pattern must match
something, so that a typo (or a pattern written as an absolute path) never passes silently:
an exclude must leave out a file or folder, an include match a file that no exclude leaves
out. ``Matcher.check`` names the first that did not.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import ConfigError, CorpusError

EXCLUDED = "excluded"  # an --exclude matches the file or a folder above it
NOT_INCLUDED = "not included"  # --include was given, and none matches the file
INCLUDED = "included"  # an --include matches it (and no --exclude)


class SelectionError(CorpusError):
    """An --include or --exclude pattern matches nothing in the corpus: option misuse (exit 2)."""


@dataclass(frozen=True)
class Glob:
    """One compiled pattern: ``file`` matches the paths of the files it selects (itself or
    below a folder it matches), ``folder`` the paths of the folders it matches."""

    option: str  # "--include" or "--exclude"
    pattern: str
    file: re.Pattern
    folder: re.Pattern

    def __str__(self) -> str:
        return f"{self.option} {self.pattern!r}"


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str, option: str = "--include") -> Glob:
    """The ``Glob`` of a pattern; raises ``ConfigError`` for one that can match no path.

        >>> g = compile_glob("copyright")
        >>> [bool(g.file.fullmatch(p)) for p in ("copyright", "bash/copyright", "bash/copyright.txt")]
        [True, True, False]
        >>> g = compile_glob("docs/**/*.md")
        >>> [bool(g.file.fullmatch(p)) for p in ("docs/a.md", "docs/x/y/a.md", "x/docs/a.md")]
        [True, True, False]
        >>> g = compile_glob("drafts/")
        >>> [bool(g.file.fullmatch(p)) for p in ("drafts", "drafts/a.txt", "x/drafts/b/c.txt")]
        [False, True, True]
        >>> compile_glob("a//b")
        Traceback (most recent call last):
        ...
        dedup.errors.ConfigError: --include 'a//b' has an empty part between two slashes; write a/b, or a/**/b for any folders between
    """
    shown = f"{option} {pattern!r}"
    folders_only = pattern.endswith("/")
    anchored = pattern.startswith(("/", "./"))
    body = pattern.removeprefix("./").strip("/")
    if not body:
        raise ConfigError(f"{shown} matches no path; give a file name such as 'copyright', or a pattern such as '**/*.txt'")
    parts = body.split("/")
    if "" in parts:
        raise ConfigError(f"{shown} has an empty part between two slashes; write a/b, or a/**/b for any folders between")
    regex = "(?:.*/)?" if len(parts) == 1 and not anchored else ""  # a name, in any folder
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _part(part) + ("" if last else "/")
    try:
        return Glob(option, pattern, re.compile(regex + ("/.*" if folders_only else "(?:/.*)?"), re.S), re.compile(regex, re.S))
    except re.error as error:  # a character class such as [z-a]
        raise ConfigError(f"{shown} is not a valid pattern ({error.msg}); see dedup scan --help") from None


def _part(part: str) -> str:
    """The regex of one part of a pattern (no '/' in it).

        >>> _part("*.tx?"), _part("[!a-c]x"), _part("a[b"), _part(r"\\*")
        ('[^/]*\\\\.tx[^/]', '(?!/)[^a-c]x', 'a\\\\[b', '\\\\*')
    """
    out, i, n = [], 0, len(part)
    while i < n:
        char = part[i]
        i += 1
        if char == "*":
            while i < n and part[i] == "*":  # "a**b" is "a*b", as in git
                i += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i < n:
            out.append(re.escape(part[i]))
            i += 1
        elif char == "[":
            end = i + (part[i : i + 1] in ("!", "^"))
            end += part[end : end + 1] == "]"  # a "]" first in the set is one of its characters
            end = part.find("]", end)
            if end < 0:  # no closing bracket: a literal "["
                out.append(re.escape(char))
                continue
            body, i = part[i:end], end + 1
            negate = body[:1] in ("!", "^")
            body = re.sub(r"([\\\[&~|^])", r"\\\1", body[1:] if negate else body)
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


@dataclass(frozen=True)
class Selection:
    """The ``--include`` and ``--exclude`` patterns of a scan; validated on creation."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pattern in self.include:
            compile_glob(pattern, "--include")
        for pattern in self.exclude:
            compile_glob(pattern, "--exclude")

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def matcher(self) -> Matcher:
        return Matcher(self)

    def describe(self) -> str:
        """The options as a command line gives them: ``--include 'a' --exclude 'b'``."""
        return " ".join(str(g) for g in self.matcher().globs)


class Matcher:
    """A ``Selection`` applied along one walk of a corpus: what each pattern matched, so that
    one that matched nothing can be named."""

    def __init__(self, selection: Selection):
        self.include = [compile_glob(p, "--include") for p in selection.include]
        self.exclude = [compile_glob(p, "--exclude") for p in selection.exclude]
        self.globs = self.exclude + self.include
        self.hits: set[Glob] = set()
        self.left_out = 0  # files the patterns left out
        self.pruned = 0  # folders an --exclude left out, unwalked

    def prunes(self, folder: str) -> bool:
        """Does an --exclude leave out the folder at this relative path (and all below it)?"""
        hit = [g for g in self.exclude if g.folder.fullmatch(folder)]
        self.hits.update(hit)
        self.pruned += bool(hit)
        return bool(hit)

    def verdict(self, path: str) -> str | None:
        """``EXCLUDED``, ``NOT_INCLUDED``, ``INCLUDED``, or None (no pattern has a say) for the
        file at this relative path. Every pattern that has not matched yet is tried, so that
        two patterns matching the same files are both seen to match."""
        if not self.globs:
            return None
        excluded = self._match(self.exclude, path)
        if excluded:
            self.left_out += 1
            return EXCLUDED
        if not self.include:
            return None
        if self._match(self.include, path):
            return INCLUDED
        self.left_out += 1
        return NOT_INCLUDED

    def _match(self, globs: list[Glob], path: str) -> bool:
        found = False
        for g in globs:
            if (not found or g not in self.hits) and g.file.fullmatch(path):
                found = True
                self.hits.add(g)
        return found

    def left_out_summary(self) -> str:
        """What the patterns left out, for a message: '3 files', '2 files and 1 folder'."""
        counts = [(self.left_out, "file"), (self.pruned, "folder")]
        return " and ".join(f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in counts if n)

    def check(self, where: str) -> None:
        """Raise ``SelectionError`` naming the first pattern (excludes first) that matched
        nothing along the walk of ``where``, the corpus as a message shows it."""
        glob = next((g for g in self.globs if g not in self.hits), None)
        if glob is None:
            return
        include = glob.option == "--include"
        also = " that --exclude leaves in" if include and self.exclude else ""
        raise SelectionError(
            f"{glob} matches {'no file' if include else 'nothing'} in {where}{also}; patterns match the path below it: "
            "'copyright' a name in any folder, 'docs/*.md' from the top, '**' any folders"
        )
