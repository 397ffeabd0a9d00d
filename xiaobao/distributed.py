"""Batch work in-process or on a Ray cluster, with the same results in the same order.

Decoding and embedding (the expensive, per-item part of enrolment and screening) are mapped
over items; writing results stays in the calling process, in input order, through the
registry, so every single-process guarantee holds: commits per item or chunk, resumable after a
kill, nothing done twice, a bad item reported and skipped.

On Ray, items go through Ray Data's ``map_batches`` with an actor pool: each actor builds its
worker once (loads the model once per worker process) and reuses it for every batch. Without an
address a local Ray is started on this machine's cores.
"""
from __future__ import annotations

import os
import pickle
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from xiaobao.errors import UserError


@dataclass
class ItemError:
    """What went wrong with one item; the batch goes on."""

    message: str
    detail: str = ""


def _run_one(fn: Callable[[Any], Any], item: Any) -> Any:
    try:
        return fn(item)
    except UserError as exc:  # a bad file or row: report it and keep going
        return ItemError(str(exc))
    except Exception as exc:  # noqa: BLE001 - a worker must never take the batch down
        return ItemError(f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=3))


def map_in_process(items: Iterable[Any], worker_factory: Callable[[], Callable[[Any], Any]]) -> Iterator[tuple[int, Any]]:
    """The reference path: one worker, items in order."""
    fn = worker_factory()
    for i, item in enumerate(items):
        yield i, _run_one(fn, item)


class _RayActor:
    """Built once per Ray worker: holds the loaded model for every batch it is given."""

    def __init__(self, factory_blob: bytes):
        from ray import cloudpickle

        self.fn = cloudpickle.loads(factory_blob)()

    def __call__(self, batch: dict) -> dict:
        results = [pickle.dumps(_run_one(self.fn, pickle.loads(bytes(p)))) for p in batch["payload"]]
        return {"i": batch["i"], "result": results}


def ray_init(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to ``address`` (``ray://...`` or ``HOST:PORT``), or start a local Ray."""
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a declared dependency
        raise UserError("--ray needs the ray package (pip install 'ray[data]')") from exc
    if ray.is_initialized():
        return
    # Ray gives its control process 30 s to come up; a busy 2-core machine can need more.
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "180")
    kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True,
                    "configure_logging": False}
    try:
        if address and address != "local":
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), **kwargs)
    except Exception as exc:
        raise UserError(f"--ray {address or 'local'}: cannot start or reach Ray ({exc})") from exc


def map_on_ray(items: Sequence[Any], worker_factory: Callable[[], Callable[[Any], Any]], *,
               address: str | None = None, workers: int | None = None, batch_size: int = 16) -> Iterator[tuple[int, Any]]:
    """Map over a Ray cluster with an actor pool; yields ``(index, result)`` in input order."""
    ray_init(address)
    import ray
    import ray.data
    from ray import cloudpickle

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ds = ray.data.from_items([{"i": i, "payload": pickle.dumps(item)} for i, item in enumerate(items)],
                             override_num_blocks=max(1, min(len(items), n_workers * 4)))
    out = ds.map_batches(
        _RayActor, fn_constructor_args=(cloudpickle.dumps(worker_factory),), batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=n_workers), num_cpus=1, batch_format="numpy",
    )
    for row in out.iter_rows():
        yield int(row["i"]), pickle.loads(row["result"])


def map_items(items: Sequence[Any], worker_factory: Callable[[], Callable[[Any], Any]], *,
              ray: bool | str | None = None, workers: int | None = None, batch_size: int = 16) -> Iterator[tuple[int, Any]]:
    """In-process unless ``ray`` is set (True / "local" for a local Ray, or a cluster address)."""
    if ray:
        address = None if ray is True else str(ray)
        yield from map_on_ray(items, worker_factory, address=address, workers=workers, batch_size=batch_size)
    else:
        yield from map_in_process(items, worker_factory)


class _EmbedWorker:
    """Builds an embedder once (per process or per Ray actor) and embeds chunks of items."""

    def __init__(self, build: Callable, args: tuple, kwargs: dict):
        self.embedder = build(*args, **kwargs)

    def __call__(self, chunk):
        return self.embedder.embed(list(chunk))


def embed_items(items: Sequence[Any], build: Callable, *args, ray: bool | str | None = None, chunk: int = 64,
                **kwargs):
    """``build(*args, **kwargs).embed(items)``, on Ray workers in chunks when ``ray`` is set.

    ``build`` must be importable by workers (a module-level function or class). Rows come back
    in input order, so the caller enrols them exactly as it would in-process.
    """
    import functools

    import numpy as np

    if not ray:
        return build(*args, **kwargs).embed(list(items))
    chunks = [list(items[i:i + chunk]) for i in range(0, len(items), chunk)]
    factory = functools.partial(_EmbedWorker, build, args, kwargs)
    out = []
    for _, got in map_items(chunks, factory, ray=ray, batch_size=1):
        if isinstance(got, ItemError):
            raise UserError(f"--ray: a worker failed to embed: {got.message}")
        out.append(np.asarray(got, np.float32))
    return np.vstack(out)
