"""The benchmark of issue 8: kam end to end, and the same default rules on the same accounts
in plain Python, CLIPS, GoRules ZEN and polars. Results are checked for equality before any
number is printed.

    python bench/run.py --accounts 1000000 [--workers N] [--skip-clips] [--skip-zen] [--keep]
    python bench/run.py --accounts 100000 --small 0 --render 0 --repeat 5   # the one-process rows

Generated accounts are cached in bench/.data/ (named after size, seed and generator
version). kam runs as users run it (`kam evaluate FILE --out DIR --as-of 2026-11-23 --json`)
in a child process, measured by bench/measure.py; it runs on N and on N/10 accounts, to show
whether peak memory grows with N (--small 0: not), and once on 20,000 accounts with documents
(--render 0: not). Plain Python, kam's Evaluator, CLIPS and ZEN evaluate a prefix of the
accounts in this process (--sample; their rate is per account, so the sample only shortens
the wait), polars all. With --repeat R the one-process evaluators run R times, in turn (kam,
CLIPS, ZEN, kam, ...), so that a machine whose speed drifts slows them alike; the table shows
the median. The report is Markdown: it goes into docs/performance.md as printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `engine` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import compare
from bench import frame as frames
from bench.generate import COLUMNS, VERSION, generate
from bench.kam_inprocess import KamEvaluator
from bench.logic import Codec, Outcome
from engine.project.load import default_project_dir, load_project

AS_OF = "2026-11-23"
DATA = Path(__file__).resolve().parent / ".data"
MIB = 1024
TARGET_ACCOUNTS, TARGET_SECONDS = 1_000_000, 60.0
TARGET_RSS_KIB = 1024 * MIB
FLAT_FACTOR = 1.5  # "flat in N": 10x the accounts may cost at most 50 % more memory
TARGET_DOCS_PER_S = 500.0


@dataclass
class KamRun:
    accounts: int
    wall: float
    largest_kib: int
    tree_kib: int
    processes: int
    summary: dict[str, Any]
    out: Path

    @property
    def timings(self) -> dict[str, float]:
        return self.summary.get("timings") or {}


@dataclass
class Timed:
    name: str
    accounts: int
    seconds: float
    outcomes: list[Outcome] = field(repr=False, default_factory=list)
    sampled: bool = False
    detail: dict[str, float] = field(default_factory=dict)  # seconds per step, when known
    runs: list[float] = field(default_factory=list)  # seconds of every run (--repeat)

    @property
    def rate(self) -> float:
        return self.accounts / self.seconds if self.seconds > 0 else float("inf")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def dataset(n: int, seed: int, data: Path) -> Path:
    path = data / f"accounts-{n}-s{seed}-v{VERSION}.csv"
    if not path.is_file():
        say(f"generating {n:,} accounts -> {path}")
        generate(path, n, seed)
    return path


def kam_command() -> list[str]:
    here = Path(sys.executable).with_name("kam")
    found = str(here) if here.is_file() else shutil.which("kam")
    if not found:
        raise SystemExit("kam is not installed in this environment (run `make test` first)")
    return [found]


def run_kam(csv: Path, n: int, workers: int | None, project_dir: Path, data: Path,
            documents: bool = False) -> KamRun:
    """`kam evaluate` in a child process under bench/measure.py. The batch runs (the 60 s
    target: CSV to results.jsonl) are stateless and write no documents; rendering is
    measured by a run of its own (`documents=True`)."""
    folder = data / f"run-{n}{'-docs' if documents else ''}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    out = folder / "out"
    cmd = kam_command() + ["evaluate", str(csv), "--project", str(project_dir), "--out", str(out),
                           "--as-of", AS_OF, "--json"]
    if workers:
        cmd += ["--workers", str(workers)]
    cmd += ["--no-store"]  # plans remembered across runs must not change a benchmark run
    if not documents:
        cmd += ["--no-documents"]
    env = dict(os.environ, KAM_STORE=str(folder / "state.sqlite"))
    say(f"running: {' '.join(cmd)}")
    report_path = folder / "measure.json"
    subprocess.run([sys.executable, str(Path(__file__).with_name("measure.py")), "--report", str(report_path),
                    "--stdout", str(folder / "stdout.json"), "--stderr", str(folder / "stderr.txt"), "--", *cmd],
                   check=True, env=env)
    m = json.loads(report_path.read_text(encoding="utf-8"))
    if m["returncode"] != 0:
        tail = (folder / "stderr.txt").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"kam evaluate failed (exit {m['returncode']}):\n{tail}")
    summary = json.loads((folder / "stdout.json").read_text(encoding="utf-8"))
    if summary.get("rejected") or summary.get("evaluated") != n:
        raise SystemExit(f"kam evaluated {summary.get('evaluated')} and rejected {summary.get('rejected')} of "
                         f"{n} generated accounts (see {out / 'rejected.jsonl'}): the generator and the "
                         "project disagree")
    return KamRun(n, m["wall_s"], m["largest_kib"], m["tree_kib"], m["processes"], summary, out)


def timed(name: str, accounts: int, fn: Callable[[], list[Outcome]], sampled: bool) -> Timed:
    say(f"evaluating {accounts:,} accounts: {name}")
    start = time.perf_counter()
    outcomes = fn()
    return Timed(name, accounts, time.perf_counter() - start, outcomes, sampled)


Job = tuple[str, int, Callable[[], Callable[[], list[Outcome]]], bool]  # name, accounts, make, sampled


def in_turn(jobs: list[Job], repeat: int) -> list[Timed]:
    """Every job `repeat` times, one after the other (a, b, c, a, b, c ...): make() untimed,
    then what it returns timed. Each Timed has the median of its runs and the outcomes of
    the first."""
    out = [Timed(name, k, 0.0, [], sampled) for name, k, _, sampled in jobs]
    for round_ in range(repeat):
        for t, (name, k, make, _) in zip(out, jobs):
            say(f"evaluating {k:,} accounts: {name}" + (f" (run {round_ + 1} of {repeat})" if repeat > 1 else ""))
            run = make()
            start = time.perf_counter()
            outcomes = run()
            t.runs.append(time.perf_counter() - start)
            if round_ == 0:
                t.outcomes = outcomes
    for t in out:
        t.seconds = statistics.median(t.runs)
    return out


def comparators(project, csv: Path, n: int, sample: int, reference_sample: int, skip_clips: bool,
                skip_zen: bool = False, repeat: int = 1) -> tuple[list[str], list[Timed]]:
    from bench.plain import CompiledEvaluator, ReferenceEvaluator
    from bench.vectorised import VectorisedEvaluator
    say(f"reading {csv.name} with polars and running the portfolio pass")
    frame = frames.read_frame(project, csv)
    ids = frame.get_column("account_id").to_list()
    out: list[Timed] = []

    v = VectorisedEvaluator(project)
    say(f"evaluating {n:,} accounts: {v.name}")
    start = time.perf_counter()
    columns = v.outcome_columns(frame)
    out.append(Timed(v.name, n, time.perf_counter() - start, v.outcomes(columns), False))
    del columns

    values = frames.values(frame, 0, max(sample, reference_sample))
    del frame
    ref = ReferenceEvaluator(project)
    k = min(reference_sample, n)
    out.append(timed(ref.name, k, lambda: ref.evaluate_all(values[:k]), k < n))
    compiled = CompiledEvaluator(project)
    k = min(sample, n)
    out.append(timed(compiled.name, k, lambda: compiled.evaluate_all(values[:k]), k < n))
    accounts = values[:k]
    # the engines, one process each, on the same accounts: in turn when repeated
    kams: list[KamEvaluator] = []

    def make_kam() -> Callable[[], list[Outcome]]:
        for old in kams:
            old.close()
        kams[:] = [KamEvaluator(project, AS_OF)]  # every run starts cold (its caches empty), as kam's runs do
        return lambda: kams[0].evaluate_all(accounts)
    jobs: list[Job] = [(KamEvaluator.name, k, make_kam, k < n)]
    clips_eval = None
    if not skip_clips:
        from bench.clips_engine import ClipsEvaluator
        clips_eval = ClipsEvaluator(project)
        jobs.append((clips_eval.name, k, lambda: lambda: clips_eval.evaluate_all(accounts), k < n))
    if not skip_zen:
        from bench.zen_engine import ZenEvaluator
        zen_eval = ZenEvaluator(project)
        jobs.append((zen_eval.name, k, lambda: lambda: zen_eval.evaluate_all(accounts), k < n))
    engines = in_turn(jobs, repeat)
    for old in kams:
        old.close()
    if clips_eval is not None:
        engines[1].detail = dict(clips_eval.spent)  # of its last run
    return ids, out + engines


# ---- report ------------------------------------------------------------------------------

def _mib(kib: float) -> str:
    return f"{kib / MIB:,.0f} MiB"


def _s(x: float) -> str:
    return f"{x:,.2f}"


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "?"


def report(args: argparse.Namespace, csv: Path, big: KamRun, small: KamRun | None, evaluators: list[Timed],
           project_name: str) -> tuple[list[str], list[tuple[str, bool | None]]]:
    t = big.timings
    rules_s = t.get("rules")
    basis = rules_s if rules_s else big.wall
    basis_name = "kam, rules phase" if rules_s else "kam evaluate, end to end"
    kam_rate = big.accounts / basis
    lines = [f"kam benchmark: {big.accounts:,} accounts ({csv.name}, {csv.stat().st_size / MIB / MIB:,.0f} MiB), "
             f"project '{project_name}', as of {AS_OF}.",
             "",
             f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, polars {_version('polars')}, "
             f"clipspy {_version('clipspy')}, zen-engine {_version('zen-engine')}; kam --workers {args.workers or 1}.",
             "",
             "Checked before timing was shown: kam's results.jsonl equals every evaluator on every account it "
             "evaluated (signals, classes, playbooks, risk level).",
             "",
             "| evaluator | accounts | seconds | accounts/s | × kam |",
             "|---|---:|---:|---:|---:|",
             f"| kam evaluate, end to end: CSV to results.jsonl (read, portfolio, rules, write) | {big.accounts:,} | "
             f"{_s(big.wall)} | {big.accounts / big.wall:,.0f} | {'—' if rules_s else '1.00'} |"]
    if rules_s:
        lines.append(f"| kam, rules phase (derived metrics, rules, result records) | {big.accounts:,} | "
                     f"{_s(rules_s)} | {kam_rate:,.0f} | 1.00 |")
    for e in evaluators:
        shown = f"{e.accounts:,} (sample)" if e.sampled else f"{e.accounts:,}"
        lines.append(f"| {e.name} | {shown} | {_s(e.seconds)} | {e.rate:,.0f} | {e.rate / kam_rate:.2f} |")
    lines += ["",
              f"× kam: accounts/s relative to {basis_name}. The comparison evaluators are timed from typed values in "
              "memory (after reading the CSV and the portfolio pass) to each account's signals, classes, playbooks "
              "and risk level, in one process; a sampled rate is measured on the first accounts of the same file."]
    notes = []
    repeated = [e for e in evaluators if len(e.runs) > 1]
    if repeated:
        notes.append(f"- runs of the one-process engines, in turn ({len(repeated[0].runs)} each; the table shows the "
                     "median): " + "; ".join(f"{e.name.split(',')[0].split(' (')[0]} "
                                             f"{min(e.accounts / s for s in e.runs):,.0f}–"
                                             f"{max(e.accounts / s for s in e.runs):,.0f}/s" for e in repeated))
    for e in evaluators:
        if e.detail:
            notes.append(f"- {e.name}, where the time went: "
                         + ", ".join(f"{k} {_s(v)} s" for k, v in e.detail.items()))
    if t:
        notes.append("- kam phases: " + ", ".join(f"{k} {_s(v)} s" for k, v in t.items()))
    docs = big.summary.get("documents")
    render_s = big.summary.get("documents_wall")
    docs_rate = docs / render_s if docs and render_s else None
    if docs is not None and args.render > 0:
        notes.append(f"- documents (a separate stateless run on {min(args.render, args.accounts):,} accounts): "
                     f"{docs:,} written" + (f" in {_s(render_s)} s, the whole run = {docs_rate:,.0f} documents/s"
                                            if docs_rate else ""))

    def rss(run: KamRun) -> str:
        if run.processes <= 1:
            return _mib(run.largest_kib)
        return f"largest process {_mib(run.largest_kib)}, {run.processes} processes together {_mib(run.tree_kib)}"

    mem = f"- peak RSS: {rss(big)} at {big.accounts:,} accounts"
    if small:
        mem += f"; {rss(small)} at {small.accounts:,}"
    lines += [""] + notes + [mem, ""]

    results: list[tuple[str, bool | None]] = []
    rows = ["| target (issue 8) | measured | met |", "|---|---|---|"]

    def target(name: str, measured: str, met: bool | None) -> None:
        results.append((f"{name} (stateless batch)", met))
        rows.append(f"| {name} | {measured} | {'yes' if met else ('no' if met is False else 'not measured')} |")

    projected = big.wall * TARGET_ACCOUNTS / big.accounts
    if big.accounts == TARGET_ACCOUNTS:
        target("1,000,000 accounts, CSV to results.jsonl, ≤ 60 s", f"{_s(big.wall)} s", big.wall <= TARGET_SECONDS)
    else:
        target("1,000,000 accounts, CSV to results.jsonl, ≤ 60 s",
               f"{_s(big.wall)} s for {big.accounts:,}; {_s(projected)} s projected linearly", None)
    peak = max(big.tree_kib, big.largest_kib)
    target("peak memory ≤ 1 GiB", f"{_mib(peak)} (all processes together)", peak <= TARGET_RSS_KIB)
    if small:
        factor = peak / max(1, max(small.tree_kib, small.largest_kib))
        target(f"peak memory flat in N (10× the accounts: at most ×{FLAT_FACTOR})",
               f"×{factor:.2f} from {small.accounts:,} to {big.accounts:,} accounts", factor <= FLAT_FACTOR)
    else:
        target("peak memory flat in N", "needs --small", None)
    if docs_rate is not None:
        target("rendering ≥ 500 documents/s", f"{docs_rate:,.0f} documents/s", docs_rate >= TARGET_DOCS_PER_S)
    else:
        target("rendering ≥ 500 documents/s",
               "--render 0" if args.render == 0 else "no render timing in kam's --json output", None)
    clips = [e for e in evaluators if e.name.startswith("CLIPS")]
    ours = [e for e in evaluators if e.name == KamEvaluator.name]
    if clips and ours:
        c, k = clips[0], ours[0]
        # like for like: one process each, the same accounts, typed values in memory
        target("faster than CLIPS on the same rules (one process each, same accounts)",
               f"kam {k.rate:,.0f}/s, CLIPS {c.rate:,.0f}/s (×{k.rate / c.rate:.2f}); with --workers "
               f"{args.workers or 1}, {basis_name} {kam_rate:,.0f}/s", k.rate > c.rate)
    else:
        target("faster than CLIPS on the same rules", "--skip-clips", None)
    zen = [e for e in evaluators if e.name.startswith("GoRules ZEN")]
    if zen and ours:
        z, k = zen[0], ours[0]
        target("faster than GoRules ZEN on the same rules (issue 16; one process each, same accounts)",
               f"kam {k.rate:,.0f}/s, ZEN {z.rate:,.0f}/s (×{k.rate / z.rate:.2f})", k.rate > z.rate)
    else:
        target("faster than GoRules ZEN on the same rules", "--skip-zen", None)
    return lines + rows, results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark kam against plain Python, CLIPS, GoRules ZEN and polars "
                                             "(issues 8 and 16).")
    ap.add_argument("--accounts", type=int, default=TARGET_ACCOUNTS, help="accounts to generate (default 1,000,000)")
    ap.add_argument("--workers", type=int, help="passed to kam evaluate --workers")
    ap.add_argument("--skip-clips", action="store_true", help="do not run the CLIPS comparison")
    ap.add_argument("--skip-zen", action="store_true", help="do not run the GoRules ZEN comparison")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each one-process engine (kam's Evaluator, CLIPS, ZEN), in turn; the median "
                         "is shown (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep kam's output folders in bench/.data/run-N/")
    ap.add_argument("--sample", type=int, default=100_000,
                    help="accounts for the plain-Python (compiled) and CLIPS evaluators (default 100,000)")
    ap.add_argument("--reference-sample", type=int, default=10_000,
                    help="accounts for engine/rules/interpreter.py, the slow AST interpreter (default 10,000)")
    ap.add_argument("--small", type=int, help="second, smaller run for memory growth (default N/10; 0: none)")
    ap.add_argument("--render", type=int, default=20_000,
                    help="accounts of the separate run that renders documents (default 20,000; 0: none)")
    ap.add_argument("--skip-default-job", action="store_true",
                    help="do not run the headline: the default job (store + documents), twice (bench/default_job.py)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=DATA, help="cache of generated files and runs")
    args = ap.parse_args(argv)
    if args.accounts < 1 or args.sample < 1 or args.reference_sample < 1 or args.repeat < 1:
        ap.error("--accounts, --sample, --reference-sample and --repeat must be at least 1")
    if args.render < 0:
        ap.error("--render must be 0 or more")
    small_n = args.accounts // 10 if args.small is None else args.small

    project_dir = default_project_dir()
    project = load_project(project_dir)
    unknown = [c for c in COLUMNS if c not in project.metrics]
    if unknown:
        raise SystemExit(f"bench/generate.py writes columns the project does not declare: {', '.join(unknown)}")

    csv = dataset(args.accounts, args.seed, args.data)
    headline: list[str] = []
    checked: list[tuple[str, bool | None]] = []  # every target of the run: (name, met)
    if not args.skip_default_job:  # the job users run comes first (issue 16): a fresh store, then a week later
        from bench import default_job
        job = (default_job.run_job(dataset(small_n, args.seed, args.data), small_n, args.workers or 2, project_dir)
               if small_n > 0 else [])
        job += default_job.run_job(csv, args.accounts, args.workers or 2, project_dir)
        checked = [(f"{name} (default job)", met) for name, _, met in default_job.checks(job)]
        headline = default_job.table(job, args.workers or 2) + default_job.targets(job) + [
            "", "The stateless batch (`--no-store --no-documents`) and the engines compared, on the same accounts:", ""]
    small = None
    if small_n > 0:
        small = run_kam(dataset(small_n, args.seed, args.data), small_n, args.workers, project_dir, args.data)
    big = run_kam(csv, args.accounts, args.workers, project_dir, args.data)
    render_n = min(args.render, args.accounts)
    rendered = None
    if render_n > 0:
        rendered = run_kam(dataset(render_n, args.seed, args.data), render_n, args.workers, project_dir,
                           args.data, documents=True)
        big.summary["documents"] = rendered.summary.get("documents")
        # plans render in stage C, digests and reports after it: the rate is over the whole run
        big.summary["documents_wall"] = rendered.wall
    ids, evaluators = comparators(project, csv, args.accounts, args.sample, args.reference_sample,
                                  args.skip_clips, args.skip_zen, args.repeat)

    say("comparing every account with kam's results.jsonl")
    codec = Codec.of(project)
    result = compare.check(big.out / "results.jsonl", codec, ids, {e.name: e.outcomes for e in evaluators})
    if not args.keep and result.ok:  # a failed check keeps kam's output to look at
        for run in (small, big, rendered):
            if run is not None:
                shutil.rmtree(run.out.parent, ignore_errors=True)
    if not result.ok:
        print(f"RESULTS DIFFER: {len(result.mismatches)} accounts" if result.mismatches else "RESULTS DIFFER")
        if result.count_problem:
            print(result.count_problem)
        for m in result.mismatches:
            if m.kam is not None:
                print("\n".join(compare.describe(m, codec)))
        return 1
    lines, results = report(args, csv, big, small, evaluators, project.name)
    print("\n".join(headline + lines))
    from bench.default_job import verdict
    print("\n" + verdict(checked + results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
