"""Domain errors: one line each, naming the problem and the fix.

The library raises these; the CLI turns them into ``Error: <message>`` with exit code 1
(``click.ClickException``). Nothing else should reach a user as a traceback.
"""


class DedupError(Exception):
    """Base of every error dedup reports to a user; ``str(error)`` is the whole message."""


class CorpusError(DedupError):
    """The corpus cannot be read: a missing folder, no text files, an undecodable file."""


class ConfigError(DedupError):
    """A configuration value is out of range or inconsistent with another one."""


class DatabaseError(DedupError):
    """The database cannot be used: missing, not ours, or holding another corpus."""


class EngineError(DedupError):
    """An engine cannot run here: Spark or Java missing, a cluster that cannot be reached."""
