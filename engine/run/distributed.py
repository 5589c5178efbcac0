"""Evaluate on a Dask distributed cluster: `kam evaluate --dask tcp://scheduler:8786`
(or `--dask local` for a LocalCluster on this machine).

The client reads the input and sends chunks of raw records to the cluster. Stage A's
normalised chunks stay on the workers as futures; only ids and row numbers come back
(duplicates are found on the client). The whole-portfolio part of the pass runs on the
cluster as a dask dataframe: the known revenues of every chunk, sorted by revenue (ties by
id, then input order), exact partition sums, then each partition's ABC letters from the
exact revenue before it. Stage B evaluates each chunk where its data is. Every worker
process compiles the rules once for the project it received (scattered to all workers),
so the results equal a single-process run line for line.
"""
from __future__ import annotations

import contextlib
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Any

from ..errors import KamError, Problem
from ..plans.store.runs import AccountIn
from ..project.model import Project
from .pipeline import EvaluatedChunk, Finished, _stage_a, _stage_b, _stage_c, close_worker_state
from .portfolio import abc_limits, exact_sum, letters_in_order
from .read import Normalised


def _light(n: Normalised) -> Normalised:
    """What the client needs of a normalised chunk: ids and rows, not records or revenues."""
    return Normalised(n.index, n.read, n.rejected, n.ids, n.source, n.rows, array("d"), totals=n.totals)


# ---- the whole-portfolio part of the pass, as a dask dataframe ----------------------------------

def _revenue_frame(chunk: Normalised, order: int, drop: set[int]) -> Any:
    """One chunk's known revenues (clipped at 0) with what sorts ties: id, then input order."""
    import numpy as np
    import pandas as pd
    revenue = np.frombuffer(chunk.revenue, dtype=np.float64).copy() if len(chunk.revenue) else np.empty(0)
    if drop:
        revenue[sorted(drop)] = np.nan  # a duplicate counts nowhere
    keep = np.flatnonzero(~np.isnan(revenue))
    assert chunk.ids is not None  # a worker's chunk keeps its ids (only the main process compacts)
    return pd.DataFrame({"neg": -np.maximum(revenue[keep], 0.0) + 0.0,  # + 0.0: no -0.0
                         "key": pd.array([str(chunk.ids[i]) for i in keep], dtype=object),
                         "chunk": np.full(len(keep), order, dtype=np.int64),
                         "pos": keep.astype(np.int64)})


def _partition_sum(part: Any) -> Fraction:
    return exact_sum((-part["neg"].to_numpy()).tolist())


def _partition_letters(part: Any, before: Fraction, limits: tuple[Fraction, Fraction]) -> Any:
    import numpy as np
    letters = letters_in_order(-part["neg"].to_numpy(dtype=np.float64), before, limits)
    return part[["chunk", "pos"]].assign(letter=letters)


def _accounts_of(ev: EvaluatedChunk) -> list[AccountIn]:
    return ev.accounts or []


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
                # ":0": the scheduler's HTTP server (which it starts even without a dashboard)
                # takes a free port; its default, 8787, refused a second local cluster
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                            dashboard_address=":0", silence_logs=40)
                self.client = Client(self.cluster)
            else:
                self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise KamError(Problem("--dask", 0, 0, f"cannot reach the Dask scheduler at {address}: {exc}")) from None
        self.project_ref = self.client.scatter(project, broadcast=True)
        self.window = 2 * max(1, len(self.client.scheduler_info().get("workers", {})) or 1)

    def _kept(self, fn: Any, light: Any, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, Any]]:
        """Run `fn` on each task; the result stays on its worker (a future, the handle) and
        only `light(result)` comes back, in order, at most `window` tasks ahead."""
        pending: deque[Any] = deque()
        for t in tasks:
            full = self.client.submit(fn, t, pure=False)
            pending.append((full, self.client.submit(light, full, pure=False)))
            if len(pending) >= self.window:
                full, small = pending.popleft()
                yield full, small.result()
        while pending:
            full, small = pending.popleft()
            yield full, small.result()

    def stage_a(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, Normalised]]:
        return self._kept(_stage_a, _light, tasks)

    def portfolio(self, project: Project, handles: list[Any], stage_a: list[Normalised],
                  drops: dict[int, set[int]]) -> tuple[float, list[bytes]]:
        """Total revenue and ABC on the cluster: a dataframe of every chunk's revenues, sorted
        there; only the partition sums and the letters come back."""
        import dask.dataframe as dd
        import numpy as np
        import pandas as pd
        from dask.base import compute
        from dask.delayed import delayed
        empty = pd.DataFrame({"neg": pd.Series(dtype="float64"), "key": pd.Series(dtype=object),
                              "chunk": pd.Series(dtype="int64"), "pos": pd.Series(dtype="int64")})
        parts = [delayed(_revenue_frame)(h, k, drops.get(n.index, set()))
                 for k, (h, n) in enumerate(zip(handles, stage_a))]
        out = [np.full(len(n.rows), ord(" "), dtype=np.uint8) for n in stage_a]
        if not parts:
            return 0.0, []
        frame = dd.from_delayed(parts, meta=empty, verify_meta=False)
        # sorted once, kept on the workers for both passes over it
        ranked = self.client.persist(frame.sort_values(["neg", "key", "chunk", "pos"])).to_delayed()
        sums = compute(*[delayed(_partition_sum)(p) for p in ranked], scheduler=self.client.get)
        total = sum(sums, Fraction(0))
        if total > 0:
            config = project.portfolio
            limits = abc_limits(config.boundary("abc_a_pct"), config.boundary("abc_b_pct"), total)
            befores, run = [], Fraction(0)
            for s_ in sums:
                befores.append(run)
                run += s_
            lettered = compute(*[delayed(_partition_letters)(p, b, limits)
                                      for p, b in zip(ranked, befores)], scheduler=self.client.get)
            offsets = np.cumsum([0] + [len(n.rows) for n in stage_a])
            flat = np.concatenate(out)
            for part in lettered:
                flat[offsets[part["chunk"].to_numpy()] + part["pos"].to_numpy()] = part["letter"].to_numpy()
            out = np.split(flat, offsets[1:-1])
        return float(total), [o.tobytes() for o in out]

    def stage_b(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, EvaluatedChunk]]:
        """The evaluated results stay on the worker (a future) until stage C."""
        return self._kept(_stage_b, EvaluatedChunk.light, tasks)

    def accounts(self, handle: Any) -> list[AccountIn]:
        return self.client.submit(_accounts_of, handle, pure=False).result()

    def finish(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[Finished]:
        pending: deque[Any] = deque()
        for t in tasks:
            pending.append(self.client.submit(_stage_c, t, pure=False))
            if len(pending) >= self.window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort on shutdown
            self.client.run(close_worker_state)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
