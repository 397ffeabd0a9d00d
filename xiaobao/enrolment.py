"""Source files of watchlist samples: their content hash, and which of a batch are already enrolled.

Voice, face and complaint-attachment enrolment recognise a file by the SHA-256 of its bytes.
Batch enrolment sets aside, before any decoding, the files it must not work on again, so a run
stopped half-way is simply run again and nothing is done twice.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

from xiaobao.errors import DuplicateSampleError


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def set_aside_enrolled(ws, space: str, subject_id: int, files: Sequence, *, noun: str = "file",
                       source_uri: Callable = str) -> tuple[list[tuple[int, str | None]], dict[int, tuple[str, str]]]:
    """``(index, sha256)`` of the ``files`` left to work on, and ``(status, reason)`` by index for the others.

    Set aside: a file whose content was given earlier in this batch (``skipped``), one this
    subject already has in ``space`` (``skipped``: a rerun resumes) and one enrolled under another
    subject (``error``: someone has to decide whose it is). A file that cannot be read is left
    to the caller's decoding, which reports it (its sha256 is None).
    """
    digests: dict[int, str] = {}
    first: dict[str, int] = {}
    aside: dict[int, tuple[str, str]] = {}
    for i, f in enumerate(files):
        try:
            digests[i] = file_sha256(f)
        except OSError:
            continue
        if digests[i] in first:
            aside[i] = ("skipped", f"the same {noun} as {files[first[digests[i]]]}, given earlier in this batch")
        first.setdefault(digests[i], i)
    known = ws.duplicates(space, [{"sha256": d, "subject_id": subject_id, "source_uri": source_uri(files[i])}
                                  for i, d in digests.items() if i not in aside])
    for i, d in digests.items():
        exc = known.get(d)
        if i not in aside and exc is not None:
            aside[i] = ("skipped" if isinstance(exc, DuplicateSampleError) else "error", str(exc))
    return [(i, digests.get(i)) for i in range(len(files)) if i not in aside], aside
