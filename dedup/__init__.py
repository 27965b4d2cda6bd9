"""dedup: near-duplicate paragraphs of scraped text dumps, with the source of every copy.

The public interface (see api.py and README's "Python API")::

    import dedup
    dedup.scan("corpus/", db="dedup.db")          # a database of the storage contract
    dedup.add("dedup.db", ["corpus/new.txt"]); dedup.remove("dedup.db", ["old.txt"])
    dedup.open_scan("dedup.db")                   # its tables, for reading
    dedup.deduplicate(texts)                      # in memory: clusters as Python objects

Names are loaded on first use, so ``import dedup`` stays cheap for the CLI and the workers.
"""

__version__ = "0.1.0"

_API = {
    "scan": "api", "add": "api", "remove": "api", "open_scan": "api", "deduplicate": "api",
    "Deduplication": "api", "ParagraphResult": "api", "ClusterMember": "api",
    "ScanConfig": "config",
    "DedupError": "errors", "ConfigError": "errors", "CorpusError": "errors", "DatabaseError": "errors",
    "EngineError": "errors", "WriteError": "errors",
}  # fmt: skip
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'dedup' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"dedup.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
