"""The `kam` command line: each command parses options, calls the engine, returns an exit code.

Exit codes: 0 ok (accounts at risk are not an error), 1 invalid project or input (or more
records rejected than max_rejected), 2 usage error (click), 3 internal error, 130 interrupted,
141 the reader of the output went away (`kam plans | head -1`).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# numpy's OpenBLAS starts a thread per core that spins after each call; kam's arrays are
# small and its cores busy with worker processes (0.9 % of a run's CPU went to the spinning)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from engine.errors import KamError
from engine.run.progress import Phase

if TYPE_CHECKING:  # imported where a command needs them: `kam --help` stays quick
    from engine.plans.store import Store
    from engine.project.model import Project

EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 3, 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool that the signal ended


def _guard(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Turn KamError into `path:line:col: message` lines and exit 1; tracebacks only with --debug."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            code = fn(*args, **kwargs) or 0
        except KamError as exc:
            if debug:
                traceback.print_exc()
            for p in exc.problems:
                click.echo(str(p), err=True)
            code = EXIT_USER
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            code = EXIT_INTERRUPTED
        except BrokenPipeError:  # `kam plans | head -1`: the reader has what it wanted
            _drop_output()
            code = EXIT_PIPE
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence for users
            if debug:
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                       err=True)
            code = EXIT_INTERNAL
        sys.exit(code)

    return wrapper


def _drop_output() -> None:
    """Stop quietly once the pipe is closed: stdout and stderr to /dev/null, or flushing them
    at exit would raise again and Python would print that."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        # no file descriptor (a test runner's buffer): nothing to flush
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


project_option = click.option("--project", "project_dir", type=click.Path(file_okay=False),
                              help="Project folder (with kam.yaml). Default: the current folder "
                                   "if it has one, else the bundled default project.")
store_option = click.option("--store", "store_path", type=click.Path(dir_okay=False),
                            help="State store of plans across runs. Default: <project>/.kam/state.sqlite "
                                 "(./.kam/state.sqlite for the bundled project; $KAM_STORE wins).")


def json_option(what: str = "report") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--json on a command that prints a report: one flag, passed as `as_json`, printed by _emit."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print the {what} as JSON.")


def _emit(data: Any, text: Callable[[], Iterable[str]], as_json: bool, indent: int | None = 2,
          default: Callable[[Any], Any] | None = None) -> None:
    """A report on stdout: `data` as JSON with --json, else the lines of `text` (called only then,
    and echoed as they come, so a text that warns on stderr on the way keeps its order)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=indent, default=default))
    else:
        for line in text():
            click.echo(line)


def _load(project_dir: str | None) -> Project:
    from engine.project.load import find_project, load_project
    root = find_project(project_dir)
    return load_project(root, _display_root(root))


def _display_root(root: Path) -> Path:
    try:
        return root.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return root


class _Whole:
    """`kam --help` lists each command's first sentence whole: click cuts it to fit the
    terminal, mid-sentence, with '...'. The sentences are short; a narrow terminal wraps them."""

    def get_short_help_str(self, limit: int = 45) -> str:
        return str(super().get_short_help_str(limit=sys.maxsize))  # type: ignore[misc]


class _Command(_Whole, click.Command):
    pass


class _Group(_Whole, click.Group):
    command_class = _Command
    group_class = type  # subgroups (kam plans) are _Groups too


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="kam", message="kam %(version)s")
def main(debug: bool) -> None:
    """kam: spot key-account risk early and hand each manager an action plan."""


@main.command()
@project_option
@_guard
def validate(project_dir: str | None) -> int:
    """Check every YAML file and template; report all problems at once."""
    from engine.project.load import find_project
    from engine.tools.validate import validate_project
    root = find_project(project_dir)
    click.echo(validate_project(root, _display_root(root)).line())
    return 0


def _day(value: str | None, option: str) -> date:
    """The one parser of a date option (--as-of, --on, --until, --since): YYYY-MM-DD within
    engine.project.date_range's bounds, today when not given; a usage error naming the option."""
    from engine.project.date_range import parse_day
    if value is None:
        return date.today()
    try:
        return parse_day(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@project_option
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False),
              help="Output folder (replaced whole, atomically).")
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD (due dates count from it). Default: today.")
@click.option("--lang", type=click.Choice(["en", "ru"]), help="Language of documents. Default: kam.yaml's.")
@json_option("summary")
@click.option("--sheet", help="Sheet of the .xlsx inputs to read. Default: the first.")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Local worker processes (e.g. the number of cores).")
@click.option("--dask", "dask_address", metavar="ADDRESS",
              help="Evaluate on a Dask cluster: a scheduler address (tcp://host:8786) or 'local'.")
@click.option("--no-documents", "no_documents", is_flag=True,
              help="Write results only, no plans or reports (large batch runs).")
@store_option
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Evaluate and render against the store's plans without changing the store.")
@click.option("--no-store", "no_store", is_flag=True,
              help="Stateless run: no plan store at all (results carry no plan states).")
@click.option("--new-store", "new_store", is_flag=True,
              help="Start a new plan history on purpose: an empty or missing store file that held one is "
                   "otherwise an error.")
@click.option("--max-rejected", "max_rejected", type=click.FloatRange(0, 100), metavar="PCT",
              help="Fail the run (exit 1: no documents, nothing recorded in the store) when more than "
                   "PCT % of the records are rejected. Default: kam.yaml settings.max_rejected, else 5.")
@_guard
def evaluate(inputs: tuple[str, ...], project_dir: str | None, out_dir: str, as_of: str | None,
             lang: str | None, as_json: bool, sheet: str | None, workers: int = 1,
             dask_address: str | None = None, no_documents: bool = False,
             store_path: str | None = None, dry_run: bool = False, no_store: bool = False,
             max_rejected: float | None = None, new_store: bool = False) -> int:
    """Evaluate every account of INPUTS and write the plans.

    The output folder gets results.jsonl, rejected.jsonl and the documents."""
    from engine.render import write_documents
    from engine.run.evaluation import check_store_file, evaluate_portfolio
    project = _load(project_dir)
    when = _day(as_of, "--as-of")
    if no_store and (store_path or dry_run or new_store):
        raise click.UsageError("--no-store runs without a store: drop --store/--dry-run/--new-store")
    store_file = None if no_store else _store_file(project.root, store_path)
    if store_file is not None:
        check_store_file(store_file, Path(out_dir), new_store and not dry_run)
    with contextlib.nullcontext() if store_file is None else \
            _open_store(store_file, dry_run=dry_run) as store, _Phases() as phases:
        report = evaluate_portfolio(project, [Path(i) for i in inputs], Path(out_dir), when, lang,
                                    phases, None if no_documents else write_documents, sheet=sheet,
                                    workers=workers, dask=dask_address, store=store,
                                    max_rejected=max_rejected)
    summary = report.summary()
    last_run = store.last_run if store is not None else None
    gate = report.gate
    plans = {"plans": _run_plans(last_run)} if last_run is not None else {}

    def text() -> Iterator[str]:
        totals = report.totals_rows
        yield (f"{report.read} accounts read: {report.evaluated} evaluated, {report.rejected} rejected"
               + (f", {totals} of them {'a totals row' if totals == 1 else 'totals rows'}" if totals else "")
               + (f" (see {Path(out_dir) / 'rejected.jsonl'})" if report.rejected else ""))
        if gate.rejected:
            yield (f"{gate.rejected:,} of {_count(gate.read, 'records')} rejected ({_pct(gate.pct)} %) — most "
                   f"common: {gate.reason} ({gate.reason_count:,})")
        if not gate.passed:
            for source, cols in report.ignored_columns.items():  # often why a column was rejected
                click.echo(f"{source}: ignored unknown columns: {', '.join(cols)}", err=True)
            click.echo(f"stopped: more than {_pct(gate.max_pct)} % of the records rejected (max_rejected): "
                       "no documents written, nothing recorded in the store. Fix the export, or allow more "
                       "with --max-rejected PCT or kam.yaml settings.max_rejected.", err=True)
            return
        risk = ", ".join(f"{k} {summary['by_risk_level'].get(k, 0)}"
                         for k in ["none"] + [r.id for r in project.risk_levels])
        yield f"risk level: {risk}"
        if summary["by_signal"]:
            top = ", ".join(f"{k} {v}" for k, v in list(summary["by_signal"].items())[:8])
            yield f"signals: {top}"
        if summary["by_playbook"]:
            yield "playbooks: " + ", ".join(f"{k} {v}" for k, v in summary["by_playbook"].items())
        for source, cols in report.ignored_columns.items():
            click.echo(f"{source}: ignored unknown columns: {', '.join(cols)}", err=True)
        if last_run is not None:
            yield _plans_line(last_run)
        yield f"written to {out_dir}/"

    _emit({**summary, **plans}, text, as_json)
    return 0 if gate.passed else EXIT_USER


class _Phases:
    """The phases of a run on stderr, as the engine reports them: a line each when it ends
    ("rules: 50,000 accounts in 30.2 s"), and on a terminal a bar while it runs."""

    WIDTH = 24  # of the bar

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.drawn = 0.0  # when the bar was last drawn; 0: none is on the screen

    def __enter__(self) -> _Phases:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._clear()  # an error message must not land at the end of a bar

    def __call__(self, phase: Phase) -> None:
        if phase.finished:
            self._clear()
            click.echo(f"{phase.name}: {_count(phase.done, phase.unit)} in {phase.seconds:.1f} s", err=True)
        elif self.live and time.monotonic() - self.drawn >= 0.1:  # a redraw costs; ten a second
            self.drawn = time.monotonic()
            width = shutil.get_terminal_size().columns - 1
            click.echo("\r" + self._bar(phase)[:width] + "\x1b[K", err=True, nl=False, color=True)

    def _bar(self, p: Phase) -> str:
        if not p.total or not p.done:
            return f"{p.name}: {p.done:,} {p.unit}, {p.seconds:.0f} s" if p.done else f"{p.name}…"
        share = min(p.done / p.total, 1.0)
        filled = round(share * self.WIDTH)
        left = f", {p.seconds * (1 - share) / share:.0f} s left" if share else ""
        return (f"{p.name} [{'#' * filled}{'-' * (self.WIDTH - filled)}] {share:4.0%} "
                f"{p.done:,}/{p.total:,} {p.unit}{left}")

    def _clear(self) -> None:
        if self.drawn:
            click.echo("\r\x1b[K", err=True, nl=False, color=True)
            self.drawn = 0.0


def _count(n: int, things: str) -> str:
    """'1 account', '50,000 accounts' (`things` a plural in -s)."""
    return f"{n:,} {things[:-1] if n == 1 else things}"


def _pct(value: float) -> str:
    """83 for 83.33, 5.04 for 5.04: a share just over the limit must not read as the limit."""
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


@main.command()
@click.argument("account_id")
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@project_option
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD. Default: today.")
@click.option("--run", "run_ref", metavar="RUN_ID",
              help="Explain the account's result in a recorded run (a number or 'latest'), with that "
                   "run's rules and input, from the store; no INPUT then.")
@store_option
@_guard
def explain(account_id: str, inputs: tuple[str, ...], project_dir: str | None, as_of: str | None,
            run_ref: str | None = None, store_path: str | None = None) -> int:
    """Show the rules that fired for ACCOUNT_ID, and why others did not."""
    if run_ref is not None:
        return _explain_run(account_id, run_ref, inputs, project_dir, store_path, as_of)
    if not inputs:
        raise click.UsageError("give the INPUT file(s), or --run RUN_ID to explain a recorded run")
    from engine.tools.audit import explain_inputs
    project = _load(project_dir)
    for line in explain_inputs(project, account_id, inputs, _day(as_of, "--as-of")):
        click.echo(line)
    return 0


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Write every schema as a file into this folder instead of printing.")
@click.argument("kind", required=False)
@_guard
def schema(out_dir: str | None, kind: str | None) -> int:
    """Print or write the JSON Schemas of the YAML files, for editors."""
    from engine.project.schema import KINDS
    from engine.project.schema import schema as get_schema
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        if k not in KINDS:
            raise click.BadParameter(f"unknown kind {k!r}; one of {', '.join(KINDS)}", param_hint="KIND")
    if out_dir:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for k in kinds:
            (folder / f"{k}.schema.json").write_text(json.dumps(get_schema(k), indent=2,
                                                                ensure_ascii=False) + "\n", "utf-8")
        click.echo(f"wrote {len(kinds)} schemas to {folder}/")
    else:
        data = get_schema(kinds[0]) if kind else {k: get_schema(k) for k in kinds}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


# -- the safety net for rule edits: init, test, diff, backtest (issue 6) -------------------

@main.command("init")
@click.argument("directory", type=click.Path(file_okay=True))
@_guard
def init_command(directory: str) -> int:
    """Create a new project in DIRECTORY from the default one.

    It gets the default rules, playbooks, templates and rule tests, the JSON Schemas for
    editors and a .gitignore. Refuses an existing project or a non-empty folder."""
    from engine.project.load import load_project
    from engine.tools.init import SCHEMA_DIR, init_project
    made = init_project(Path(directory))
    project = load_project(made.root, _display_root(made.root))  # what init wrote must be valid
    click.echo(f"created {directory}: {len(project.rules)} rules, {len(project.playbooks)} playbooks, "
               f"{made.tests} rule test files, schemas in {Path(directory) / SCHEMA_DIR}/")
    click.echo(f"next: edit it, then `kam validate --project {directory}` and "
               f"`kam test --project {directory}`")
    return 0


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@project_option
@click.option("-v", "--verbose", is_flag=True, help="List the passing cases too.")
@_guard
def rule_tests(paths: tuple[str, ...], project_dir: str | None, verbose: bool) -> int:
    """Run the rule tests; exit 1 when a case fails.

    The tests are YAML files with `kind: tests` under the project's tests/ folder (or PATHS)."""
    from engine.errors import Problem
    from engine.project.load import find_project, load_project
    from engine.tools.rule_tests import TESTS_DIR, find_test_files, load_cases, report_lines, run_cases
    root = find_project(project_dir)
    shown = _display_root(root)
    project = load_project(root, shown)
    files = find_test_files(root, [Path(p) for p in paths])
    if not files:
        raise KamError(Problem(str(shown / TESTS_DIR) if not paths else ", ".join(paths), 0, 0,
                               "no rule tests found (YAML files with `kind: tests`); "
                               "`kam init` makes a project with a test for every default rule"))
    outcomes = run_cases(project, load_cases(project, files, shown))
    for line in report_lines(project, outcomes, verbose, whole_suite=not paths):
        click.echo(line)
    return 1 if any(not o.passed for o in outcomes) else 0


@main.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
@project_option
@click.option("--sheet", help="Sheet of an .xlsx file. Default: the first.")
@json_option()
@_guard
def inspect_command(file: str, project_dir: str | None, sheet: str | None, as_json: bool) -> int:
    """Show how FILE will be read, before a run.

    The header row, each column and the metric it maps to, typed samples, rejected rows."""
    from engine.tools.inspect import as_json as report_json
    from engine.tools.inspect import inspect_file, text_lines
    report = inspect_file(_load(project_dir), Path(file), sheet)
    _emit(report_json(report) if as_json else None, lambda: text_lines(report), as_json, default=str)
    return 0


@main.command("diff")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--base", required=True,
              help="The version to compare with: a project folder, or a git revision of the "
                   "project (HEAD~1, main, a commit).")
@project_option
@click.option("--as-of", "as_of", help="Evaluation date YYYY-MM-DD. Default: today.")
@json_option()
@_guard
def diff_command(inputs: tuple[str, ...], base: str, project_dir: str | None, as_of: str | None,
                 as_json: bool) -> int:
    """Preview a rule change on the accounts of INPUTS.

    Evaluates INPUTS with --base and with the project, and shows which accounts gain or lose
    signals, risk level, classes and playbooks. Exit 0 either way."""
    import tempfile

    from engine.project.load import find_project, load_project
    from engine.tools.diff import compare, load_base, text_lines
    root = find_project(project_dir)
    current = load_project(root, _display_root(root))
    with tempfile.TemporaryDirectory(prefix="kam-diff-") as tmp:
        old, label = load_base(base, root, Path(tmp))
        report = compare(old, current, label, str(_display_root(root)), [Path(i) for i in inputs],
                         _day(as_of, "--as-of"))
    _emit(report, lambda: text_lines(report), as_json)
    return 0


@main.command("backtest")
@click.argument("history", type=click.Path(dir_okay=False))
@click.option("--losses", required=True, type=click.Path(dir_okay=False),
              help="File of account_id,lost_date (2026-11-23, 23.11.2026, 23 ноября 2026, …): "
                   "the accounts really lost.")
@project_option
@click.option("--horizon", default=180, show_default=True, type=click.IntRange(1, 3660),
              help="A firing counts as right when the account was lost within this many days after.")
@click.option("--sweep", "sweep_spec", metavar="THRESHOLD=START:STOP:STEP",
              help="Re-run with the threshold at each value, e.g. purchase_drop_pct=5:30:5.")
@click.option("--target", help="What the sweep scores: a signal id or risk.<level>. Default: the "
                               "signal the threshold's rules assert.")
@json_option()
@_guard
def backtest_command(history: str, losses: str, project_dir: str | None, horizon: int,
                     sweep_spec: str | None, target: str | None, as_json: bool) -> int:
    """Score the rules against the accounts really lost, on past data.

    Replays the rules on a HISTORY of account snapshots (the account columns plus
    snapshot_date) and scores every signal and risk level against the real losses:
    recall, precision, median lead time; with --sweep, the trade-off of one threshold."""
    from engine.tools import backtest as bt
    project = _load(project_dir)
    plan = None
    if sweep_spec:
        try:
            tid, values = bt.parse_sweep(sweep_spec, project)
            aim = bt.resolve_target(project, target) if target else bt.default_target(project, tid)
        except bt.SweepError as exc:
            raise click.BadParameter(str(exc), param_hint="--sweep" if not target else "--sweep/--target") from exc
        plan = (tid, values, aim)
    elif target:
        raise click.BadParameter("--target scores a --sweep; give --sweep too", param_hint="--target")
    report, lines = bt.run_backtest(project, Path(history), Path(losses), horizon, plan)
    _emit(report, lambda: lines, as_json)
    return 0


# ---- plans across runs: the state store (issue 9) -----------------------------------------

def _store_file(project_root: Path | None, store_path: str | None, project_dir: str | None = None) -> Path:
    from engine.plans.store import default_store_path
    from engine.project.load import find_project
    if store_path:
        return Path(store_path)
    return default_store_path(project_root if project_root is not None else find_project(project_dir))


def _open_store(path: Path, dry_run: bool = False, must_exist: bool = False) -> Store:
    from engine.plans.store import Store
    return Store.open(path, dry_run=dry_run, must_exist=must_exist)


def _run_plans(info: Any) -> dict[str, Any]:
    from engine.plans.store.show import run_summary
    return run_summary(info, _display_root(info.store))


def _plans_line(info: Any) -> str:
    from engine.plans.store.show import run_line
    return run_line(info, _display_root(info.store))


def _explain_run(account_id: str, run_ref: str, inputs: tuple[str, ...], project_dir: str | None,
                 store_path: str | None, as_of: str | None) -> int:
    from engine.tools.audit import explain_run
    if inputs or as_of:
        raise click.UsageError("--run explains a recorded run with its own input and date: "
                               "give no INPUT and no --as-of")
    with _open_store(_store_file(None, store_path, project_dir), must_exist=True) as store:
        for line in explain_run(store, account_id, run_ref):
            click.echo(line)
    return 0


def _in_plans(ctx: click.Context, store_path: str | None, project_dir: str | None) -> Path:
    """A subcommand's --store/--project, else the group's."""
    parent = ctx.parent.params if ctx.parent is not None else {}
    return _store_file(None, store_path or parent.get("store_path"), project_dir or parent.get("project_dir"))


@main.group("plans", invoke_without_command=True)
@click.option("--owner", help="Only the plans of this account manager.")
@click.option("--status", type=click.Choice(["open", "overdue", "new", "ongoing", "escalated", "resolved",
                                             "snoozed", "done"]),
              help="Which plans (default: open). new/ongoing/escalated: open plans by their latest run's state.")
@click.option("--as-of", "as_of", help="Date for overdue steps, YYYY-MM-DD. Default: today.")
@json_option("plans")
@store_option
@project_option
@click.pass_context
def plans_group(ctx: click.Context, owner: str | None, status: str | None, as_of: str | None, as_json: bool,
                store_path: str | None, project_dir: str | None) -> None:
    """List the store's plans; done, snooze and reopen change them."""
    if ctx.invoked_subcommand is None:  # the listing is the group's default
        _list_plans(owner, status, as_of, as_json, store_path, project_dir)


@_guard
def _list_plans(owner: str | None, status: str | None, as_of: str | None, as_json: bool,
                store_path: str | None, project_dir: str | None) -> int:
    from engine.plans.store.actions import list_plans
    from engine.plans.store.show import plan_lines
    with _open_store(_store_file(None, store_path, project_dir), must_exist=True) as store:
        views = list_plans(store, _day(as_of, "--as-of"), owner, status)
    _emit(views, lambda: plan_lines(views, status or "open"), as_json)
    return 0


class _PlanId(click.ParamType):  # type: ignore[type-arg]  # generic in recent click only; 8.1 is allowed
    """A plan id is a number; an account id or a step id in its place gets told where to look."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        from engine.plans.store.actions import PLAN_IDS
        self.fail(f"{value!r} is not a plan id. {PLAN_IDS}", param, ctx)


@plans_group.command("done")
@click.argument("plan_id", type=_PlanId(), required=False)
@click.argument("step_id", required=False)
@click.option("--from", "from_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Mark every step FILE lists done: a CSV (or .xlsx) exported back from a CRM with "
                   "tasks.csv's plan_id and step_id columns, and maybe done_on and state. Every row is "
                   "checked first; an unknown plan or step and nothing is applied.")
@click.option("--on", "on", help="Date it was done, YYYY-MM-DD (with --from: for rows without a done "
                                 "date). Default: today.")
@click.option("--dry-run", "dry_run", is_flag=True, help="With --from: check the file and say what it "
                                                         "would mark, without changing the store.")
@json_option()
@store_option
@project_option
@click.pass_context
@_guard
def plans_done(ctx: click.Context, plan_id: int | None, step_id: str | None, on: str | None, store_path: str | None,
               project_dir: str | None, from_file: str | None = None, dry_run: bool = False,
               as_json: bool = False) -> int:
    """Mark PLAN_ID (or one of its steps) done, or the steps a CRM export lists (--from FILE).

    A done plan with a cooldown is not reopened within it."""
    from engine.plans.store.actions import mark_done
    if (from_file is None) == (plan_id is None):
        raise click.UsageError("give PLAN_ID [STEP_ID], or --from FILE (not both)")
    if dry_run and from_file is None:
        raise click.UsageError("--dry-run checks a --from FILE")
    with _open_store(_in_plans(ctx, store_path, project_dir), must_exist=True) as store:
        if from_file is not None:
            from engine.plans.store.done_import import import_done, report_lines
            report = import_done(store, Path(from_file), _day(on, "--on"), dry_run=dry_run)
            _emit(report, lambda: report_lines(report), as_json)
            return 0
        message = mark_done(store, plan_id, step_id, _day(on, "--on"))  # type: ignore[arg-type]
    _emit({"plan_id": plan_id, "step_id": step_id, "message": message}, lambda: [message], as_json, indent=None)
    return 0


@plans_group.command("snooze")
@click.argument("plan_id", type=_PlanId())
@click.option("--until", "until", required=True, help="Hold the plan back until this date, YYYY-MM-DD.")
@click.option("--reason", required=True, help="Why (required, kept with the plan).")
@click.option("--by", "by", help="Who snoozes it, shown in the plan. Default: your login name.")
@store_option
@project_option
@click.pass_context
@_guard
def plans_snooze(ctx: click.Context, plan_id: int, until: str, reason: str, by: str | None,
                 store_path: str | None, project_dir: str | None) -> int:
    """Snooze PLAN_ID until a date, for a reason.

    It comes back then, or sooner if the account's risk rises."""
    import getpass

    from engine.plans.store.actions import snooze
    who = (by or "").strip() or getpass.getuser()
    with _open_store(_in_plans(ctx, store_path, project_dir), must_exist=True) as store:
        click.echo(snooze(store, plan_id, _day(until, "--until"), reason, date.today(), who))
    return 0


@plans_group.command("reopen")
@click.argument("plan_id", type=_PlanId())
@store_option
@project_option
@click.pass_context
@_guard
def plans_reopen(ctx: click.Context, plan_id: int, store_path: str | None, project_dir: str | None) -> int:
    """Open a done, snoozed or resolved plan again."""
    from engine.plans.store.actions import reopen
    with _open_store(_in_plans(ctx, store_path, project_dir), must_exist=True) as store:
        click.echo(reopen(store, plan_id, date.today()))
    return 0


@main.command("outcomes")
@click.option("--since", "since", help="Only plans opened on or after this date, YYYY-MM-DD.")
@click.option("--by", "by", type=click.Choice(["playbook", "owner", "segment"]), default="playbook",
              show_default=True, help="Group the plans by their playbook, manager or the account's segment.")
@click.option("--within", "within", type=click.IntRange(1, 520), default=4, show_default=True, metavar="N",
              help="Did the risk fall within N runs after a plan opened?")
@json_option()
@store_option
@project_option
@_guard
def outcomes_command(since: str | None, by: str, within: int, as_json: bool, store_path: str | None,
                     project_dir: str | None) -> int:
    """What became of the plans: resolved, lost, done, open; steps on time; did the risk fall.

    From the store alone, per playbook (or manager, or segment). Whether the risk fell when
    the steps were done on time is an observation with counts and 95 % intervals, not a cause."""
    from engine.plans.store.outcomes import outcomes, stored_levels, text_lines
    with _open_store(_store_file(None, store_path, project_dir), must_exist=True) as store:
        levels = stored_levels(store)
        if levels is None:  # no run yet, or rules this kam cannot read back: the project's levels
            levels = [r.id for r in _load(project_dir).risk_levels]
        report = outcomes(store, levels, by, _day(since, "--since") if since else None, within)
    report["store"] = str(_display_root(Path(report["store"])))
    _emit(report, lambda: text_lines(report), as_json)
    return 0


@main.command("history")
@click.argument("account_id")
@json_option("history")
@store_option
@project_option
@_guard
def history_command(account_id: str, as_json: bool, store_path: str | None, project_dir: str | None) -> int:
    """ACCOUNT_ID's risk level, signals and plans over the recorded runs."""
    from engine.plans.store.actions import account_history
    from engine.plans.store.show import history_lines
    with _open_store(_store_file(None, store_path, project_dir), must_exist=True) as store:
        data = account_history(store, account_id)
    _emit(data, lambda: history_lines(data), as_json)
    return 0


if __name__ == "__main__":
    main()
