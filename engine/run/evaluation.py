"""A whole evaluation run: read -> validate records -> portfolio pass -> rules -> write.

Every input record ends in exactly one of results.jsonl and rejected.jsonl.
"""
from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import KamError, Problem
from ..io.writers import AtomicDir, inside, read_marker, safe_name
from ..plans.store import Store
from ..plans.store.plans import booked_steps
from ..plans.store.runs import StoreSink, run_recorded
from ..project.model import Project
from ..render import overview, write_overview_of
from ..render import write_documents as render_documents
from ..result import Moved, Result, StepKey
from . import schedule
from .pipeline import Inline, Processes, read_and_evaluate, write_lines
from .progress import Clock, Progress
from .read import CHUNK_SIZE
from .rejections import Rejections


@dataclass(frozen=True)
class Gate:
    """The data-quality gate: a run that rejects more than `max_pct` % of its records fails,
    so that a broken export does not pass as a quiet week."""

    read: int
    rejected: int
    max_pct: float
    reason: str | None = None  # the most common reason a record was rejected for
    reason_count: int = 0

    @property
    def pct(self) -> float:
        return 100 * self.rejected / self.read if self.read else 0.0

    @property
    def passed(self) -> bool:
        return self.pct <= self.max_pct

    def summary(self) -> dict[str, Any]:
        return {"rejected_pct": round(self.pct, 2), "max_rejected_pct": self.max_pct, "passed": self.passed,
                "most_common": {"reason": self.reason, "count": self.reason_count} if self.reason else None}


def quality_gate(read: int, rejected: Rejections, max_pct: float) -> Gate:
    """The gate's verdict; the reasons are counted per field and message (`status: 'Активный'
    is not one of active, lost`), so a column the export broke stands out."""
    # totals and subtotal rows of an export (engine/io/totals.py) are no accounts and no sign
    # of a broken export: they count on neither side of the share
    top = rejected.most_common()
    return Gate(read - rejected.totals_rows, rejected.data_rows, max_pct, *(top if top else (None, 0)))


@dataclass
class RunReport:
    read: int
    evaluated: int
    rejected: int
    by_risk: Counter[str]
    by_signal: Counter[str]
    by_playbook: Counter[str]
    ignored_columns: dict[str, list[str]]
    out_dir: Path
    gate: Gate
    timings: dict[str, float] = field(default_factory=dict)
    documents: int = 0
    totals_rows: int = 0  # of the rejected: totals and subtotal rows of the inputs (engine/io/totals.py)

    def summary(self) -> dict[str, Any]:
        return {"accounts_read": self.read, "evaluated": self.evaluated, "rejected": self.rejected,
                "totals_rows": self.totals_rows,
                "by_risk_level": dict(sorted(self.by_risk.items())),
                "by_signal": dict(sorted(self.by_signal.items(), key=lambda kv: (-kv[1], kv[0]))),
                "by_playbook": dict(sorted(self.by_playbook.items(), key=lambda kv: (-kv[1], kv[0]))),
                "ignored_columns": self.ignored_columns,
                "quality_gate": self.gate.summary(), "documents": self.documents, "timings": self.timings}


def make_executor(project: Project, workers: int = 1, dask: str | None = None) -> Any:
    """Where the chunks run: this process, local worker processes, or a Dask cluster."""
    if dask:
        from .distributed import DaskExecutor
        return DaskExecutor(dask, project)
    if workers > 1:
        return Processes(workers, project)
    return Inline(project)


def evaluate_portfolio(project: Project, inputs: list[Path], out_dir: Path, as_of: date,
                       lang: str | None = None,
                       progress: Progress | None = None,
                       write_documents: Callable[..., None] | None = None,
                       sheet: str | None = None, workers: int = 1, dask: str | None = None,
                       chunk_size: int = CHUNK_SIZE, store: Store | None = None,
                       max_rejected: float | None = None) -> RunReport:
    """Evaluate every account of the inputs and write the output folder atomically; documents
    are written when `write_documents` is given (engine.render.write_documents).

    Accounts stream through in chunks, in three stages (engine/run/pipeline.py): A normalises,
    B evaluates, C finishes — after capacity scheduling has seen every chunk's steps, the
    store (a sink, engine/plans/store/runs.py) reconciles each chunk in input order in this
    process while the workers write its lines and render its plans. Memory stays flat in the
    number of accounts.

    A run that rejects more than `max_rejected` % of its records (default: the project's)
    fails the quality gate (`report.gate`): its output folder has results.jsonl,
    rejected.jsonl and summary.json but no documents, and the store is left as it was.
    Recorded, a broken export would resolve the plans of every account it lost.

    `progress` hears of every phase (engine/run/progress.py): read, portfolio, rules, store (with
    a store), documents and output."""
    lang = lang or project.language
    # kam's renderer renders plans where their chunk is and the rest from what each chunk hands
    # back; another callable (a test's, an embedding's) is given every final result at the end
    documents = write_documents is not None
    custom = documents and write_documents is not render_documents
    if store is not None:
        refuse_store_inside(store.path, out_dir)
    executor = make_executor(project, workers, dask)
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_GC_EVERY, *thresholds[1:])
    sink = None
    output = AtomicDir(out_dir, committed=run_recorded)
    try:
        with output as staging:
            spill = staging / ".spill"
            spill.mkdir()
            # the stateless batch: stage C would only write the lines, so stage B makes them
            # (no results spilled and read back, no worker round trip)
            lines_only = store is None and not documents and executor.spills
            if store is not None:
                sink = StoreSink(store, project, as_of, inputs, sheet)
                if not store.dry_run:
                    output.record({"store": str(Path(store.path).resolve()), "run_key": sink.key,
                                   "run_id": sink.info.run_id})
            out = read_and_evaluate(project, [Path(p) for p in inputs], as_of, lang, executor, spill, sheet=sheet,
                                    progress=progress, chunk_size=chunk_size,
                                    held_back=sink.held_back if sink is not None else None,
                                    lines_only=lines_only)
            gc.freeze()  # the chunks' records, rejections and steps: long-lived, scanned no more
            gate = quality_gate(out.read, out.rejected,
                                project.max_rejected if max_rejected is None else max_rejected)
            if not gate.passed and sink is not None:
                sink.abort()  # nothing recorded: the store stays as it was
                sink = None
            moved = _schedule(project, out.evaluated_chunks, as_of, store if sink is not None else None)
            docs = documents and gate.passed
            report = RunReport(out.read, out.evaluated, out.rejected.count, Counter(), Counter(), Counter(),
                               out.ignored_columns, out_dir, gate, timings=out.timings)
            assert report.evaluated + report.rejected == report.read, "every record is evaluated or rejected"
            if lines_only:
                started = time.perf_counter()
                with (staging / "results.jsonl").open("wb") as f:
                    for total, part in zip((report.by_risk, report.by_signal, report.by_playbook),
                                           write_lines(project, out.evaluated_chunks, moved, f)):
                        total.update(part)
                report.timings["lines"] = round(time.perf_counter() - started, 3)
                finished = _Finished()
            else:
                finished = finish_pipeline(project, executor, out.evaluated_chunks, staging, as_of, lang, moved,
                                           sink, docs and not custom, docs and custom, progress, report,
                                           worklist=docs)
            report.totals_rows = out.rejected.totals_rows
            _write_rejected(staging / "rejected.jsonl", out.rejected)  # merges its runs from .spill
            shutil.rmtree(spill, ignore_errors=True)
            if docs and custom:
                rendering = Clock(progress, "documents", "files")
                before = _count_files(staging)
                write_documents(project, finished.results, staging, lang, progress=rendering.tick)  # type: ignore[misc]
                report.documents = _count_files(staging) - before + finished.documents  # + tasks, calendars
                report.timings["render"] = round(rendering.end(report.documents), 3)
            elif docs:
                if sink is not None and store is not None:  # the report's Outcomes section
                    started = time.perf_counter()
                    finished.overview.outcomes = plan_outcomes(store, project)
                    report.timings["outcomes"] = round(time.perf_counter() - started, 3)
                rendering = Clock(progress, "documents", "files")
                rendering.tick(finished.documents)
                written = write_overview_of(project, finished.overview, staging, lang,
                                            lambda n, total: rendering.tick(finished.documents + n,
                                                                            finished.documents + total + 1))
                report.documents = finished.documents + written
                rendering.tick(report.documents, report.documents)
                # the plans were rendered in stage C, beside the store (timings: finish_cpu)
                report.timings["render"] = round(rendering.end(report.documents), 3)
            (staging / "summary.json").write_text(
                json.dumps(report.summary(), ensure_ascii=False, indent=2) + "\n", "utf-8")
            files = _count_files(staging)
            if sink is not None and store is not None:
                output.before_swap = store.commit  # the store first: then the output takes its place
            # in place of the previous output, which goes: tens of seconds for many documents
            placing = Clock(progress, "output", "files", files)
        placing.end(files)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        executor.close()
    return report


# This process makes few reference cycles and many short-lived objects that die by reference
# count, and the cyclic collector's passes over everything it holds (every loaded module,
# template and locale included) took a fifth of stage C's time here. So what it holds is
# frozen (gc.freeze: scanned no more) and a young collection runs every 50,000 allocations,
# not 700: cycles are still collected.
_GC_EVERY = 50_000


@dataclass
class _Finished:
    results: list[Result] = field(default_factory=list)  # final results, for a custom renderer
    overview: Any = None  # engine.render.aggregate.Aggregates: digests, summary, report
    documents: int = 0  # plan files written


def finish_pipeline(project: Project, executor: Any, evaluated: list[tuple[Any, Any]], staging: Path,
                    as_of: date, lang: str, moved: list[Any], sink: StoreSink | None, documents: bool, keep: bool,
                    progress: Progress | None, report: RunReport, worklist: bool = False) -> _Finished:
    """Stage C, chunk by chunk in input order: the store reconciles the chunk here (while the
    workers finish the chunks before it), a worker applies dates and plan states, writes the
    chunk's lines and renders its plans; the lines go into results.jsonl in order. With
    `worklist`, the workers also list the chunk's steps, for tasks.csv and the calendars."""
    # one phase for stage C: plan states (with a store) and plan documents, account by account
    storing = Clock(progress if (sink is not None or documents) else None, "plans", "accounts", report.evaluated)
    done = _Finished(overview=overview(project, lang) if documents else None)
    steps = schedule.CapacitySteps.of(project) if moved else None
    taken: set[str] = set()
    plans_dir = staging / "plans"
    if documents:
        plans_dir.mkdir()
    local = executor.spills  # the workers share this disk: they write the plans themselves
    ref = executor.project_ref
    lists = spec = None
    if worklist:
        from ..render.worklist.files import Worklist
        from ..render.worklist.rows import Spec, worklist_words
        spec = Spec(as_of, (sink.info.run_id or 0) if sink is not None else 0,
                    "html" if "html" in project.documents else (project.documents[0] if project.documents else None))
        lists = Worklist(staging, staging / ".spill" / "calendar", worklist_words(project, lang)[1])
    store_seconds = 0.0
    accounts_done = 0

    def tasks() -> Iterator[tuple[Any, ...]]:
        nonlocal store_seconds, accounts_done
        for k, (handle, ev) in enumerate(evaluated):
            started = time.perf_counter()
            accounts = executor.accounts(handle)
            chunk_moved: dict[StepKey, Moved] = {}
            if steps is not None and ev.demands is not None:
                chunk_moved = schedule.moved_of(ev.demands, moved[k], steps, project.calendar.next_working_day)
                ev.demands = moved[k] = None  # scheduled: the columns can go
            overlays = sink.reconcile(accounts, chunk_moved) if sink is not None else None
            stems: dict[str, str] | None = None
            if documents or worklist:  # the plans' file names: where tasks.csv links to
                stems = {}
                for i, a in enumerate(accounts):
                    has = sink.has_plan(a, overlays[i]) if sink is not None else bool(a.playbooks)  # type: ignore[index]
                    if has:
                        stems[a.account_id] = safe_name(a.account_id, taken)
            if sink is not None and sink.replayed:
                chunk_moved = {}  # the recorded overlays carry the dates
            accounts_done += len(accounts)
            store_seconds += time.perf_counter() - started
            storing.tick(accounts_done)
            # the digests' and summary's lists as they stand (chunks before this one): the
            # worker builds no entry past them
            bars = done.overview.bars(a.owner for a in accounts) if documents else None
            yield (ref, as_of, lang, handle, chunk_moved, overlays, stems,
                   str(plans_dir) if local else None, keep, spec, documents, bars)

    render_seconds = 0.0
    try:
        with (staging / "results.jsonl").open("wb") as f:
            for fin in executor.finish(tasks()):
                f.write(fin.lines)
                report.by_risk.update(fin.by_risk)
                report.by_signal.update(fin.by_signal)
                report.by_playbook.update(fin.by_playbook)
                if fin.results is not None:
                    done.results.extend(fin.results)
                if fin.facts is not None:
                    for facts in pickle.loads(fin.facts):
                        done.overview.add(facts)
                for rel, text in fin.texts:  # from workers without this disk
                    inside(staging, rel).write_text(text, "utf-8")
                done.documents += fin.written + len(fin.texts)
                render_seconds += fin.seconds
                if lists is not None and fin.lists is not None:
                    lists.add(fin.lists)
        if lists is not None:
            done.documents += lists.close()
    except BaseException:
        if lists is not None:
            lists.abort()  # its open file goes with the staging folder
        raise
    if sink is not None:
        sink.close()
    report.timings["plans"] = round(storing.end(accounts_done), 3)
    report.timings["store"] = round(store_seconds, 3)
    report.timings["finish_cpu"] = round(render_seconds, 3)
    return done


def plan_outcomes(store: Store, project: Project) -> dict[str, Any] | None:
    """What became of the store's plans, by playbook, for the portfolio report; None until the
    store has more than one run (with this run, not yet committed)."""
    from ..plans.store.outcomes import outcomes
    if store.one("SELECT count(*) AS n FROM runs")["n"] < 2:
        return None
    return outcomes(store, [r.id for r in project.risk_levels])


def refuse_store_inside(store_path: Path, out_dir: Path) -> None:
    """Every run replaces the output folder whole: a store inside it would go with it."""
    out = Path(os.path.realpath(out_dir))
    store = Path(os.path.realpath(store_path))
    if store == out or store.is_relative_to(out):
        raise KamError(Problem(str(store_path), 0, 0,
                               f"the state store is inside the output folder {out_dir}, which every run "
                               "replaces whole: the plan history would go with it. Keep the store outside "
                               "(--store PATH, e.g. .kam/state.sqlite beside the project) or choose another --out"))


def check_store_file(store_path: Path, out_dir: Path, new_store: bool = False) -> None:
    """Before a run opens its store: a store that is empty, or missing although the output
    folder's last run was recorded in it, has lost its plan history; starting afresh would
    report every plan as new and say nothing. That takes --new-store, on purpose."""
    refuse_store_inside(store_path, out_dir)
    path = Path(store_path)
    again = "; or, to start a new plan history on purpose, run with --new-store"
    if path.is_file() and path.stat().st_size == 0:
        if new_store:
            path.unlink()
            return
        raise KamError(Problem(str(path), 0, 0, "the state store is empty (0 bytes): the plan history it held "
                                                "is gone (an interrupted copy, a full disk?). Restore it from a "
                                                "backup" + again))
    if new_store:
        if path.exists():
            raise KamError(Problem(str(path), 0, 0, "--new-store starts a new plan history, but this state store "
                                                    "exists: move it away first, or drop --new-store"))
        return
    if not path.exists():
        info = read_marker(Path(out_dir))
        if info.get("store") == str(path.resolve()):
            raise KamError(Problem(str(path), 0, 0, f"the state store is missing, but the output folder {out_dir} "
                                                    f"was written by run {info.get('run_id')} recorded in it: the "
                                                    "plan history is gone. Restore the file from a backup" + again))


def _schedule(project: Project, evaluated: list[tuple[Any, Any]], as_of: date,
              store: Store | None) -> list[Any]:
    """Per evaluated chunk, the weeks each of its steps of a role with a capacity moves
    (engine/run/schedule.py); [] when no role has a capacity."""
    if not project.capacity:
        return []
    steps = schedule.CapacitySteps.of(project)
    owners = {pair: role for pair, role in zip(steps.pairs, steps.roles)}
    booked = booked_steps(store, owners) if store is not None else ()
    return schedule.plan([ev.demands or schedule.Demands() for _, ev in evaluated], steps, as_of, booked)


def _count_files(folder: Path) -> int:
    """Files under `folder`, one directory entry at a time: rglob lists a whole directory
    first, and plans/ holds a file per plan (over 680,000 files it took 451 MiB)."""
    n, folders = 0, [str(folder)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    folders.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    n += 1
    return n


def _write_rejected(path: Path, rejected: Rejections) -> None:
    rejected.write(path)
