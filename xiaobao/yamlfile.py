"""Reading the YAML files teams edit (rules, policies, vocabularies, lexicons, calendars).

Every loader checks its own entries; what they share is here: a file that cannot be read, is
not UTF-8, is not YAML, or is not a mapping at the top is one :class:`InputError` that names
the file and, for a YAML mistake, the line.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from xiaobao.errors import InputError


def read_yaml_mapping(path: str | Path, what: str = "file") -> dict:
    """The top-level mapping of a YAML file (an empty file is an empty mapping)."""
    return read_yaml_with_digest(path, what)[0]


def read_yaml_with_digest(path: str | Path, what: str = "file") -> tuple[dict, str]:
    """The mapping and the SHA-256 of the bytes it was read from (recorded with decisions)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, f"{what} not found") from None
    except OSError as exc:
        raise InputError(path, f"cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(path, f"{what} is not UTF-8 text") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(path, f"{what} is not valid YAML: {problem}",
                         line=mark.line + 1 if mark is not None else None) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(path, f"{what} must be a mapping at the top level, not a {type(doc).__name__}")
    return doc, hashlib.sha256(raw).hexdigest()
