"""The .xlsx benchmark of issue 15: the same accounts as an Excel workbook and as CSV, end to end.

    python bench/xlsx.py [--accounts 100000] [--runs 3] [--seed 7]

Builds bench/.data/accounts-N-sS-vV.csv (bench/generate.py) and the same accounts as .xlsx,
written by openpyxl's write-only mode (numbers as numbers, yes/no as booleans, empty cells
empty), both cached. Then runs `kam evaluate FILE --out DIR --as-of 2026-11-23` on each, in
turn, RUNS times in two modes: kam's defaults (state store and documents; a fresh store for
every run, so that each does the same work) and `--no-store --no-documents`. It checks that
both files give the same results.jsonl, then prints the median wall seconds of each (the
whole process, timed from outside) and the ratio xlsx / CSV. The target: at most 3.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `engine` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import VERSION, generate
from engine.project.load import default_project_dir, load_project

AS_OF = "2026-11-23"
DATA = Path(__file__).resolve().parent / ".data"
TARGET_RATIO = 3.0
MODES = {"defaults": [], "--no-store --no-documents": ["--no-store", "--no-documents"]}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def as_xlsx(source: Path, target: Path) -> Path:
    """The CSV's accounts as a workbook: each cell typed by its metric."""
    import openpyxl

    types = {m.id: m.type for m in load_project(default_project_dir()).metrics.values()}
    cast = {"number": float, "integer": int, "boolean": lambda t: t == "yes"}
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Accounts")
    with source.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        sheet.append(header)
        kinds = [cast.get(types.get(c, "text"), str) for c in header]
        for row in rows:
            sheet.append([None if text == "" else kind(text) for kind, text in zip(kinds, row)])
    part = target.with_name(target.name + ".part")
    book.save(part)
    part.replace(target)
    return target


def inputs(n: int, seed: int) -> tuple[Path, Path]:
    stem = DATA / f"accounts-{n}-s{seed}-v{VERSION}"
    csv_file, xlsx_file = stem.with_suffix(".csv"), stem.with_suffix(".xlsx")
    if not csv_file.is_file():
        say(f"generating {n:,} accounts -> {csv_file}")
        generate(csv_file, n, seed)
    if not xlsx_file.is_file() or xlsx_file.stat().st_mtime < csv_file.stat().st_mtime:
        say(f"writing them as a workbook -> {xlsx_file}")
        as_xlsx(csv_file, xlsx_file)
    return csv_file, xlsx_file


def run(kam: str, path: Path, extra: list[str], work: Path) -> tuple[float, Path]:
    """One `kam evaluate`, in a fresh folder with a fresh store: wall seconds and results."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out = work / "out"
    env = dict(os.environ, KAM_STORE=str(work / "state.sqlite"))
    cmd = [kam, "evaluate", str(path), "--out", str(out), "--as-of", AS_OF, *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, out / "results.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    here = Path(sys.executable).with_name("kam")
    kam = str(here) if here.is_file() else shutil.which("kam")
    if not kam:
        raise SystemExit("kam is not installed in this environment (run `make test` first)")
    files = dict(zip(("csv", "xlsx"), inputs(args.accounts, args.seed)))
    print(f"| {args.accounts:,} accounts, median of {args.runs} | CSV s | .xlsx s | .xlsx / CSV |")
    print("|---|---:|---:|---:|")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="kam-bench-xlsx-") as tmp:
        for mode, extra in MODES.items():
            seconds: dict[str, list[float]] = {"csv": [], "xlsx": []}
            for i in range(args.runs):
                results = {}
                for kind, path in files.items():  # in turn: a drifting machine slows both alike
                    say(f"{mode}: run {i + 1}/{args.runs}, {path.name}")
                    s, results[kind] = run(kam, path, extra, Path(tmp) / kind)
                    seconds[kind].append(s)
                if results["csv"].read_bytes() != results["xlsx"].read_bytes():
                    raise SystemExit(f"{mode}: the .xlsx gave other results than the CSV")
            csv_s, xlsx_s = (statistics.median(seconds[k]) for k in ("csv", "xlsx"))
            worst = max(worst, xlsx_s / csv_s)
            print(f"| `kam evaluate` {mode} | {csv_s:.1f} | {xlsx_s:.1f} | {xlsx_s / csv_s:.2f} |", flush=True)
    print(f"\nresults.jsonl identical in every run; worst ratio {worst:.2f} (target: at most {TARGET_RATIO:g})")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
