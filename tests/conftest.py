import pytest

from xiaobao import Workspace

BACKENDS = ["faiss", "milvus-lite"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def make_ws(tmp_path, backend):
    """Open a workspace on the parametrised vector store (FAISS files or a Milvus Lite file)."""
    opened = []

    def _make(name="ws", **kw):
        spec = "faiss" if backend == "faiss" else "milvus-lite:milvus.db"
        w = Workspace(tmp_path / name, vector_store=spec, **kw)
        opened.append(w)
        return w

    yield _make
    for w in opened:
        w.close()
