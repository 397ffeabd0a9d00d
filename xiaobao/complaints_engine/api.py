"""The complaints engine's entry points for systems that import xiaobao.

``xiaobao.ingest`` and ``xiaobao.screen`` are these functions; they import the engine on
first call so ``import xiaobao`` stays quick for callers that only search.
"""
from __future__ import annotations


def ingest(ws, paths, *, command: str | None = None):
    """Load complaint files (CSV/TSV, JSONL, XLSX) into ``ws``; returns an ``IngestReport``.

    ``paths``: one path or a list. Bad rows are listed in ``report.bad`` (file, line,
    reason) and skipped; re-ingesting the same rows adds nothing. Example::

        report = xiaobao.ingest(ws, ["day.csv"])
        report.added, report.unchanged, [str(p) for p in report.bad]
    """
    from xiaobao.complaints_engine.ingest import ingest as _ingest

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return _ingest(ws, paths, command=command)


def screen(ws, *, since: str | None = None, complaint_id: str | None = None, workers: int = 1,
           chunk_size: int = 500, scorecard: str | None = None, progress=None, command: str | None = None,
           ray=None):
    """Screen unscreened complaints in ``ws`` (or re-screen ``complaint_id``); returns a ``ScreenReport``.

    Each complaint gets ``risk_score`` in [0, 1], ``risk_tier`` (high/medium/low), ``reasons``
    (sentences with evidence), rows in ``matches`` and tags; candidate rings are stored.
    Resumable after a kill and idempotent. ``scorecard``: path of a scorecard YAML (default:
    the packaged one). ``progress(phase, done, total)`` is called as chunks finish. ``ray``:
    True for a local Ray, or a cluster address, to run the per-complaint work on Ray. Example::

        report = xiaobao.screen(ws, since="2026-10-01")
        report.tiers   # {'high': 12, 'medium': 40, 'low': 948}
    """
    from xiaobao.complaints_engine.screen import screen as _screen

    return _screen(ws, since=since, complaint_id=complaint_id, workers=workers, chunk_size=chunk_size,
                   scorecard=scorecard, progress=progress, command=command, ray=ray)
