"""The one small interface between the registry and a vector store.

The registry (SQLite) owns every vector and a generation counter per space, bumped in the same
transaction as each change. A store holds a copy for search and knows which generation it
reflects; whenever that differs from the registry's, the workspace rebuilds the store's copy of
the space from the registry. So a store can always be thrown away and restored, and a process
killed between the SQLite commit and the store write never leaves searches on stale data.

Implementations: :class:`xiaobao.index.faiss_store.FaissVectorStore` (default, files in the
workspace) and :class:`xiaobao.index.milvus_store.MilvusVectorStore` (Milvus Lite file or a
Milvus server), chosen by :func:`open_vector_store`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from xiaobao.errors import UserError


class VectorStore(ABC):
    """add / remove / search / count / rebuild, per space, with the registry generation it reflects."""

    uri: str = ""

    @abstractmethod
    def has(self, space: str, generation: int) -> bool:
        """True when the store holds ``space`` exactly as of this registry generation (and has it ready)."""

    @abstractmethod
    def apply(self, space: str, dim: int, prev_generation: int, new_generation: int,
              add: tuple[np.ndarray, np.ndarray] | None = None, remove: np.ndarray | None = None) -> bool:
        """Apply one change incrementally if the store is at ``prev_generation``; False if it is not
        (the caller then rebuilds)."""

    @abstractmethod
    def rebuild(self, space: str, dim: int, generation: int, ids: np.ndarray, vectors: np.ndarray,
                labels: np.ndarray | None = None) -> None:
        """Replace the store's copy of ``space`` with exactly these rows (``labels``: their subjects,
        for tuning approximate search on subject-level agreement)."""

    @abstractmethod
    def search(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each [n, k]; missing hits are id -1."""

    @abstractmethod
    def count(self, space: str) -> int:
        ...

    @abstractmethod
    def ids(self, space: str) -> np.ndarray:
        """Every id held for ``space`` (sorted); duplicates kept so verify can see them."""

    @abstractmethod
    def vectors(self, space: str, ids: np.ndarray) -> np.ndarray:
        ...

    @abstractmethod
    def describe(self, space: str) -> dict:
        """index_type, location and size, for ``index stats``."""

    def drop(self, space: str) -> None:  # pragma: no cover - optional
        """Forget a space entirely."""

    def stray_spaces(self, known: list[str]) -> list[str]:
        """Spaces the store holds that the registry does not know."""
        return []

    def close(self) -> None:
        pass


def open_vector_store(spec: str | None, home: Path, approx_threshold: int, namespace: str = "default") -> VectorStore:
    """``faiss`` (default), ``milvus-lite:PATH`` or ``milvus://HOST:PORT``."""
    spec = (spec or "faiss").strip()
    if spec == "faiss":
        from xiaobao.index.faiss_store import FaissVectorStore

        return FaissVectorStore(home / "indexes", approx_threshold)
    if spec.startswith("milvus-lite:") or spec.startswith("milvus://") or spec.startswith("http"):
        from xiaobao.index.milvus_store import MilvusVectorStore

        return MilvusVectorStore(spec, home, approx_threshold, namespace)
    raise UserError(f"--vector-store {spec!r}: use faiss, milvus-lite:PATH or milvus://HOST:PORT")
