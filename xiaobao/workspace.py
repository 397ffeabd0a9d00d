"""The workspace: a folder holding the SQLite registry (the truth) and FAISS files (caches).

Every change to a space's samples happens in one SQLite transaction that also bumps the
space's ``generation`` and appends to the audit log; the FAISS file is then rewritten under a
per-space file lock, stamped with that generation. A reader that finds no file of the current
generation rebuilds the index from SQLite, so a process killed between the two steps can
never leave searches looking at a stale index.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import sqlite_utils

from xiaobao.errors import DuplicateSampleError, NotFoundError, SpaceError, UserError
from xiaobao.index import Match, decide, default_thresholds, parse_space
from xiaobao.index.vector_store import VectorStore, open_vector_store
from xiaobao.index.schema import CORE_SCHEMA

SUBJECT_KINDS = ("agent", "staff", "customer", "unknown")
DEFAULT_HOME = ".xiaobao"
#: Above this many vectors a space gets an approximate (IVF) index.
DEFAULT_APPROX_THRESHOLD = 200_000


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def resolve_home(home: str | os.PathLike | None = None) -> Path:
    """``home`` if given, else ``$XIAOBAO_HOME``, else ``./.xiaobao``."""
    return Path(home or os.environ.get("XIAOBAO_HOME") or DEFAULT_HOME)


def _as_list(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise UserError(f"{name}: got {len(value)} values for {n} vectors")
        return list(value)
    return [value] * n


class Workspace:
    """A xiaobao workspace folder.

    >>> ws = Workspace("/tmp/ws")
    >>> sid = ws.add_subject("agent Li", kind="agent")
    >>> ws.enroll(sid, "voice/resemblyzer@1", vectors, sha256="...", source_uri="call.wav")
    >>> ws.search("voice/resemblyzer@1", query_vectors, k=5)
    """

    def __init__(self, home: str | os.PathLike | None = None, *, approx_threshold: int | None = None,
                 command: str | None = None, vector_store: str | None = None):
        self.home = resolve_home(home)
        self.indexes_dir = self.home / "indexes"
        self.approx_threshold = int(
            approx_threshold
            if approx_threshold is not None
            else os.environ.get("XIAOBAO_APPROX_THRESHOLD", DEFAULT_APPROX_THRESHOLD)
        )
        self.command = command or "library"
        self._owners: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        self._subjects_cache: tuple | None = None
        self._create_folder()
        self.db_path = self.home / "registry.db"
        if not self.db_path.exists():
            # Create the file ourselves so it is private from the first byte; SQLite gives the
            # -wal and -shm files the same mode.
            os.close(os.open(self.db_path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.db_path, 0o600)
        conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=60, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=60000")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        with self.transaction():
            for statement in CORE_SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
        self.id = self._setting("workspace_id") or self._set_setting("workspace_id", uuid.uuid4().hex)
        # The store named here, else $XIAOBAO_VECTOR_STORE, else the one this workspace was made with.
        spec = vector_store or os.environ.get("XIAOBAO_VECTOR_STORE") or self._setting("vector_store") or "faiss"
        self.store: VectorStore = open_vector_store(spec, self.home, self.approx_threshold, self.id)
        if self._setting("vector_store") != spec:
            self._set_setting("vector_store", spec)

    # ------------------------------------------------------------------ plumbing
    def _create_folder(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.indexes_dir.mkdir(exist_ok=True, mode=0o700)
        with contextlib.suppress(PermissionError):
            os.chmod(self.home, 0o700)
            os.chmod(self.indexes_dir, 0o700)

    def close(self) -> None:
        self.store.close()
        self.conn.close()

    def _setting(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_setting(self, key: str, value: str) -> str:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))
            self.log_event("setting", [], None, {key: value})
        return value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front so writers queue, never deadlock."""
        if self.conn.in_transaction:  # nested: join the outer transaction
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def _space_lock(self, space: str) -> Iterator[None]:
        """Serialise index writers of one space across processes."""
        self.indexes_dir.mkdir(exist_ok=True, mode=0o700)
        path = self.indexes_dir / (space.replace("/", "__") + ".lock")
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _event_row(self, what: str, ids: Iterable = (), command: str | None = None, detail=None) -> tuple:
        return (utcnow(), what, json.dumps(list(ids), default=str), command or self.command,
                json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None, os.getpid())

    def log_event(self, what: str, ids: Iterable = (), command: str | None = None, detail=None) -> None:
        """Append to the audit log (``events``)."""
        self.conn.execute(
            "INSERT INTO events (at, what, ids, command, detail, pid) VALUES (?, ?, ?, ?, ?, ?)",
            self._event_row(what, ids, command, detail),
        )

    def events(self, what: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM events" + (" WHERE what = ?" if what else "") + " ORDER BY id"
        params = [what] if what else []
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        rows = [dict(r) for r in self.db.query(sql, params)]
        for r in rows:
            r["ids"] = json.loads(r["ids"]) if r["ids"] else []
            r["detail"] = json.loads(r["detail"]) if r["detail"] else None
        return rows

    # ------------------------------------------------------------------ subjects
    def add_subject(self, name: str, kind: str = "unknown", note: str | None = None, meta: dict | None = None) -> int:
        if kind not in SUBJECT_KINDS:
            raise UserError(f"kind {kind!r} is not one of {', '.join(SUBJECT_KINDS)}")
        if not name or not name.strip():
            raise UserError("a subject needs a non-empty name")
        now = utcnow()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO subjects (name, kind, note, meta, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name.strip(), kind, note, json.dumps(meta, ensure_ascii=False) if meta else None, now, now),
            )
            sid = cur.lastrowid
            self.log_event("subject.add", [sid], detail={"name": name, "kind": kind})
        return sid

    def get_subject(self, subject_id: int) -> dict:
        row = self.conn.execute("SELECT * FROM subjects WHERE id = ?", (int(subject_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"subject {subject_id} does not exist (see the ids: xiaobao subject list)")
        cols = [d[0] for d in self.conn.execute("SELECT * FROM subjects LIMIT 0").description]
        subject = dict(zip(cols, row))
        subject["meta"] = json.loads(subject["meta"]) if subject["meta"] else None
        return subject

    def list_subjects(self, kind: str | None = None) -> list[dict]:
        sql = (
            "SELECT s.id, s.name, s.kind, s.note, s.created_at, COUNT(p.id) AS samples "
            "FROM subjects s LEFT JOIN samples p ON p.subject_id = s.id"
        )
        params: list = []
        if kind:
            if kind not in SUBJECT_KINDS:
                raise UserError(f"kind {kind!r} is not one of {', '.join(SUBJECT_KINDS)}")
            sql += " WHERE s.kind = ?"
            params.append(kind)
        sql += " GROUP BY s.id ORDER BY s.id"
        return [dict(r) for r in self.db.query(sql, params)]

    def update_subject(self, subject_id: int, *, name: str | None = None, kind: str | None = None,
                       note: str | None = None) -> dict:
        self.get_subject(subject_id)
        changes = {k: v for k, v in {"name": name, "kind": kind, "note": note}.items() if v is not None}
        if "kind" in changes and changes["kind"] not in SUBJECT_KINDS:
            raise UserError(f"kind {kind!r} is not one of {', '.join(SUBJECT_KINDS)}")
        if changes:
            with self.transaction():
                sets = ", ".join(f"{k} = ?" for k in changes)
                self.conn.execute(f"UPDATE subjects SET {sets}, updated_at = ? WHERE id = ?",
                                  (*changes.values(), utcnow(), int(subject_id)))
                self.log_event("subject.update", [subject_id], detail=changes)
        return self.get_subject(subject_id)

    def remove_subject(self, subject_id: int) -> int:
        """Delete a subject and purge its samples from SQLite and every index. Returns samples removed."""
        self.get_subject(subject_id)
        rows = self.conn.execute("SELECT id FROM samples WHERE subject_id = ?", (int(subject_id),)).fetchall()
        removed = self.remove_samples([r[0] for r in rows], reason=f"subject {subject_id} removed")
        with self.transaction():
            self.conn.execute("DELETE FROM subjects WHERE id = ?", (int(subject_id),))
            self.log_event("subject.remove", [subject_id], detail={"samples_removed": removed})
        return removed

    def subject_samples(self, subject_id: int) -> list[dict]:
        self.get_subject(subject_id)
        return [dict(r) for r in self.db.query(
            "SELECT id, space, source_uri, sha256, quality, meta, created_at FROM samples "
            "WHERE subject_id = ? ORDER BY space, id", [int(subject_id)])]

    # ------------------------------------------------------------------ spaces
    def ensure_space(self, space: str, dim: int) -> None:
        """Declare a space with its dimension; a second declaration must agree."""
        modality, _, _ = parse_space(space)
        row = self.conn.execute("SELECT dim FROM spaces WHERE name = ?", (space,)).fetchone()
        if row is None:
            with self.transaction():
                self.conn.execute(
                    "INSERT OR IGNORE INTO spaces (name, modality, dim, created_at) VALUES (?, ?, ?, ?)",
                    (space, modality, int(dim), utcnow()),
                )
            row = self.conn.execute("SELECT dim FROM spaces WHERE name = ?", (space,)).fetchone()
        if row[0] != int(dim):
            raise SpaceError(f"space {space} holds {row[0]}-d vectors, got {dim}-d")

    def spaces(self) -> list[dict]:
        return [dict(r) for r in self.db.query("SELECT * FROM spaces ORDER BY name")]

    def space_dim(self, space: str) -> int:
        row = self.conn.execute("SELECT dim FROM spaces WHERE name = ?", (space,)).fetchone()
        if row is None:
            known = ", ".join(s["name"] for s in self.spaces()) or "none yet"
            raise SpaceError(f"unknown space {space!r} (known: {known})")
        return int(row[0])

    def _generation(self, space: str) -> int:
        return int(self.conn.execute("SELECT generation FROM spaces WHERE name = ?", (space,)).fetchone()[0])

    @staticmethod
    def _check_vectors(space: str, vectors, dim: int) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != dim:
            raise SpaceError(f"space {space} holds {dim}-d vectors, got shape {tuple(np.shape(vectors))}")
        if not np.isfinite(v).all():
            raise SpaceError(f"space {space}: vectors contain NaN or infinity")
        norms = np.linalg.norm(v, axis=1)
        if len(v) and np.abs(norms - 1).max() > 1e-3:
            raise SpaceError(f"space {space}: vectors must be L2-normalised (norms {norms.min():.3f}..{norms.max():.3f})")
        return np.ascontiguousarray(v)

    # ------------------------------------------------------------------ samples
    def enroll(self, subject_id: int, space: str, vectors, *, sha256, source_uri=None, quality=None,
               meta=None, command: str | None = None) -> list[int]:
        """Add one subject's vectors (one sample each). Returns the new sample ids.

        ``sha256``, ``source_uri``, ``quality`` and ``meta`` are one value for all rows or a
        list with one per row. A source already enrolled in this space is refused.
        """
        v = np.asarray(vectors, dtype=np.float32)
        n = 1 if v.ndim == 1 else len(v)
        return self.enroll_batch(space, [
            {"subject_id": subject_id, "vector": row, "sha256": s, "source_uri": u, "quality": q, "meta": m}
            for row, s, u, q, m in zip(
                v.reshape(n, -1), _as_list(sha256, n, "sha256"), _as_list(source_uri, n, "source_uri"),
                _as_list(quality, n, "quality"), _as_list(meta, n, "meta"))
        ], command=command)

    def enroll_batch(self, space: str, items: Sequence[dict], command: str | None = None) -> list[int]:
        """Enrol many samples (of any subjects) into one space in one transaction and one index write.

        Each item: ``subject_id``, ``vector``, ``sha256``, optional ``source_uri``, ``quality``, ``meta``.
        """
        if not items:
            return []
        dim = self.space_dim(space)
        vectors = self._check_vectors(space, np.vstack([np.asarray(i["vector"], np.float32) for i in items]), dim)
        subject_ids = sorted({int(i["subject_id"]) for i in items})
        known = {r[0] for r in self.conn.execute(
            f"SELECT id FROM subjects WHERE id IN ({','.join('?' * len(subject_ids))})", subject_ids)}
        missing = [s for s in subject_ids if s not in known]
        if missing:
            raise NotFoundError(f"subject {missing[0]} does not exist (see the ids: xiaobao subject list)")
        now = utcnow()
        with self._space_lock(space):
            prev_gen = self._generation(space)
            with self.transaction():
                self._refuse_duplicates(space, items)
                ids = []
                for item, vec in zip(items, vectors):
                    meta = item.get("meta")
                    cur = self.conn.execute(
                        "INSERT INTO samples (subject_id, space, vector, source_uri, sha256, quality, meta, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (int(item["subject_id"]), space, vec.tobytes(), item.get("source_uri"), item.get("sha256"),
                         item.get("quality"), json.dumps(meta, ensure_ascii=False, default=str) if meta else None, now),
                    )
                    ids.append(cur.lastrowid)
                self.conn.execute("UPDATE spaces SET generation = generation + 1 WHERE name = ?", (space,))
                self.log_event("enroll", ids, command, {"space": space, "subjects": subject_ids, "n": len(ids)})
            self._apply_to_index(space, prev_gen, add=(np.asarray(ids, np.int64), vectors))
        return ids

    def duplicates(self, space: str, items: Sequence[dict]) -> dict[str, UserError]:
        """The refusal ``enroll`` would give each item whose source is already in ``space``, by sha256.

        Items carry ``sha256``, ``subject_id`` and optional ``source_uri``. Same subject:
        :class:`DuplicateSampleError` (batches skip it, so a rerun resumes); another subject: a
        plain :class:`UserError` (someone has to decide who the recording belongs to). Batch
        enrolment calls this before decoding, so nothing already enrolled is worked on twice.
        """
        out: dict[str, UserError] = {}
        shas = sorted({i["sha256"] for i in items if i.get("sha256")})
        for start in range(0, len(shas), 500):
            chunk = shas[start:start + 500]
            rows = self.conn.execute(
                f"SELECT s.sha256, s.subject_id, s.source_uri, j.name FROM samples s JOIN subjects j ON j.id = s.subject_id "
                f"WHERE s.space = ? AND s.sha256 IN ({','.join('?' * len(chunk))}) ORDER BY s.id", [space, *chunk]).fetchall()
            for sha, existing_subject, uri, name in rows:
                if sha in out:
                    continue
                new = next(i for i in items if i.get("sha256") == sha)
                label = new.get("source_uri") or sha[:12]
                if int(new["subject_id"]) == existing_subject:
                    out[sha] = DuplicateSampleError(
                        f"{label}: already enrolled in {space} for subject {existing_subject} (as {uri or sha[:12]})")
                else:
                    out[sha] = UserError(
                        f"{label}: already enrolled in {space} under another subject, "
                        f"{existing_subject} ({name}); remove it there first if that was wrong")
        return out

    def _refuse_duplicates(self, space: str, items: Sequence[dict]) -> None:
        found = self.duplicates(space, items)
        for item in items:
            if item.get("sha256") in found:
                raise found[item["sha256"]]

    def remove_samples(self, sample_ids: Iterable[int], reason: str | None = None, command: str | None = None) -> int:
        """Delete samples from SQLite and their indexes. Returns how many were removed."""
        ids = sorted({int(i) for i in sample_ids})
        if not ids:
            return 0
        by_space: dict[str, list[int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for sid, space in self.conn.execute(
                    f"SELECT id, space FROM samples WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                by_space.setdefault(space, []).append(sid)
        total = 0
        for space, space_ids in by_space.items():
            with self._space_lock(space):
                prev_gen = self._generation(space)
                with self.transaction():
                    for start in range(0, len(space_ids), 500):
                        chunk = space_ids[start:start + 500]
                        self.conn.execute(f"DELETE FROM samples WHERE id IN ({','.join('?' * len(chunk))})", chunk)
                    self.conn.execute("UPDATE spaces SET generation = generation + 1 WHERE name = ?", (space,))
                    self.log_event("samples.remove", space_ids, command, {"space": space, "reason": reason})
                self._apply_to_index(space, prev_gen, remove=np.asarray(space_ids, np.int64))
            total += len(space_ids)
        return total

    def purge(self, older_than_days: float, space: str | None = None, command: str | None = None) -> int:
        """Retention: delete samples older than ``older_than_days`` everywhere. Returns the count."""
        if older_than_days < 0:
            raise UserError("--older-than must be zero or more days")
        if space:
            self.space_dim(space)
        cutoff = (datetime.now(timezone.utc) - timedelta(days=older_than_days)).isoformat(timespec="milliseconds")
        sql = "SELECT id FROM samples WHERE created_at < ?" + (" AND space = ?" if space else "")
        ids = [r[0] for r in self.conn.execute(sql, [cutoff, space] if space else [cutoff])]
        removed = self.remove_samples(ids, reason=f"retention: older than {older_than_days} days", command=command)
        with self.transaction():
            self.log_event("purge", [], command, {"older_than_days": older_than_days, "space": space,
                                                  "cutoff": cutoff, "removed": removed})
        return removed

    def sample(self, sample_id: int, with_vector: bool = False) -> dict:
        row = self.db.execute("SELECT * FROM samples WHERE id = ?", [int(sample_id)]).fetchone()
        if row is None:
            raise NotFoundError(f"sample {sample_id} does not exist (a subject's samples: xiaobao subject show ID)")
        cols = [d[0] for d in self.conn.execute("SELECT * FROM samples LIMIT 0").description]
        d = dict(zip(cols, row))
        d["meta"] = json.loads(d["meta"]) if d["meta"] else None
        vec = d.pop("vector")
        if with_vector:
            d["vector"] = np.frombuffer(vec, dtype=np.float32).copy()
        return d

    # ------------------------------------------------------------------ index maintenance
    def _vectors_from_registry(self, space: str) -> tuple[np.ndarray, np.ndarray]:
        dim = self.space_dim(space)
        ids, blobs = [], []
        for sid, blob in self.conn.execute("SELECT id, vector FROM samples WHERE space = ? ORDER BY id", (space,)):
            ids.append(sid)
            blobs.append(blob)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dim) if ids else \
            np.zeros((0, dim), np.float32)
        return np.asarray(ids, np.int64), vectors

    def _rebuild_store(self, space: str) -> int:
        """Restore the store's copy of ``space`` from the registry (caller holds the space lock)."""
        gen = self._generation(space)
        ids, vectors = self._vectors_from_registry(space)
        subjects = np.fromiter((r[0] for r in self.conn.execute(
            "SELECT subject_id FROM samples WHERE space = ? ORDER BY id", (space,))), np.int64, len(ids))
        self.store.rebuild(space, self.space_dim(space), gen, ids, vectors, subjects)
        return len(ids)

    def _apply_to_index(self, space: str, prev_gen: int, add=None, remove=None) -> None:
        """Called under the space lock, after the SQLite commit: bring the store to the new generation."""
        new_gen = self._generation(space)
        if not self.store.apply(space, self.space_dim(space), prev_gen, new_gen, add=add, remove=remove):
            self._rebuild_store(space)

    def _ensure_current(self, space: str) -> None:
        """Make the store reflect the registry's current generation, healing it if a writer died."""
        if self.store.has(space, self._generation(space)):
            return
        with self._space_lock(space):
            gen = self._generation(space)
            if not self.store.has(space, gen):
                n = self._rebuild_store(space)
                with self.transaction():
                    self.log_event("index.heal", [], None, {"space": space, "generation": gen, "count": n})

    def rebuild(self, space: str | None = None, command: str | None = None) -> list[dict]:
        """Rebuild the vector store from the registry (all spaces, or one)."""
        names = [space] if space else [s["name"] for s in self.spaces()]
        out = []
        for name in names:
            self.space_dim(name)
            with self._space_lock(name):
                n = self._rebuild_store(name)
                with self.transaction():
                    self.log_event("index.rebuild", [], command, {"space": name, "count": n, "store": self.store.uri})
            out.append({"space": name, "count": n, "index_type": self.store.describe(name)["index_type"]})
        return out

    def verify(self, space: str | None = None, check_vectors: bool = True) -> list[dict]:
        """Every disagreement between registry and vector store; an empty list means all agree."""
        names = [space] if space else [s["name"] for s in self.spaces()]
        problems: list[dict] = []
        for name in names:
            self.space_dim(name)
            gen = self._generation(name)
            db_ids, db_vecs = self._vectors_from_registry(name)
            if not self.store.has(name, gen):
                if len(db_ids) or self.store.count(name):
                    problems.append({"space": name, "problem": "index file missing or stale",
                                     "detail": f"registry generation {gen}; {self.store.uri} does not hold it"})
                continue
            ix_all = self.store.ids(name)
            ix_ids = np.unique(ix_all)
            only_db = np.setdiff1d(db_ids, ix_ids)
            only_ix = np.setdiff1d(ix_ids, db_ids)
            if len(only_db):
                problems.append({"space": name, "problem": "samples missing from index",
                                 "detail": f"{len(only_db)} ids, e.g. {only_db[:5].tolist()}"})
            if len(only_ix):
                problems.append({"space": name, "problem": "index holds deleted samples",
                                 "detail": f"{len(only_ix)} ids, e.g. {only_ix[:5].tolist()}"})
            if len(ix_all) != len(ix_ids):
                problems.append({"space": name, "problem": "index holds duplicate ids",
                                 "detail": f"{len(ix_all)} entries for {len(ix_ids)} ids"})
            if check_vectors and not len(only_db) and not len(only_ix) and len(db_ids):
                got = self.store.vectors(name, db_ids)
                bad = np.where(np.abs(got - db_vecs).max(axis=1) > 1e-5)[0]
                if len(bad):
                    problems.append({"space": name, "problem": "index vectors differ from registry",
                                     "detail": f"{len(bad)} ids, e.g. {db_ids[bad[:5]].tolist()}"})
        if space is None:
            for stray in self.store.stray_spaces([s["name"] for s in self.spaces()]):
                problems.append({"space": None, "problem": "index of an unknown space", "detail": stray})
        return problems

    def stats(self) -> list[dict]:
        out = []
        for s in self.spaces():
            name = s["name"]
            count = self.conn.execute("SELECT COUNT(*) FROM samples WHERE space = ?", (name,)).fetchone()[0]
            subjects = self.conn.execute("SELECT COUNT(DISTINCT subject_id) FROM samples WHERE space = ?",
                                         (name,)).fetchone()[0]
            current = self.store.has(name, s["generation"])
            desc = self.store.describe(name) if current else {"index_type": "missing", "location": None, "bytes": 0}
            out.append({
                "space": name, "dim": s["dim"], "samples": count, "subjects": subjects,
                "indexed": self.store.count(name) if current else None,
                "index_type": desc["index_type"], "store": self.store.uri,
                "file": desc["location"], "file_bytes": desc["bytes"], "generation": s["generation"],
            })
        return out

    # ------------------------------------------------------------------ search
    def thresholds(self, space: str) -> tuple[float, float]:
        """(match, possible): the latest calibration, else the space's documented default."""
        row = self.conn.execute(
            "SELECT match_threshold, possible_threshold FROM calibrations WHERE space = ? ORDER BY id DESC LIMIT 1",
            (space,)).fetchone()
        return (float(row[0]), float(row[1])) if row else default_thresholds(space)

    def set_thresholds(self, space: str, match: float, possible: float, meta: dict | None = None,
                       command: str | None = None) -> None:
        if possible > match:
            raise UserError(f"possible threshold {possible} is above match threshold {match}")
        with self.transaction():
            self.conn.execute(
                "INSERT INTO calibrations (space, match_threshold, possible_threshold, meta, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (space, float(match), float(possible), json.dumps(meta, default=str) if meta else None, utcnow()))
            self.log_event("calibrate", [], command, {"space": space, "match": match, "possible": possible})

    def search(self, space: str, vectors, k: int = 5, *, collapse: bool = True, kinds: Sequence[str] | None = None,
               exclude_kinds: Sequence[str] | None = None, command: str | None = None,
               log: bool = True) -> list[list[Match]]:
        """Top-``k`` matches per query vector, best first.

        With ``collapse`` (default) a subject appears once, with its best-scoring sample.
        ``kinds`` / ``exclude_kinds`` filter by subject kind (e.g. leave out ``staff``).
        """
        if k < 1:
            raise UserError("k must be at least 1")
        dim = self.space_dim(space)
        q = self._check_vectors(space, vectors, dim)
        self._ensure_current(space)
        match_t, possible_t = self.thresholds(space)
        results: list[list[Match]] = [[] for _ in range(len(q))]
        ntotal = self.store.count(space)
        if ntotal and len(q):
            filtering = collapse or kinds or exclude_kinds
            fetch = min(ntotal, max(k * 4, k + 20) if filtering else k)
            pending = np.arange(len(q))
            while len(pending):
                scores, ids = self.store.search(space, q[pending], fetch)
                subjects = self._subjects_of(space, ids[ids >= 0])
                retry = []
                for row, qi in enumerate(pending):
                    hits = self._assemble(space, scores[row], ids[row], subjects, k, collapse, kinds,
                                          exclude_kinds, match_t, possible_t)
                    if len(hits) < k and fetch < ntotal and (ids[row] >= 0).all():
                        retry.append(qi)
                    else:
                        results[qi] = hits
                pending = np.asarray(retry, dtype=np.int64)
                fetch = min(ntotal, fetch * 4)
        if log:
            with self.transaction():
                self.log_event("search", [m.subject_id for r in results for m in r[:1]], command,
                               {"space": space, "queries": len(q), "k": k,
                                "top": [[m.subject_id, round(m.score, 4)] for r in results for m in r[:1]][:50]})
        return results

    def _sample_owners(self, space: str) -> tuple[np.ndarray, np.ndarray]:
        """Sorted sample ids of a space and their subjects, cached per registry generation."""
        gen = self._generation(space)
        cached = self._owners.get(space)
        if cached is None or cached[0] != gen:
            rows = self.conn.execute("SELECT id, subject_id FROM samples WHERE space = ? ORDER BY id", (space,)).fetchall()
            arr = np.asarray(rows, np.int64).reshape(-1, 2)
            cached = (gen, arr[:, 0].copy(), arr[:, 1].copy())
            self._owners[space] = cached
        return cached[1], cached[2]

    def _subject_info(self) -> dict[int, tuple[str, str]]:
        """Name and kind of every subject, cached until a subject is added, changed or removed."""
        stamp = self.conn.execute("SELECT COUNT(*), MAX(id), MAX(updated_at) FROM subjects").fetchone()
        if self._subjects_cache is None or self._subjects_cache[0] != stamp:
            info = {sid: (name, kind) for sid, name, kind in self.conn.execute("SELECT id, name, kind FROM subjects")}
            self._subjects_cache = (stamp, info)
        return self._subjects_cache[1]

    def _subjects_of(self, space: str, sample_ids: np.ndarray) -> dict[int, tuple[int, str, str]]:
        ids, owners = self._sample_owners(space)
        uniq = np.unique(sample_ids)
        if not len(ids) or not len(uniq):
            return {}
        pos = np.clip(np.searchsorted(ids, uniq), 0, len(ids) - 1)
        found = ids[pos] == uniq  # a hit deleted since the index was read has no owner
        info = self._subject_info()
        return {int(sid): (int(subj), *info[int(subj)]) for sid, subj in zip(uniq[found], owners[pos[found]])
                if int(subj) in info}

    @staticmethod
    def _assemble(space, scores, ids, subjects, k, collapse, kinds, exclude_kinds, match_t, possible_t) -> list[Match]:
        hits: list[Match] = []
        seen: set[int] = set()
        for score, sid in zip(scores, ids):
            if sid < 0 or int(sid) not in subjects:
                continue  # -1 padding, or a sample deleted since the index was read
            subj, name, kind = subjects[int(sid)]
            if kinds and kind not in kinds:
                continue
            if exclude_kinds and kind in exclude_kinds:
                continue
            if collapse:
                if subj in seen:
                    continue
                seen.add(subj)
            s = float(score)
            hits.append(Match(subj, int(sid), space, s, decide(s, match_t, possible_t), name, kind))
            if len(hits) == k:
                break
        return hits
