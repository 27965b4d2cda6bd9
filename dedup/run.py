"""What a run is, whichever engine runs it: its stages, clock, skips, counts and runs row.

The local scan (engines/local.py), the update (engines/update.py) and the Spark engine
(engines/spark.py) each carry out the stages of DESIGN.md's data flow their own way: workers on
this machine, a change to a stored scan, or a cluster. What they must agree on is defined here
once: the stage names that ``runs.timings`` holds, which bad files stop a run and which are
skipped, the counts every run reports, and the row that records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import __version__
from .config import ScanConfig
from .errors import CorpusError
from .sources.corpus import BinaryFileError, CorpusFileError, Skipped
from .timing import Timer, now

# the stages of the data flow, in order, as ``runs.timings`` names them (an engine that folds
# one into another, as the reading workers fold "sign" into "read", reports it as ~0 s)
STAGES = ("read", "sign", "candidates", "verify", "cluster", "store", "passages")  # passages: aligned from the stored members
# steps an engine times besides: the update's reading back of the stored keys ("load"), the
# Spark engine's connected components and expansion of key clusters to paragraphs
ENGINE_STEPS = ("load", "components", "expand")

# what every run reports in ``runs.counts`` (an update adds what it changed)
COUNTS = (
    "documents", "clusters", "boilerplate_clusters", "passages", "duplicate_paragraphs", "chars", "duplicate_chars", "paragraphs",
    "empty_paragraphs", "distinct_keys", "signed_keys", "candidate_pairs", "lsh_pairs", "verified_edges", "bands", "rows",
)  # fmt: skip


class Stages(Protocol):
    """An engine's way of carrying out the stages: one method a name of ``STAGES`` (and of any
    ``ENGINE_STEPS`` it lists in ``steps``), each taking what the one before left on the object,
    and ``counts``, the run's figures once the last has run."""

    steps: tuple[str, ...]

    def counts(self) -> dict[str, int]: ...


@dataclass
class Run:
    """One run in progress: when it started, its stage clock, and the files and records it skipped.

    ``skip_bad`` lets a bad file or record be skipped with a warning instead of stopping the run
    (a binary file is always skipped); ``on_skip`` hears of every skip as it happens.
    """

    skip_bad: bool = False
    on_skip: Callable[[Skipped], None] | None = None
    started: str = field(default_factory=now)
    timer: Timer = field(default_factory=Timer)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, item: Skipped) -> None:
        """Record a skipped file or record (and tell ``on_skip``)."""
        self.skipped.append(item)
        if self.on_skip:
            self.on_skip(item)

    def skip_or_raise(self, error: CorpusFileError) -> None:
        """Skip a bad file or record when the run may (binary files always), else stop with it."""
        if not self.skip_bad and not isinstance(error, BinaryFileError):
            raise error
        self.skip(Skipped(error.path, error.reason))

    @property
    def on_listing_error(self) -> Callable[[Skipped], None] | None:
        """What listing the corpus calls for an unreadable entry: skip it, or (None) stop."""
        return self.skip if self.skip_bad else None

    def execute(self, engine: Stages) -> dict[str, int]:
        """Run ``engine``'s stages in order, each timed under its name; return its counts,
        checked to be a run's (``scan_counts``)."""
        steps = engine.steps
        if [s for s in steps if s in STAGES] != list(STAGES) or not set(steps) <= set(STAGES) | set(ENGINE_STEPS):
            raise ValueError(f"an engine's steps must be {STAGES} in order, with only {ENGINE_STEPS} besides: {steps}")
        for name in steps:
            with self.timer.stage(name):
                getattr(engine, name)()
        return scan_counts(**engine.counts())

    def row(self, run_id: int, root: str, config: ScanConfig, counts: dict) -> dict:
        """The runs row of this run, ending now."""
        return {
            "id": run_id,
            "root": root,
            "config": config.to_json(),
            "version": __version__,
            "started": self.started,
            "finished": now(),
            "counts": counts,
            "timings": self.timer.timings,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


def scan_counts(**values: int) -> dict[str, int]:
    """The counts of a run, checked to be exactly ``COUNTS`` (plus ``files``, ``skipped``,
    ``bytes`` and an update's own), so no engine reports a different set."""
    missing = [name for name in COUNTS if name not in values]
    if missing:
        raise ValueError(f"a run's counts lack {', '.join(missing)}")
    return {name: int(value) for name, value in values.items()}


def no_readable_documents(root: object) -> CorpusError:
    """The error of a run whose every file or record was skipped."""
    return CorpusError(f"no readable documents in {root}: every file or record was skipped (see the warnings above)")
