"""The evaluation pipeline over chunks, in one process, a pool of processes, or a Dask cluster.

    read (main, streaming) -> [A] normalise a chunk  -> portfolio pass over the revenue column
                           -> [B] the account's own part of the pass, evaluate a chunk
                                                     -> results lines, in input order

Stage A, the duplicates and the whole-portfolio part of the pass are engine/run/read.py's, the
one way input is read (the commands that read accounts in this process use them too).

Stage A keeps its accepted records out of the main process (a spill file per chunk, or
the chunk's future on a Dask worker) and hands back only what the portfolio pass needs,
so memory stays flat in the number of accounts. Every process compiles the rules once
(durable-rules handles cannot be pickled) and reuses its Evaluator for every chunk.
"""
from __future__ import annotations

import gc
import marshal
import os
import pickle
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from ..plans import reconcile as rc
from ..plans.store.runs import AccountIn, account_in
from ..project.model import Project
from ..result import Moved, Result, StepKey
from ..rules.durable import EngineRuntimeError
from ..rules.evaluate import Evaluator
from . import schedule
from .accounts import reject
from .portfolio import RowPass
from .progress import Clock, Progress
from .read import CHUNK_SIZE, Normalised, TotalsBySums, chunks, duplicates, normalise_chunk, portfolio_pass
from .rejections import Rejections

Counts = tuple[Counter[str], Counter[str], Counter[str]]  # results by risk level, signal, playbook

# ---- per-process state ---------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _evaluator(project: Project, as_of: date, lang: str) -> tuple[Evaluator, RowPass]:
    # the same Project object (one per process: an initializer or a scattered copy) means
    # the same compiled rules; a changed project (e.g. a threshold sweep) is another object
    key = (id(project), as_of, lang)
    if _WORKER.get("key") != key:
        if "evaluator" in _WORKER:
            _WORKER["evaluator"].close()
        _WORKER["evaluator"] = Evaluator(project, as_of, lang)
        _WORKER["row_pass"] = RowPass(project.portfolio)
        _WORKER["key"] = key
    return _WORKER["evaluator"], _WORKER["row_pass"]


def close_worker_state() -> None:
    for variant in _WORKER.pop("variants", {}).values():
        variant.close()
    ev = _WORKER.pop("evaluator", None)
    _WORKER.pop("key", None)
    _WORKER.pop("row_pass", None)
    if ev is not None:
        ev.close()


# ---- stage B: evaluate -----------------------------------------------------------------------

@dataclass
class EvaluatedChunk:
    """A chunk's accounts evaluated. Its results and what the store needs of them (AccountIn)
    wait for stage C in spill files (local workers) or on the worker (Dask): capacity
    scheduling must see every chunk's steps before any date is final."""

    index: int
    count: int  # accounts evaluated
    rejected: list[dict[str, Any]]
    seconds: float = 0.0
    demands: schedule.Demands | None = None  # steps of roles with a capacity (engine/run/schedule.py)
    results_path: str | None = None
    accounts_path: str | None = None
    results: list[Result] | None = None  # in memory: no spill folder (Dask, or a test)
    accounts: list[AccountIn] | None = None
    # lines_only: the lines are spilled at results_path; their risk, signal and playbook counts
    counts: Counts | None = None

    def light(self) -> EvaluatedChunk:
        return EvaluatedChunk(self.index, self.count, self.rejected, self.seconds, self.demands,
                              self.results_path, self.accounts_path)


def evaluate_chunk(project: Project, as_of: date, lang: str, chunk: Normalised, total: float,
                   abc: bytes, drop: set[int], held: dict[str, Any] | None = None,
                   spill_dir: str | None = None, lines_only: bool = False) -> EvaluatedChunk:
    """Evaluate the accepted records of a chunk, given the whole portfolio's total revenue
    and the chunk's ABC classes (one byte per accepted record, b" " for none).

    `lines_only` (a run without a store and documents): stage C would only write the lines
    and move the steps capacity scheduling moves. So the lines are made here and spilled
    as bytes, with the results of only the accounts that have such steps (write_lines).

    `held` (engine/plans/store/runs.py StoreSink.held_back): what for_runs needs to hold back a
    rule that has not held for enough runs: the account is evaluated again without it."""
    started = time.perf_counter()
    if chunk.values is not None:
        accepted = chunk.values
    else:
        assert chunk.spill is not None  # a chunk without its values in memory spilled them
        with open(chunk.spill, "rb") as f:
            accepted = pickle.load(f)
        os.unlink(chunk.spill)
    ev, row_pass = _evaluator(project, as_of, lang)
    letters = [None if c == " " else c for c in abc.decode("ascii")]
    rejected: list[dict[str, Any]] = []
    results: list[Result] = []
    accounts: list[AccountIn] = []
    steps = _capacity_steps(project) if project.capacity else None
    demands = schedule.Demands()
    for_runs = rc.for_runs_of(project) if held else {}
    # lines_only: the accounts (by line) whose steps capacity scheduling may move; such a line
    # is made again from its JSON (write_lines): spilling whole results cost more than the lines
    queued: dict[int, str] = {}
    lines_only = lines_only and spill_dir is not None
    for i, values in enumerate(accepted):
        if i in drop:
            continue
        row_pass.apply(values, total, letters[i])
        try:
            result = ev.evaluate(dict(values) if for_runs else values)
            fired = [f["rule"] for f in result["fired"]]
            pending = _pending(held, for_runs, str(result["account_id"]), fired) if for_runs else {}
            if pending:
                result = _variant(project, as_of, lang, frozenset(pending)).evaluate(values)
        except EngineRuntimeError as exc:
            source, row = chunk.source, chunk.rows[i]
            rejected.append(reject(source, row, values.get("account_id"), [(None, str(exc))]))
            continue
        if steps is not None and result["playbooks"]:
            before = len(demands.steps)
            demands.add(result, steps)
            if lines_only and len(demands.steps) > before:
                queued[len(results)] = str(result["account_id"])
        results.append(result)
        if not lines_only:  # the store's view of the account: no store, no view
            accounts.append(account_in(result, fired, pending))
    out = EvaluatedChunk(chunk.index, len(results), rejected, 0.0, demands if steps is not None else None)
    if lines_only:
        assert spill_dir is not None and not held  # a run without a store
        lines, out.counts = _lines(results)
        out.results_path = _spill(spill_dir, f"lines{chunk.index:06d}.pkl", (lines, queued))
    elif spill_dir is not None:
        out.results_path = _spill(spill_dir, f"results{chunk.index:06d}.pkl", results)
        out.accounts_path = _spill(spill_dir, f"accounts{chunk.index:06d}.pkl", accounts)
    else:
        out.results, out.accounts = results, accounts
    out.seconds = time.perf_counter() - started
    return out


def _capacity_steps(project: Project) -> schedule.CapacitySteps:
    """This process's numbering of the steps whose role has a capacity (one per project)."""
    key = f"capacity-steps-{id(project)}"
    steps = _WORKER.get(key)
    if steps is None:
        steps = _WORKER[key] = schedule.CapacitySteps.of(project)
    return steps


def _pending(held: dict[str, Any] | None, for_runs: dict[str, int], account_id: str,
             fired: list[str]) -> dict[str, int]:
    assert held is not None  # for_runs is empty without held
    if for_runs.keys().isdisjoint(fired):
        return {}
    if "pending" in held:  # a replay: the rules the recorded run held back
        return dict(held["pending"].get(account_id) or {})
    return rc.pending_rules(for_runs, fired, held["past"].get(account_id, ()))


def _variant(project: Project, as_of: date, lang: str, held_back: frozenset[str]) -> Evaluator:
    """This process's evaluator without the rules for_runs holds back (one per set)."""
    key = (id(project), as_of, lang, held_back)
    variants: dict[tuple[Any, ...], Evaluator] = _WORKER.setdefault("variants", {})
    ev = variants.get(key)
    if ev is None:
        variant = replace(project, rules=tuple(r for r in project.rules if r.id not in held_back))
        ev = variants[key] = Evaluator(variant, as_of, lang)
    return ev


_MARSHAL, _PICKLE = b"M", b"P"


def _spill(folder: str, name: str, data: Any) -> str:
    """`data` into a file of this run's spill folder, read back by the same Python. Results
    are plain dicts and lists: marshal writes them ~3x and reads them ~1.5x faster than
    pickle (a chunk's results are written once and read once in every run); what marshal
    cannot write (the accounts' objects) goes through pickle."""
    try:
        blob, kind = marshal.dumps(data), _MARSHAL
    except ValueError:
        blob, kind = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), _PICKLE
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(kind)
        f.write(blob)
    return path


def _unspill(path: str | None) -> Any:
    assert path is not None  # what a chunk does not hold in memory it spilled
    with open(path, "rb") as f:
        kind, blob = f.read(1), f.read()
    os.unlink(path)
    return marshal.loads(blob) if kind == _MARSHAL else pickle.loads(blob)


def chunk_accounts(ev: EvaluatedChunk) -> list[AccountIn]:
    """What the store needs of a chunk (main process, stage C)."""
    return ev.accounts if ev.accounts is not None else _unspill(ev.accounts_path)


# ---- stage C: finish -------------------------------------------------------------------------

@dataclass
class Finished:
    """A chunk's final lines of results.jsonl, its counts, and its plans written."""

    index: int
    lines: bytes
    count: int
    by_risk: Counter[str]
    by_signal: Counter[str]
    by_playbook: Counter[str]
    results: list[Result] | None = None  # the final results (`keep`: a custom renderer's)
    # each account's facts for the digests, summary and report, pickled: a Facts is ~6 KB of
    # objects and ~1 KB pickled, and the main process holds every chunk in flight
    facts: bytes | None = None
    texts: list[tuple[str, str]] = field(default_factory=list)  # plans to write (no shared disk)
    written: int = 0  # plan files written here
    seconds: float = 0.0
    lists: Any = None  # engine.render.worklist.rows.ChunkLists: the chunk's rows of tasks.csv and its events


def finish_chunk(project: Project, as_of: date, lang: str, ev: EvaluatedChunk,
                 moved: Mapping[StepKey, Moved],
                 overlays: list[dict[str, Any] | None] | None, stems: dict[str, str] | None,
                 plans_dir: str | None, keep: bool, lists: Any = None, render: bool = True,
                 bars: Any = None) -> Finished:
    """The chunk's results as the run reports them: capacity scheduling's dates (`moved`),
    the store's plan states (`overlays`, one per account; None: a run without a store),
    written as lines; the plans of the accounts in `stems` rendered (into `plans_dir`, or
    handed back when the worker shares no disk with the output) unless `render` is false;
    with `lists` (engine.render.worklist.Spec) the chunk's tasks and calendar events, which link
    to the plans by `stems`. `bars` (engine.render.aggregate.Bars): what the digests and the
    summary keep so far, past which the accounts' facts leave their entries out."""
    started = time.perf_counter()
    results = ev.results if ev.results is not None else _unspill(ev.results_path)
    if overlays is not None:
        from ..plans.store import overlay as ov
        for r, o in zip(results, overlays):
            ov.apply(project, r, o, lang)
    elif moved:
        for r in results:
            schedule.apply(r, moved)
    lines, counts = _lines(results)
    out = Finished(ev.index, b"\n".join(lines) + (b"\n" if lines else b""), len(lines), *counts,
                   results=results if keep else None)
    if lists is not None:
        from ..render.worklist.chunk import chunk_lists
        out.lists = chunk_lists(project, lang, results, overlays, stems, lists)
    if stems is not None and render:  # kam's documents: the plans, and what the overview needs of each account
        from ..render import plan_renderer
        from ..render.aggregate import account_facts
        renderer = plan_renderer(project, lang)
        facts = []
        out.written, out.texts = renderer.write(
            results, stems, Path(plans_dir) if plans_dir is not None else None,
            lambda r, view: facts.append(account_facts(renderer.words, r, stems.get(r["account_id"], ""), view,
                                                       bars)))
        out.facts = pickle.dumps(facts, pickle.HIGHEST_PROTOCOL)
    out.seconds = time.perf_counter() - started
    return out


def _lines(results: list[Result]) -> tuple[list[bytes], Counts]:
    """A chunk's final results as lines of results.jsonl, and their counts."""
    by_risk: Counter[str] = Counter()
    by_signal: Counter[str] = Counter()
    by_playbook: Counter[str] = Counter()
    lines = []
    for r in results:
        lines.append(orjson.dumps(r))
        by_risk[r["risk_level"]] += 1
        by_signal.update(s["id"] for s in r["signals"])
        by_playbook.update(p["id"] for p in r["playbooks"])
    return lines, (by_risk, by_signal, by_playbook)


def write_lines(project: Project, evaluated: list[tuple[Any, EvaluatedChunk]], moved: list[Any],
                out: BinaryIO) -> Counts:
    """Stage C of a run without a store and documents (evaluate_chunk's `lines_only`), in
    this process: each chunk's lines in input order, those of accounts whose steps capacity
    scheduling moved made again. Returns the risk, signal and playbook counts."""
    steps = schedule.CapacitySteps.of(project) if moved else None
    counts: Counts = (Counter(), Counter(), Counter())
    for k, (_, ev) in enumerate(evaluated):
        lines, queued = _unspill(ev.results_path)
        if steps is not None and ev.demands is not None:
            chunk_moved = schedule.moved_of(ev.demands, moved[k], steps, project.calendar.next_working_day)
            ev.demands = moved[k] = None  # scheduled: the columns can go
            if chunk_moved:
                accounts = {key[0] for key in chunk_moved}
                for i, account in queued.items():
                    if account in accounts:  # orjson reads back what it wrote: the same line, moved
                        lines[i] = orjson.dumps(schedule.apply(orjson.loads(lines[i]), chunk_moved))
        if lines:
            out.write(b"\n".join(lines))
            out.write(b"\n")
        assert ev.counts is not None  # lines_only chunks carry their counts
        for total, part in zip(counts, ev.counts):
            total.update(part)
    return counts


# ---- executors -------------------------------------------------------------------------------

class Executor(Protocol):
    """Runs the two stages over chunks, in order. `project_ref` is what tasks receive as
    the project: the object itself, None (the worker already holds it), or a Dask future."""

    spills: bool
    project_ref: Any

    def stage_a(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, Normalised]]: ...

    def portfolio(self, project: Project, handles: list[Any], stage_a: list[Normalised],
                  drops: dict[int, set[int]]) -> tuple[float, list[bytes]]: ...

    def stage_b(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, EvaluatedChunk]]: ...

    def accounts(self, handle: Any) -> list[AccountIn]: ...

    def finish(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[Finished]: ...

    def close(self) -> None: ...


class Inline:
    """No parallelism: the chunks run in this process."""

    spills = True

    def __init__(self, project: Project):
        self.project_ref = project

    def stage_a(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, Normalised]]:
        for t in tasks:
            n = _stage_a(t)
            yield n, n

    def portfolio(self, project: Project, handles: list[Any], stage_a: list[Normalised],
                  drops: dict[int, set[int]]) -> tuple[float, list[bytes]]:
        return portfolio_pass(project, stage_a, drops)

    def stage_b(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, EvaluatedChunk]]:
        for t in tasks:
            ev = _stage_b(t)
            yield ev, ev

    def accounts(self, handle: Any) -> list[AccountIn]:
        return chunk_accounts(handle)

    def finish(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[Finished]:
        return map(_stage_c, tasks)

    def close(self) -> None:
        close_worker_state()


class Processes:
    """A pool of local worker processes (the C engine never releases the GIL)."""

    spills = True
    project_ref = None  # each worker gets the project once, from the initializer

    def __init__(self, workers: int, project: Project):
        import concurrent.futures
        import multiprocessing
        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx,
                                                           initializer=_init_worker, initargs=(project,))
        self.workers = workers

    def _ordered(self, fn: Callable[[tuple[Any, ...]], Any], tasks: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        # bounded look-ahead keeps memory flat: at most 2 chunks per worker in flight
        from collections import deque
        pending: deque[Any] = deque()
        for t in tasks:
            pending.append(self.pool.submit(fn, t))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def stage_a(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, Normalised]]:
        for n in self._ordered(_stage_a, tasks):
            yield n, n

    def portfolio(self, project: Project, handles: list[Any], stage_a: list[Normalised],
                  drops: dict[int, set[int]]) -> tuple[float, list[bytes]]:
        return portfolio_pass(project, stage_a, drops)

    def stage_b(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, EvaluatedChunk]]:
        for ev in self._ordered(_stage_b, tasks):
            yield ev, ev

    def accounts(self, handle: Any) -> list[AccountIn]:
        return chunk_accounts(handle)

    def finish(self, tasks: Iterable[tuple[Any, ...]]) -> Iterator[Finished]:
        return self._ordered(_stage_c, tasks)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def _init_worker(project: Project) -> None:
    _WORKER["project"] = project  # sent once per worker, not with every chunk


def _project(project: Project | None) -> Project:
    return project if project is not None else _WORKER["project"]


# ---- the run ---------------------------------------------------------------------------------

@dataclass
class PipelineOutput:
    read: int = 0
    evaluated: int = 0
    rejected: Rejections = field(default_factory=Rejections)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    evaluated_chunks: list[tuple[Any, EvaluatedChunk]] = field(default_factory=list)  # (handle, light), in order


def read_and_evaluate(project: Project, inputs: list[Path], as_of: date, lang: str,
                      executor: Any, spill_dir: Path | None, sheet: str | None = None,
                      progress: Progress | None = None, chunk_size: int = CHUNK_SIZE,
                      held_back: Callable[[list[Any]], dict[str, Any] | None] | None = None,
                      lines_only: bool = False) -> PipelineOutput:
    """Stages A and B over every record of the inputs: the evaluated chunks wait (spilled, or
    on their Dask worker) for stage C (finish_pipeline). Reports the phases read (records),
    portfolio and rules (accounts) to `progress`. `held_back(account ids)`: what for_runs
    needs of the store for a chunk (StoreSink.held_back). `lines_only`: stage C will only
    write results.jsonl (write_lines), so stage B makes the lines (evaluate_chunk)."""
    out = PipelineOutput(rejected=Rejections(spill_dir))
    reading = Clock(progress, "read", "records")
    spill = str(spill_dir) if (spill_dir is not None and executor.spills) else None
    stage_a: list[Normalised] = []
    handles: list[Any] = []
    ref = executor.project_ref
    tasks = ((ref, i, recs, dc, spill)
             for i, (recs, dc) in enumerate(chunks(project, inputs, sheet, out.ignored_columns, chunk_size)))
    totals = TotalsBySums(project)
    # stage A runs while the main process reads: the generator feeds the executor lazily
    for handle, norm in executor.stage_a(tasks):
        norm.compact()
        handles.append(handle)
        stage_a.append(norm)
        out.read += norm.read
        totals.relabel(norm)  # the chunks come in input order
        out.rejected.add(norm.rejected)
        norm.rejected = []
        reading.tick(out.read)
    read_seconds = reading.end(out.read)
    passing = Clock(progress, "portfolio", "accounts")
    drops = duplicates(stage_a, lambda _, r: out.rejected.add([r]))
    total = sum(len(n.rows) for n in stage_a) - sum(len(d) for d in drops.values())

    # the whole-portfolio part of the pass: the total revenue and ABC classes. Each account
    # counts once: duplicates (rejected) are left out
    revenue, abc = executor.portfolio(project, handles, stage_a, drops)
    held = held_back([]) if held_back is not None else None  # None: the project has no for_runs
    for n in stage_a:  # duplicates and the pass are done: rows are all the main process keeps
        n.revenue, n.hashes = array("d"), array("q")
        if held is None:
            n.ids_pickled = b""
    _release_memory()
    portfolio_seconds = passing.end(total)
    evaluating = Clock(progress, "rules", "accounts", total)
    done = 0
    cpu_seconds = 0.0  # the chunks' own times, summed over the workers

    def task(h: Any, n: Normalised, letters: bytes) -> tuple[Any, ...]:
        drop = drops.get(n.index, set())
        chunk_held = None
        if held is not None:
            ids = [a for i, a in enumerate(n.account_ids()) if i not in drop]
            n.ids_pickled = b""
            chunk_held = held_back(ids)  # type: ignore[misc]
        return (ref, as_of, lang, h, revenue, letters, drop, chunk_held, spill, lines_only)

    for handle, ev in executor.stage_b(task(h, n, letters) for h, n, letters in zip(handles, stage_a, abc)):
        cpu_seconds += ev.seconds
        out.rejected.add(ev.rejected)
        ev.rejected = []
        out.evaluated += ev.count
        out.evaluated_chunks.append((handle, ev))
        done += len(stage_a[ev.index].rows) - len(drops.get(ev.index, ()))
        evaluating.tick(done)
    rules_seconds = evaluating.end(done)
    out.timings = {"read": round(read_seconds, 3), "portfolio": round(portfolio_seconds, 3),
                   "rules": round(rules_seconds, 3), "rules_cpu": round(cpu_seconds, 3)}
    return out


def _release_memory() -> None:
    """Give freed heap back to the system when it has piled up (glibc keeps it otherwise, and
    a worker's resident memory would creep up with the number of chunks it has seen). Only
    past a margin: trimming after every chunk costs page faults when the next chunk starts."""
    global _TRIM, _TRIMMED_AT
    if _TRIM is None:
        try:
            import ctypes
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to do
            _TRIM = False
    if not _TRIM:
        return
    try:
        with open("/proc/self/statm", "rb") as f:
            resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        resident = _TRIMMED_AT + _TRIM_MARGIN + 1  # cannot tell: trim
    if resident > _TRIMMED_AT + _TRIM_MARGIN:
        _TRIM(0)
        try:
            with open("/proc/self/statm", "rb") as f:
                _TRIMMED_AT = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            _TRIMMED_AT = 0


_TRIM: Any = None
_TRIMMED_AT = 0  # resident bytes after the last trim
_TRIM_MARGIN = 32 << 20


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A chunk makes tens of thousands of short-lived dicts and no reference cycles: the
    cyclic collector, triggered every 700 allocations and scanning every live chunk
    object, only costs time here (measured: a result record took twice as long)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _stage_a(args: tuple[Any, ...]) -> Normalised:
    project, index, records, decimal_comma, spill = args
    with _gc_paused():
        return normalise_chunk(_project(project), index, records, decimal_comma, spill)


def _stage_b(args: tuple[Any, ...]) -> EvaluatedChunk:
    project, *rest = args
    with _gc_paused():
        out = evaluate_chunk(_project(project), *rest)
    _release_memory()
    return out


def _stage_c(args: tuple[Any, ...]) -> Finished:
    project, *rest = args
    with _gc_paused():
        out = finish_chunk(_project(project), *rest)
    _release_memory()
    return out
