"""API keys for the HTTP service, kept in the workspace registry (table ``api_keys``).

A key looks like ``xbk_<prefix>_<secret>``: the prefix (8 hex characters) is stored in clear
so a key can be found and named in logs; the secret part never is. At rest we keep a random
salt and SHA-256(salt + key). A slow password hash (scrypt, PBKDF2) protects guessable
passwords; these keys carry 256 random bits, so brute force is out of reach and one fast hash
keeps every request cheap. Comparison is constant-time.

There is no in-memory cache of verified keys: verifying is one indexed read by prefix plus one
SHA-256 (a few tens of microseconds, see docs/service.md), so a key revoked from the command
line or by another worker stops working on the very next request.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone

from xiaobao.errors import NotFoundError, UserError

SCOPES = ("check", "lookup", "ingest", "admin")
KEY_PREFIX = "xbk_"

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    salt TEXT NOT NULL,
    hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)"""

_PUBLIC = ("id", "name", "prefix", "scopes", "created_at", "revoked_at")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def ensure_table(ws) -> None:
    ws.conn.execute(SCHEMA)


def _digest(salt: str, plaintext: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + plaintext.encode("utf-8")).hexdigest()


def _public(row: dict) -> dict:
    out = {k: row[k] for k in _PUBLIC}
    out["scopes"] = json.loads(row["scopes"])
    return out


def check_scopes(scopes) -> list[str]:
    scopes = set(scopes or ())
    bad = sorted(s for s in scopes if s not in SCOPES)
    if bad:
        raise UserError(f"unknown scope {bad[0]!r}: use one or more of {', '.join(SCOPES)}")
    scopes = sorted(scopes, key=SCOPES.index)
    if not scopes:
        raise UserError(f"a key needs at least one scope ({', '.join(SCOPES)})")
    return scopes


def create_key(ws, name: str, scopes) -> tuple[int, str]:
    """A new key named ``name`` with ``scopes``; returns (id, plaintext). The plaintext is shown once."""
    name = (name or "").strip()
    if not name:
        raise UserError("a key needs a name (who will use it, e.g. collection-dialer)")
    scopes = check_scopes(scopes)
    ensure_table(ws)
    if ws.conn.execute("SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
        # Names are what the check log records as "asked by", so live ones must be unambiguous.
        raise UserError(f"an active key named {name!r} exists; revoke it first or pick another name")
    with ws.transaction():
        while True:
            prefix = secrets.token_hex(4)
            if not ws.conn.execute("SELECT 1 FROM api_keys WHERE prefix = ?", (prefix,)).fetchone():
                break
        plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        salt = secrets.token_hex(16)
        key_id = ws.conn.execute(
            "INSERT INTO api_keys (name, prefix, salt, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (name, prefix, salt, _digest(salt, plaintext), json.dumps(scopes), _now())).lastrowid
        ws.log_event("apikey.create", ids=(key_id,), detail={"name": name, "prefix": prefix, "scopes": scopes})
    return key_id, plaintext


def list_keys(ws, include_revoked: bool = True) -> list[dict]:
    """Every key (never its secret): id, name, prefix, scopes, created_at, revoked_at."""
    ensure_table(ws)
    sql = "SELECT * FROM api_keys" + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY id"
    cur = ws.conn.execute(sql)
    cols = [d[0] for d in cur.description]
    return [_public(dict(zip(cols, r))) for r in cur.fetchall()]


def revoke_key(ws, key_id: int) -> dict:
    """Revoke a key by id; it stops working on the next request. Revoking twice is an error."""
    ensure_table(ws)
    with ws.transaction():
        row = ws.conn.execute("SELECT name, revoked_at FROM api_keys WHERE id = ?", (int(key_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"no API key with id {key_id} (see the ids: xiaobao keys list)")
        if row[1]:
            raise UserError(f"API key {key_id} ({row[0]}) was already revoked at {row[1]}")
        ws.conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (_now(), int(key_id)))
        ws.log_event("apikey.revoke", ids=(int(key_id),), detail={"name": row[0]})
    return next(k for k in list_keys(ws) if k["id"] == int(key_id))


def verify_key(ws, plaintext: str | None) -> dict | None:
    """The key's row (id, name, prefix, scopes, ...) if ``plaintext`` is a live key, else None."""
    if not plaintext or not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
        return None
    prefix = plaintext[len(KEY_PREFIX):len(KEY_PREFIX) + 8]
    cur = ws.conn.execute("SELECT * FROM api_keys WHERE prefix = ?", (prefix,))
    row = cur.fetchone()
    if row is None:
        return None
    row = dict(zip([d[0] for d in cur.description], row))
    if not hmac.compare_digest(_digest(row["salt"], plaintext), row["hash"]) or row["revoked_at"]:
        return None
    return _public(row)
