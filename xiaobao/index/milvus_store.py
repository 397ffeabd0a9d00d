"""Milvus as the vector store, for watchlists and interaction volumes past one machine.

The same ``pymilvus`` client talks to Milvus Lite in a local file (``milvus-lite:PATH``, tests
and single-machine trials) and to a Milvus server or cluster (``milvus://HOST:PORT``, token in
``$XIAOBAO_MILVUS_TOKEN``). One collection per space (its dimension, COSINE metric, primary key =
the registry's sample id), named with the workspace's id so several workspaces can share a server.
A small meta collection records which registry generation each space's collection reflects; it
is written after the data, so a crash in between is seen as stale and rebuilt from the registry.

Index type by size: FLAT (exact) up to the workspace's approximate threshold, IVF_FLAT above it
with the same nlist/nprobe rule as the FAISS store.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from xiaobao.errors import UserError
from xiaobao.index.faiss_store import ivf_params, tune_nprobe
from xiaobao.index.vector_store import VectorStore

_BATCH = 5000


def _collection_name(namespace: str, space: str) -> str:
    # Milvus names allow letters, digits and underscores; a hash keeps distinct spaces distinct.
    safe = re.sub(r"[^A-Za-z0-9]", "_", space)[:120]
    digest = hashlib.sha1(space.encode()).hexdigest()[:6]
    return f"xb_{namespace[:12]}_{safe}_{digest}"


def _lite_lock_held(path: Path) -> bool:
    """True when a live process holds Milvus Lite's lock on ``path`` (its own server is running)."""
    import fcntl
    lock = path.parent / f".{path.name}.lock"
    if not lock.exists():
        return False
    with open(lock, "a") as fd:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN)
    return False


def _quiet_lite() -> None:
    """Keep two harmless Milvus Lite notices off every command's stderr: its own import warns that
    pkg_resources is deprecated, and its iterator logs that a Lite server has no MVCC timestamp."""
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import milvus_lite  # noqa: F401 - imported here, once, under the filter
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)


def _open_lite(client_cls, path: Path, spec: str):
    """Open a Milvus Lite file, waiting out a server orphaned by a killed process.

    Milvus Lite runs a server process per file and that server stops itself once the owner's lock
    is gone. After the owner was killed, the orphan can hold the file for a few seconds; a live
    owner is a different case (one process at a time) and fails at once.
    """
    import time
    deadline = time.monotonic() + float(os.environ.get("XIAOBAO_MILVUS_LITE_WAIT", "60"))
    while True:
        try:
            return client_cls(str(path))
        except Exception as exc:
            if _lite_lock_held(path) or time.monotonic() > deadline:
                raise UserError(
                    f"--vector-store {spec}: cannot open {path} ({exc}); Milvus Lite serves one process "
                    "at a time, so for concurrent writers use a Milvus server (milvus://HOST:PORT)") from exc
            time.sleep(0.5)


class MilvusVectorStore(VectorStore):
    def __init__(self, spec: str, home: Path, approx_threshold: int, namespace: str = "default"):
        try:
            from pymilvus import DataType, MilvusClient
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise UserError("the Milvus store needs pymilvus (pip install 'pymilvus' 'milvus-lite')") from exc
        self._DataType = DataType
        self.approx_threshold = approx_threshold
        self.namespace = namespace
        if spec.startswith("milvus-lite:"):
            path = Path(spec.split(":", 1)[1] or "milvus.db")
            if not path.is_absolute():
                path = home / path
            if path.suffix != ".db":
                raise UserError(f"--vector-store {spec}: a Milvus Lite file name must end in .db")
            path.parent.mkdir(parents=True, exist_ok=True)
            _quiet_lite()
            self.client = _open_lite(MilvusClient, path, spec)
            self.uri = f"milvus-lite:{path}"
            self._lite_path = str(path)
        else:
            uri = spec.replace("milvus://", "http://", 1) if spec.startswith("milvus://") else spec
            try:
                self.client = MilvusClient(uri=uri, token=os.environ.get("XIAOBAO_MILVUS_TOKEN", ""))
            except Exception as exc:
                raise UserError(f"--vector-store {spec}: cannot connect to Milvus ({exc})") from exc
            self.uri = spec
            self._lite_path = None
        self.meta = f"xb_{namespace[:12]}_meta"
        self._loaded: set[str] = set()
        self._ensure_meta()

    def _load(self, name: str) -> bool:
        """Collections come back 'released' when a client reconnects; load once per process."""
        if name in self._loaded:
            return True
        if not self.client.has_collection(name):
            return False
        self.client.load_collection(name)
        self._loaded.add(name)
        return True

    # ------------------------------------------------------------------ meta
    def _ensure_meta(self) -> None:
        if self._load(self.meta):
            return
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("space", self._DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("generation", self._DataType.INT64)
        schema.add_field("index_type", self._DataType.VARCHAR, max_length=64)
        # kept here because count(*) is a full scan on Milvus Lite
        schema.add_field("count", self._DataType.INT64)
        # IVF search breadth tuned at build time, as for the FAISS store
        schema.add_field("nprobe", self._DataType.INT64)
        schema.add_field("v", self._DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
        index = self.client.prepare_index_params()
        index.add_index(field_name="v", index_type="FLAT", metric_type="L2")
        self.client.create_collection(self.meta, schema=schema, index_params=index, consistency_level="Strong")
        self._loaded.add(self.meta)

    def _meta(self, space: str) -> dict | None:
        rows = self.client.get(self.meta, ids=[space], output_fields=["generation", "index_type", "count", "nprobe"])
        return rows[0] if rows else None

    def _set_meta(self, space: str, generation: int, index_type: str, count: int, nprobe: int = 0) -> None:
        self.client.upsert(self.meta, [{"space": space, "generation": int(generation), "index_type": index_type,
                                        "count": int(count), "nprobe": int(nprobe), "v": [0.0, 0.0]}])

    # ------------------------------------------------------------------ interface
    def has(self, space: str, generation: int) -> bool:
        meta = self._meta(space)
        return bool(meta and int(meta["generation"]) == generation
                    and self._load(_collection_name(self.namespace, space)))

    def _insert(self, name: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        for s in range(0, len(ids), _BATCH):
            self.client.insert(name, [{"id": int(i), "vector": v} for i, v in
                                      zip(ids[s:s + _BATCH], vectors[s:s + _BATCH].tolist())])

    def apply(self, space, dim, prev_generation, new_generation, add=None, remove=None) -> bool:
        meta = self._meta(space)
        name = _collection_name(self.namespace, space)
        if not meta or int(meta["generation"]) != prev_generation or not self._load(name):
            return False
        count = int(meta["count"])
        if add is not None:
            if meta["index_type"] == "FLAT" and count + len(add[0]) > self.approx_threshold:
                return False  # grows past the exact range: rebuild with an IVF index
            self._insert(name, add[0], add[1])
            count += len(add[0])
        if remove is not None and len(remove):
            for s in range(0, len(remove), _BATCH):
                self.client.delete(name, ids=[int(i) for i in remove[s:s + _BATCH]])
            count -= len(remove)  # the registry only removes ids it holds, and so do we
        self._set_meta(space, new_generation, meta["index_type"], count, meta.get("nprobe") or 0)
        return True

    def rebuild(self, space, dim, generation, ids, vectors, labels=None) -> None:
        name = _collection_name(self.namespace, space)
        if self.client.has_collection(name):
            self.client.drop_collection(name)
        self._loaded.discard(name)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", self._DataType.INT64, is_primary=True)
        schema.add_field("vector", self._DataType.FLOAT_VECTOR, dim=int(dim))
        index = self.client.prepare_index_params()
        if len(ids) > self.approx_threshold:
            nlist, _ = ivf_params(len(ids))
            index_type = "IVF_FLAT"
            index.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="COSINE",
                            params={"nlist": nlist})
        else:
            index_type = "FLAT"
            index.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE")
        self.client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        self._loaded.add(name)
        self._insert(name, np.asarray(ids, np.int64), np.asarray(vectors, np.float32))
        nprobe = 0
        if index_type == "IVF_FLAT":
            nprobe = tune_nprobe(lambda q, k, p: self._search(name, q, k, {"nprobe": p}), ivf_params(len(ids))[0],
                                 np.ascontiguousarray(vectors, np.float32), np.asarray(ids, np.int64), labels)
        self._set_meta(space, generation, index_type, len(ids), nprobe)

    def search(self, space, queries, k):
        meta = self._meta(space) or {}
        extra = {"nprobe": int(meta.get("nprobe") or ivf_params(int(meta["count"]))[1])} \
            if meta.get("index_type") == "IVF_FLAT" else None
        scores, ids = self._search_scored(_collection_name(self.namespace, space), queries, k, extra)
        return scores, ids

    def _search(self, name, queries, k, extra):
        return self._search_scored(name, queries, k, extra)[1]

    def _search_scored(self, name, queries, k, extra):
        n = len(queries)
        params: dict = {"metric_type": "COSINE"}
        if extra:
            params["params"] = extra
        scores = np.full((n, k), -np.inf, np.float32)
        ids = np.full((n, k), -1, np.int64)
        res = self.client.search(name, data=np.asarray(queries, np.float32).tolist(), limit=int(k),
                                 search_params=params, output_fields=[], consistency_level="Strong")
        for row, hits in enumerate(res):
            for col, hit in enumerate(hits[:k]):
                ids[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, ids

    def count(self, space) -> int:
        meta = self._meta(space)
        return int(meta["count"]) if meta and self._load(_collection_name(self.namespace, space)) else 0

    def ids(self, space) -> np.ndarray:
        name = _collection_name(self.namespace, space)
        if not self._load(name):
            return np.zeros(0, np.int64)
        out: list[int] = []
        it = self.client.query_iterator(name, batch_size=10000, filter="id >= -9223372036854775807",
                                        output_fields=["id"])
        while True:
            batch = it.next()
            if not batch:
                it.close()
                break
            out.extend(int(r["id"]) for r in batch)
        return np.sort(np.asarray(out, np.int64))

    def vectors(self, space, ids) -> np.ndarray:
        name = _collection_name(self.namespace, space)
        got: dict[int, list] = {}
        for s in range(0, len(ids), _BATCH):
            for r in self.client.get(name, ids=[int(i) for i in ids[s:s + _BATCH]], output_fields=["vector"]):
                got[int(r["id"])] = r["vector"]
        return np.asarray([got[int(i)] for i in ids], np.float32)

    def describe(self, space) -> dict:
        meta = self._meta(space) or {}
        return {"index_type": (meta.get("index_type") or "missing").lower().replace("_", "-"),
                "location": f"{self.uri}#{_collection_name(self.namespace, space)}", "bytes": None}

    def drop(self, space) -> None:
        name = _collection_name(self.namespace, space)
        if self.client.has_collection(name):
            self.client.drop_collection(name)
        self.client.delete(self.meta, ids=[space])

    def stray_spaces(self, known: list[str]) -> list[str]:
        names = {_collection_name(self.namespace, s) for s in known} | {self.meta}
        prefix = f"xb_{self.namespace[:12]}_"
        return [c for c in self.client.list_collections() if c.startswith(prefix) and c not in names]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead connection is not worth failing over
            pass
        if self._lite_path:
            # Milvus Lite runs in this process and holds a lock on its file until released.
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self._lite_path)
