"""The ``dedup`` command: parses options, calls the library, formats what it returns.

Errors from the library (``DedupError``) become ``Error: <message>`` with exit code 1; option
misuse exits 2 with click's usage line. Progress bars go to stderr only when it is a terminal.
A full disk is a ``WriteError`` like any other (see errors.writing); ``main`` also turns one
that no write path named (stdout flushed at the end) into one line.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click

from .. import __version__
from ..match.canonical import POLICIES
from ..config import SPLIT_MODES, ScanConfig
from ..errors import ConfigError, DedupError, WriteError, space_problem, writing
from ..text.normalize import DEFAULT_STEPS, STEPS
from ..store.writer import InterruptedAfterSaving, open_existing
from ..store.summary import Summary, cluster_detail, summarize

SNIPPET = 28  # characters of a canonical shown in the summary
SWITCH_INTERVAL = 0.001  # seconds a thread holds the interpreter lock before others may take it, in `dedup serve`


class UserError(click.ClickException):
    """A library error as the user sees it: ``Error: <message>``, exit 1, on one line whatever
    it quotes (a file name may hold a line break: the fuzzing found one split in two)."""

    def __init__(self, message: str):
        from ..sources.corpus import shown

        super().__init__(shown(message))


def _snippet(text: str, width: int = SNIPPET) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _lines(span: tuple[int, int]) -> str:
    return f"{span[0]}-{span[1]}" if span[0] != span[1] else str(span[0])


def format_summary(s: Summary, db_path: str) -> str:
    """The end-of-scan report, also printed by ``dedup stats``."""
    pct = lambda part, whole: f"{100 * part / whole:.1f}%" if whole else "0.0%"  # noqa: E731
    lines = [
        f"Scanned {s.root}",
        f"  documents             {s.documents:>10,}" + (f"   ({s.skipped} skipped)" if s.skipped else ""),
        f"  paragraphs            {s.paragraphs:>10,}",
        f"  clusters              {s.clusters:>10,}",
        f"  boilerplate clusters  {s.boilerplate_clusters:>10,}   {s.boilerplate_paragraphs:,} paragraphs of page furniture",
        f"  duplicate paragraphs  {s.duplicate_paragraphs:>10,}   {pct(s.duplicate_paragraphs, s.paragraphs)} of paragraphs",
        f"  duplicate characters  {s.duplicate_chars:>10,}   {pct(s.duplicate_chars, s.chars)} of {s.chars:,}",
        f"  time                  {s.seconds:>10.1f} s",
    ]
    lines.insert(4, f"  passages              {s.passages:>10,}   runs of paragraphs copied together")
    if s.top_passages:
        lines.append("Largest passages (paragraphs copied together):")
        lines.append("  passage  paragraphs  characters  source -> copy (lines)")
        for p in s.top_passages:
            lines.append(f"  P{p.passage_id:<7} {p.paragraphs:>10,}  {p.characters:>10,}  "
                         f"{p.source_path} {_lines(p.source_lines)} -> {p.copy_path} {_lines(p.copy_lines)}  {_snippet(p.text)}")
    if s.top:
        lines.append("Most reused blocks (boilerplate apart, by characters copied into other documents):")
        lines.append("  cluster  members  documents     copied  canonical")
        for t in s.top:
            flag = "  [boilerplate]" if t.boilerplate else ""
            lines.append(f"  #{t.cluster_id:<7} {t.size:>7,}  {t.n_documents:>9,}  {t.copied_chars:>9,}  {_snippet(t.text)}{flag}")
    lines.append(f"Details: dedup show {db_path} CLUSTER_ID" + (f"  |  dedup show {db_path} --passage ID" if s.top_passages else ""))
    return "\n".join(lines)


def _show_version(ctx, param, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    from ..compiled import core_name

    click.echo(f"dedup, version {__version__}\ncore: {core_name()}")
    ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and which core (compiled or Python) is in use, and exit.")
def cli() -> None:
    """Find near-duplicate paragraphs across a corpus and where every copy came from."""


def _validate_threshold(ctx, param, value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise click.BadParameter(f"{value} is outside (0, 1]; try 0.6")
    return value


def _normalization_options(command):
    """``--normalize LIST`` and one ``--no-STEP`` flag per normalization step."""
    for step in reversed(list(STEPS)):
        flag = "--no-" + step.replace("_", "-")
        command = click.option(flag, f"skip_{step}", is_flag=True, help=f"Leave out the {step} normalization step.")(command)
    return click.option(
        "--normalize",
        "normalize_list",
        default=None,
        metavar="STEPS",
        help=f"Comma-separated normalization steps (default: all of {','.join(DEFAULT_STEPS)}).",
    )(command)


def _steps(normalize_list: str | None, skips: dict) -> tuple[str, ...] | None:
    """The steps chosen by --normalize and --no-STEP, or None for the defaults."""
    chosen = list(DEFAULT_STEPS)
    if normalize_list is not None:
        chosen = [s.strip().replace("-", "_") for s in normalize_list.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in STEPS]
        if unknown:
            raise click.BadParameter(
                f"unknown step {unknown[0]!r}; known steps: {', '.join(STEPS)}", param_hint="'--normalize'"
            )
    chosen = [s for s in chosen if not skips.get(f"skip_{s}")]
    return None if normalize_list is None and not any(skips.values()) else tuple(chosen)


_MATCHING_OPTIONS = [
    click.option("--threshold", default=0.6, show_default=True, type=float, callback=_validate_threshold, help="Jaccard similarity of shingle sets at or above which two paragraphs are copies, in (0, 1]."),
    click.option("--shingle-size", default=None, type=click.IntRange(min=1), help="Characters per shingle.  [default: 3 for Han/kana/Hangul text, 5 for other scripts]"),
    click.option("--num-perm", default=128, show_default=True, type=click.IntRange(2, 1024), help="MinHash signature length."),
    click.option("--bands", type=click.IntRange(min=1), default=None, help="LSH bands (must divide --num-perm); default: chosen from the threshold."),
    click.option("--split", type=click.Choice(SPLIT_MODES), default="auto", show_default=True, help="Paragraphs: one per line, blank-line blocks, auto (hard-wrapped runs of lines joined, every other line on its own), or join (lines, rejoining lines cut mid-sentence)."),
    click.option("--min-chars", default=10, show_default=True, type=click.IntRange(min=0), help="Shorter normalized paragraphs are matched by exact fingerprint only."),
    click.option("--canonical", type=click.Choice(POLICIES), default="first", show_default=True, help="Which member of a cluster is its canonical source."),
    click.option("--containment", default=0.9, show_default=True, type=click.FloatRange(0, 1), help="Share of a shorter paragraph inside a longer one that makes it a partial copy; 0.1 less for a paragraph of 40 shingles or more (0: off)."),
    click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0), help="Workers for reading, normalizing and verifying: threads with the compiled core, processes on the Python path (0: one per core)."),
    click.option("--include", multiple=True, metavar="GLOB", help="Read only the files matching GLOB (repeatable), whatever their suffix (one without a reader is read if its start is text). GLOB matches the path below CORPUS, case-sensitive: * and ? stop at /, ** spans folders, a GLOB without / matches a file or folder name at any depth, one with / matches from the top; a folder matched covers all below it."),
    click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out the files matching GLOB (repeatable; as --include, and wins over it). A GLOB that matches nothing is an error."),
    click.option("--skip-bad", is_flag=True, help="Skip undecodable or unreadable files with a warning instead of stopping."),
    click.option("--text-field", default="text", show_default=True, help="JSONL, Parquet, CSV: the field (column) holding a record's text."),
    click.option("--id-field", default="id", show_default=True, help="JSONL, Parquet, CSV: the field holding a record's id (default when absent: FILE:LINE, FILE:ROW for Parquet)."),
    click.option("--date-field", default=None, help="JSONL, Parquet, CSV: the field holding a record's date (ISO 8601 or Unix time), for --canonical earliest."),
]


def _matching_options(command):
    """The options that make a ScanConfig (shared by scan and clean), and the normalization flags."""
    command = _normalization_options(command)
    for option in reversed(_MATCHING_OPTIONS):
        command = option(command)
    return command


def _config(options: dict) -> ScanConfig:
    """The ScanConfig of the matching options (removed from ``options``); misuse exits 2."""
    skips = {k: options.pop(k) for k in list(options) if k.startswith("skip_") and k != "skip_bad"}
    names = ("threshold", "shingle_size", "num_perm", "bands", "split", "min_chars", "canonical", "containment", "workers", "text_field", "id_field", "date_field", "include", "exclude")
    fields = {name: options.pop(name) for name in names}
    try:
        return ScanConfig(**fields, normalize=_steps(options.pop("normalize_list"), skips))
    except ConfigError as e:
        raise click.UsageError(str(e))


def _count(n: int, word: str) -> str:
    """'1 record', '2 records'."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _use_tmp_dir(ctx, param, value: Path | None) -> Path | None:
    if value is None or ctx.resilient_parsing:
        return value
    from ..atomic import use_tmp_dir

    try:
        return use_tmp_dir(value)
    except DedupError as e:
        raise click.BadParameter(str(e))


def _tmp_dir_option(command):
    """``--tmp-dir DIR``: where scratch files go (applied as it is parsed, before anything runs)."""
    return click.option(
        "--tmp-dir", type=click.Path(path_type=Path), metavar="DIR", default=None, expose_value=False, is_eager=True, callback=_use_tmp_dir,
        help="Folder for scratch files, deleted at the end (a scan's keys, the filter's index, SQLite's sorts); "
             "an output's temporary copy stays beside it.  [default: a scan's keys beside --db, the rest in TMPDIR or /tmp]",
    )(command)


def _user_error(e: DedupError) -> click.ClickException:
    """A library error at the CLI boundary: a pattern that matches nothing is option misuse
    (exit 2, with the usage line); any other is ``UserError`` (exit 1)."""
    from ..sources.corpus import shown
    from ..sources.selection import SelectionError

    return click.UsageError(shown(str(e))) if isinstance(e, SelectionError) else UserError(str(e))


def _warn(skipped) -> None:
    from ..sources.corpus import shown

    click.echo(f"warning: {shown(skipped.path)}: {skipped.reason}", err=True)


@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("--db", "db_path", default="dedup.db", show_default=True, type=click.Path(path_type=Path), help="SQLite file to write.")
@click.option("--force", is_flag=True, help="Replace a database that holds a scan of another corpus.")
@click.option("--full", is_flag=True, help="Scan everything again, even when --db holds a scan of CORPUS that could be updated.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no summary.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True, help="Run on this machine, or on Spark (pip install 'dedup[spark]').")
@click.option("--master", default=None, help="Spark master: local[N], spark://HOST:PORT, yarn...  [default: local[*]; --engine spark only]")
@click.option("--out", default=None, help="Write the Spark result as Parquet tables to this folder or URI (load them with import-parquet) instead of into --db.  [--engine spark only]")
@_tmp_dir_option
@_matching_options
def scan(corpus, db_path, force, full, quiet, engine, master, out, **options):
    """Scan every input file below CORPUS and write the cluster tables to --db.

    CORPUS is a folder or one file: text (.txt, .md), HTML (.html, .htm), JSON Lines
    (.jsonl, .jsonl.gz, one document a record), tables (.parquet, .csv, .tsv, one document
    a row) or web archives (.warc, .warc.gz, one document an HTML response); a file of any
    other name is read as text (or HTML) when its start is, unless its suffix says it is not
    (.png, .gz, .pdf, .json...; README.md lists them); "-" reads JSON Lines from stdin.
    Scanning the same corpus into the same database again, with the same options, updates
    it: only new and changed files are read, and cluster ids stay.
    """
    from ..pipeline import scan as run_scan

    config = _config(options)
    if str(corpus) == "-" and config.selection:
        raise click.UsageError("--include and --exclude choose files of a corpus folder; stdin has none")
    if engine == "spark":
        return _scan_spark(str(corpus), config, db_path, force, quiet, master, out, options["skip_bad"])
    for name, value in (("--master", master), ("--out", out)):
        if value is not None:
            raise click.UsageError(f"{name} is an option of the Spark engine; add --engine spark")
    show_progress = not quiet and sys.stderr.isatty()
    from ..compiled import warn_if_slow

    warn_if_slow()
    try:
        result = run_scan(corpus, config, db_path, force=force, skip_bad=options["skip_bad"], show_progress=show_progress, on_skip=_warn, full=full)
        if not quiet:
            if "files_read" in result.counts:
                c = result.counts
                click.echo(
                    f"Updated {db_path}: {_count(c['files_read'], 'file')} new or changed, {c['files_deleted']:,} deleted, "
                    f"{_count(c['changes'], 'cluster change')} (dedup scan --full to scan everything again)"
                )
            click.echo(format_summary(summarize(open_existing(db_path)), str(db_path)))
    except DedupError as e:
        raise _user_error(e)


def _scan_spark(corpus: str, config: ScanConfig, db_path: Path, force: bool, quiet: bool, master, out, skip_bad: bool) -> None:
    """``scan --engine spark``: Parquet tables to --out, or (without --out) loaded into --db."""
    import tempfile

    from ..store.import_parquet import import_parquet
    from ..engines.spark import scan_spark

    try:
        if out is not None:
            result = scan_spark(corpus, config, out, master=master, skip_bad=skip_bad, on_skip=_warn)
            if not quiet:
                c = result.counts
                click.echo(
                    f"Wrote {out}: {_count(c['documents'], 'document')}, {_count(c['paragraphs'], 'paragraph')}, "
                    f"{_count(c['clusters'], 'cluster')}; load it with: dedup import-parquet {out} --db DB"
                )
            return
        with tempfile.TemporaryDirectory(prefix="dedup-spark-") as tmp:
            scan_spark(corpus, config, Path(tmp) / "out", master=master, skip_bad=skip_bad, on_skip=_warn)
            import_parquet(Path(tmp) / "out", db_path, force=force)
        if not quiet:
            click.echo(format_summary(summarize(open_existing(db_path)), str(db_path)))
    except DedupError as e:
        raise _user_error(e)


@cli.command("import-parquet")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--db", "db_path", default="dedup.db", show_default=True, type=click.Path(path_type=Path), help="SQLite file to write.")
@click.option("--force", is_flag=True, help="Replace a database that holds a scan of another corpus.")
@click.option("-q", "--quiet", is_flag=True, help="No summary.")
@_tmp_dir_option
def import_parquet_command(out, db_path, force, quiet):
    """Load the Parquet tables of 'dedup scan --engine spark --out OUT' into --db, so that
    show, stats, export, clean and the service read them."""
    from ..store.import_parquet import import_parquet

    try:
        import_parquet(out, db_path, force=force)
        if not quiet:
            click.echo(format_summary(summarize(open_existing(db_path)), str(db_path)))
    except DedupError as e:
        raise UserError(str(e))


@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write the cleaned corpus to (empty, outside CORPUS).")
@click.option("--db", "db_path", default=None, type=click.Path(path_type=Path), help="Use this scan of CORPUS instead of scanning it first.")
@click.option("--keep", type=click.Choice(["canonical", "first"]), default="canonical", show_default=True, help="Which member of each cluster stays: its canonical, or its first in corpus order.")
@click.option("--mark", is_flag=True, help="Remove nothing: list the duplicates (and annotate JSONL records) instead.")
@click.option("--manifest", type=click.Path(path_type=Path), default=None, help="Where to write the manifest of duplicates.  [default: OUT/.dedup-manifest.jsonl]")
@click.option("--force", is_flag=True, help="Write into a non-empty --out folder, replacing files of the same name.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no report.")
@_tmp_dir_option
@_matching_options
def clean(corpus, out, db_path, keep, mark, manifest, force, quiet, **options):
    """Write CORPUS to --out without its duplicate paragraphs, and list what went.

    Text files lose the lines of every duplicate paragraph and keep every other byte; JSONL
    records and Parquet, CSV and TSV rows get their text field rewritten and are otherwise
    unchanged; HTML and WARC files are copied as they are. Without --db, CORPUS is scanned first with the options below.
    With --include or --exclude, only the files they select are written to --out.
    """
    import tempfile

    from .clean import check_output, clean_corpus
    from ..pipeline import scan as run_scan

    config = _config(options)
    try:
        check_output(corpus, out, force)
        with tempfile.TemporaryDirectory(prefix="dedup-clean-") as tmp:  # --tmp-dir, else TMPDIR or /tmp
            if db_path is None:
                db_path = Path(tmp) / "scan.db"
                show_progress = not quiet and sys.stderr.isatty()
                try:
                    run_scan(corpus, config, db_path, skip_bad=options["skip_bad"], show_progress=show_progress, on_skip=_warn)
                except WriteError as e:  # the scan's database is scratch here
                    raise WriteError(e.path, e.what, e.reason, e.fix.replace("point --db elsewhere", "point --tmp-dir elsewhere (or pass --db, a scan of CORPUS)"))
            result = clean_corpus(corpus, out, db_path, keep=keep, mark=mark, force=force, manifest=manifest, selection=config.selection)
    except DedupError as e:
        raise _user_error(e)
    if not quiet:
        verb = "listed (--mark)" if mark else "removed"
        click.echo(
            f"{_count(result.removed + result.listed, 'duplicate paragraph')} {verb}; {_count(result.files_written, 'file')} rewritten "
            f"({_count(result.records_rewritten, 'JSONL record')}"
            + (f", {_count(result.rows_rewritten, 'table row')}" if result.rows_rewritten else "")
            + f"), {result.files_copied:,} copied unchanged\n"
            f"Manifest: {result.manifest}",
            err=True,
        )
        for note in result.notes:
            click.echo(f"note: {note}", err=True)


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
def stats(db_path):
    """Print the summary of the scan stored in DB."""
    try:
        click.echo(format_summary(summarize(open_existing(db_path)), str(db_path)))
    except DedupError as e:
        raise UserError(str(e))


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.argument("cluster_id", type=int, required=False)
@click.option("--doc", "doc_path", default=None, metavar="PATH", help="Show this document (its path as stored) paragraph by paragraph, with each one's status.")
@click.option("--passage", "passage_id", default=None, type=int, metavar="ID", help="Show this passage: its source and its copy side by side, paragraph by paragraph.")
@click.option("--color/--no-color", default=None, help="Colour the output.  [default: only on a terminal]")
def show(db_path, cluster_id, doc_path, passage_id, color):
    """Show one cluster: its canonical, then every copy as its differences from the canonical.

    Edits are marked [-deleted-]{+inserted+}; differences of script, pinyin junk, placeholders
    and punctuation are coloured. With --doc PATH instead of CLUSTER_ID: the status of each
    paragraph of that document (unique, canonical, copy, boilerplate). With --passage ID: a run
    of paragraphs copied together, each copied paragraph as its differences from the source's.
    """
    from .console import format_cluster, format_document, format_passage
    from ..store.summary import document_detail, passage_detail

    if sum(x is not None for x in (cluster_id, doc_path, passage_id)) != 1:
        raise click.UsageError("give one of CLUSTER_ID, --doc PATH or --passage ID")
    try:
        db = open_existing(db_path)
        if passage_id is not None:
            lines = format_passage(passage_detail(db, passage_id), click.style)
        elif doc_path is not None:
            lines = format_document(document_detail(db, doc_path), click.style)
        else:
            lines = format_cluster(cluster_detail(db, cluster_id), click.style)
    except DedupError as e:
        raise UserError(str(e))
    click.echo("\n".join(lines), color=color)


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="HTML file to write.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(min=0), help="Most reused blocks shown with their copies' differences.")
@click.option("--docs", default=50, show_default=True, type=click.IntRange(min=0), help="Documents shown paragraph by paragraph (those with most copied text first).")
@_tmp_dir_option
def report(db_path, out, top, docs):
    """Write a self-contained HTML report of the scan stored in DB.

    Headline numbers, charts, the document reuse matrix, the most reused blocks with their
    copies' differences, and documents paragraph by paragraph. Large scans are capped (--top,
    --docs); the report says what it left out.
    """
    try:
        from .report import Limits, build_report
    except ImportError as e:
        raise click.ClickException(f"the report needs matplotlib ({e.name} is missing): pip install 'dedup[report]'")
    try:
        built = build_report(db_path, out, Limits(clusters=top, documents=docs))
    except DedupError as e:
        raise UserError(str(e))
    click.echo(f"Report written to {out} ({built.bytes / 1e6:.1f} MB; {built.note})", err=True)


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.option("--table", type=click.Choice(["clusters", "members", "paragraphs", "pairs", "passages"]), default="pairs", show_default=True, help="What to export: clusters, members, every paragraph, copy -> canonical pairs, or passages (runs of paragraphs copied together).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]), default="jsonl", show_default=True, help="Output format (parquet needs pip install 'dedup[parquet]').")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="File to write (default: stdout; parquet needs a file).")
@_tmp_dir_option
def export(db_path, table, fmt, out):
    """Export a table of the scan stored in DB, with stable column names."""
    from .export import export as run_export

    try:
        n = run_export(db_path, table, fmt, out)
    except DedupError as e:
        raise UserError(str(e))
    if out is not None and str(out) != "-":
        click.echo(f"{n:,} rows of {table} written to {out}", err=True)


def _update_command(db_path: Path, plan_name: str, targets, quiet: bool, workers: int) -> None:
    """Apply ``dedup add`` or ``dedup remove`` to the scan stored in DB."""
    from ..engines.update import apply_to_stored, plan_add, plan_remove

    def plan_of(conn, config, root):
        return plan_add(conn, targets, root, config.selection) if plan_name == "add" else plan_remove(conn, list(targets))

    try:
        counts = apply_to_stored(db_path, plan_of, workers=workers, show_progress=not quiet and sys.stderr.isatty(), skip=_warn)
    except DedupError as e:
        raise UserError(str(e))
    if not quiet:
        what = f"{_count(counts['documents_added'], 'document')} added" if plan_name == "add" else f"{_count(counts['files_deleted'], 'file')} removed"
        click.echo(f"{what}; {_count(counts['changes'], 'cluster change')}; {counts['clusters']:,} clusters, {counts['duplicate_paragraphs']:,} duplicate paragraphs")


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0), help="Worker processes (0: one per core).")
@click.option("-q", "--quiet", is_flag=True, help="No report.")
@_tmp_dir_option
def add(db_path, files, workers, quiet):
    """Add (or read again) FILES of the scanned corpus to the scan stored in DB.

    Only these files are read; clusters are updated, their ids kept, and the changes recorded.
    """
    _update_command(db_path, "add", list(files), quiet, workers)


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.argument("paths", nargs=-1, required=True)
@click.option("--workers", default=0, show_default=True, type=click.IntRange(min=0), help="Worker processes (0: one per core).")
@click.option("-q", "--quiet", is_flag=True, help="No report.")
@_tmp_dir_option
def remove(db_path, paths, workers, quiet):
    """Remove the documents of PATHS (as stored: relative to the corpus) from the scan in DB."""
    _update_command(db_path, "remove", list(paths), quiet, workers)


@cli.command()
@click.argument("db_path", metavar="DB", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: every one; mind the token).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--token", envvar="DEDUP_TOKEN", default=None, help="Token that writes (POST /documents) must send; also DEDUP_TOKEN. Without it the server is read-only.")
@click.option("--max-body", default=1 << 20, show_default=True, type=click.IntRange(min=1), help="Largest request body, in bytes.")
@click.option("--writer", type=click.Choice(["process", "thread"]), default="process", show_default=True,
              help="Run writes in a child process (queries keep their pace during writes) or in the request's thread.")
@_tmp_dir_option
def serve(db_path, host, port, token, max_body, writer):
    """Serve the scan in DB over HTTP: POST /query, POST /documents, GET /clusters/ID ...

    The OpenAPI schema is at /openapi.json, interactive docs at /docs.
    """
    try:
        import uvicorn

        from .service import create_app
    except ImportError:
        raise click.ClickException("the service needs fastapi and uvicorn: pip install 'dedup[service]'")
    try:
        app = create_app(db_path, token=token, max_body=max_body, writer=writer)
    except DedupError as e:
        raise UserError(str(e))
    click.echo(f"serving {db_path} on http://{host}:{port} ({'writes need the token' if token else 'read-only: no token'})", err=True)
    # a write's few steps in this process (the pipe to the writer, the index advanced, the
    # answer read back) each wait for the interpreter lock behind the query threads: up to a
    # switch interval each, 5 ms by default
    sys.setswitchinterval(SWITCH_INTERVAL)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@cli.command(name="filter")
@click.option("--db", "db_path", default=None, type=click.Path(path_type=Path), help="Also drop paragraphs found in this scan (a reference corpus); its config is used.")
@click.option("--no-stream", is_flag=True, help="Only drop what the --db reference holds, not copies of earlier records of the stream.")
@click.option("--mark", is_flag=True, help="Remove nothing: list each record's duplicates in a field 'dedup_duplicates'.")
@click.option("--skip-bad", is_flag=True, help="Pass bad lines through unchanged (counted, with a warning) instead of stopping.")
@click.option("--text-field", default="text", show_default=True, help="The field holding a record's text.")
@click.option("--id-field", default="id", show_default=True, help="The field holding a record's id.")
@click.option("--threshold", default=0.6, show_default=True, type=float, callback=_validate_threshold, help="Jaccard similarity at or above which a paragraph is a copy (without --db).")
@click.option("--batch", default=None, type=click.IntRange(min=1), help="Records read, looked up and written back at a time [default: 500]; the output does not depend on it.")
@click.option("-q", "--quiet", is_flag=True, help="No report on stderr.")
@_tmp_dir_option
def filter_command(db_path, no_stream, mark, skip_bad, text_field, id_field, threshold, batch, quiet):
    """Read JSONL on stdin, write it to stdout without duplicate paragraphs.

    A paragraph goes when it copies one of the --db reference corpus or, unless --no-stream,
    one of an earlier record of the stream (the first occurrence stays). Data goes to stdout
    only; the report and warnings go to stderr.
    """
    from ..atomic import StdoutData, stdout_name
    from ..compiled import prepare, warn_if_slow
    from .filter import filter_stream, reference_index
    from ..store.index import key_index
    from ..sources.records import RecordFields

    if no_stream and db_path is None:
        raise click.UsageError("--no-stream needs --db: without a reference there is nothing to filter against")
    try:
        reference = None
        if db_path is not None:
            reference, config = reference_index(db_path)
        else:
            config = ScanConfig(threshold=threshold)
        prepare()
        warn_if_slow()
        index = key_index(config)
        fields = RecordFields(text_field, id_field)
        warn = lambda error: click.echo(f"warning: {error}; passed through unchanged", err=True)  # noqa: E731
        out = StdoutData()
        try:
            # the index reports its own full disk: what is left to run out of room is stdout
            with writing(stdout_name(), "the filtered records", "send stdout elsewhere"):
                result = filter_stream(
                    sys.stdin.buffer, out.write, index, config, reference=reference, fields=fields, stream=not no_stream, mark=mark, skip_bad=skip_bad, on_skip=warn,
                    batch=batch, ahead=True,
                )
                out.flush()
        finally:
            index.close()
    except DedupError as e:
        raise UserError(str(e))
    if not quiet:
        verb = "marked" if mark else "removed"
        click.echo(
            f"{_count(result.records, 'record')}, {_count(result.paragraphs, 'paragraph')}: {_count(result.duplicates, 'duplicate')} {verb} "
            f"in {_count(result.rewritten, 'record')}" + (f"; {_count(result.passed_bad, 'bad line')} passed through" if result.passed_bad else ""),
            err=True,
        )


def _drop_stdout() -> None:
    """After an error, what stdout still holds is written now, or thrown away if it cannot be
    (a full disk): Python's own flush at exit would report the failure again, with no fix."""
    try:
        sys.stdout.flush()
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main() -> None:
    """Console entry point: no traceback for an interrupt or a closed pipe."""
    try:
        # click's own handling of an interrupt prints "Aborted!" and exits 1, or, at some
        # moments, lets the signal end the process; here it always ends the same way
        code = cli.main(standalone_mode=False)
        sys.stdout.flush()  # now, not at exit, where a full disk would print a traceback-like report
    except (KeyboardInterrupt, click.exceptions.Abort) as interrupt:
        # click turns a KeyboardInterrupt into Abort, the interrupt kept as its cause
        if isinstance(interrupt, InterruptedAfterSaving) or isinstance(interrupt.__cause__, InterruptedAfterSaving):
            click.echo("Interrupted as the result was being saved: the database holds the new result; the corpus is untouched.", err=True)
        else:
            click.echo("Interrupted; the database and the corpus are as they were before this run.", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as e:
        _drop_stdout()
        e.show()
        sys.exit(e.exit_code)
    except BrokenPipeError:
        # the reader went away (``dedup filter | head``): say nothing, and keep Python's final
        # flush of stdout from raising again on the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (OSError, sqlite3.Error) as error:
        problem = space_problem(error)
        if problem is None:
            raise
        # a write no path named: almost always stdout, redirected to a full disk
        from ..atomic import stdout_name

        reason, remedy, _ = problem
        _drop_stdout()
        named = getattr(error, "filename2", None) or getattr(error, "filename", None) or stdout_name()
        UserError(str(WriteError(named, "the output", reason, remedy))).show()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
