"""Evaluate on a Dask distributed cluster: `kam evaluate --dask tcp://scheduler:8786`
(or `--dask local` for a LocalCluster on this machine).

The client reads the input and sends chunks of raw records to the cluster. Stage A's
normalised chunks stay on the workers as futures; only the portfolio columns come back.
The portfolio pass runs on the client over those few columns (shares, ABC ranks and
KAISM need the whole portfolio's order), and stage B evaluates each chunk where its
data is. Every
worker process compiles the rules once for the project it received (scattered to all
workers), so the results equal a single-process run line for line.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Iterator

from .errors import KamError, Problem
from .model import Project
from .pipeline import Evaluated, Normalised, _stage_a, _stage_b, close_worker_state


def _light(n: Normalised) -> Normalised:
    """What the client needs of a normalised chunk: everything but the records."""
    return Normalised(n.index, n.read, n.rejected, n.ids, n.source, n.rows, n.columns)


class DaskExecutor:
    spills = False  # workers may not share a disk with the client: data stays in futures

    def __init__(self, address: str, project: Project, workers: int = 2):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is a dependency
            raise KamError(Problem("--dask", 0, 0, "dask[distributed] is not installed")) from None
        self.cluster = None
        try:
            if address == "local":
                # one thread per worker: durable-rules' C engine never releases the GIL
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
                self.client = Client(self.cluster)
            else:
                self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise KamError(Problem("--dask", 0, 0, f"cannot reach the Dask scheduler at {address}: {exc}")) from None
        self.project_ref = self.client.scatter(project, broadcast=True)
        self.window = 2 * max(1, len(self.client.scheduler_info().get("workers", {})) or 1)

    def stage_a(self, tasks: Iterable[tuple]) -> Iterator[tuple[Any, Normalised]]:
        pending: deque = deque()
        for t in tasks:
            full = self.client.submit(_stage_a, t, pure=False)
            pending.append((full, self.client.submit(_light, full, pure=False)))
            if len(pending) >= self.window:
                full, light = pending.popleft()
                yield full, light.result()
        while pending:
            full, light = pending.popleft()
            yield full, light.result()

    def stage_b(self, tasks: Iterable[tuple]) -> Iterator[Evaluated]:
        pending: deque = deque()
        for t in tasks:
            pending.append(self.client.submit(_stage_b, t, pure=False))
            if len(pending) >= self.window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        try:
            self.client.run(close_worker_state)
        except Exception:  # noqa: BLE001 - best effort on shutdown
            pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
