"""One comparison engine in one process over the benchmark's accounts, for timing a whole
process from outside (e.g. `/usr/bin/time -v`, or two of them alternately):

    python bench/engines.py kam --accounts 100000
    python bench/engines.py zen --accounts 100000
    python bench/engines.py zen-levels     # ZEN with one graph node per level of the rules

It reads the generated file of bench/run.py (bench/.data/accounts-N-s7-v1.csv, generated if
absent) with the portfolio pass once and caches the typed values next to it, so every run
after the first spends its time in the engine. It prints the engine's own accounts/s (CPU
and wall) and a digest of the outcomes (risk level and the fact code of every account): two
engines that print the same digest gave the same outcome on every account.
"""
from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `engine` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import VERSION, generate
from engine.project.load import default_project_dir, load_project

DATA = Path(__file__).resolve().parent / ".data"
AS_OF = "2026-11-23"
ENGINES = ("kam", "zen", "zen-levels", "clips", "compiled")


def accounts(n: int, seed: int, data: Path, project) -> list[dict]:
    csv = data / f"accounts-{n}-s{seed}-v{VERSION}.csv"
    cached = csv.with_suffix(".values.pickle")
    if cached.is_file() and cached.stat().st_mtime >= csv.stat().st_mtime:
        with cached.open("rb") as f:
            return pickle.load(f)
    from bench import frame
    if not csv.is_file():
        data.mkdir(parents=True, exist_ok=True)
        generate(csv, n, seed)
    values = frame.values(frame.read_frame(project, csv))
    with cached.open("wb") as f:
        pickle.dump(values, f, protocol=pickle.HIGHEST_PROTOCOL)
    return values


def evaluator(name: str, project):
    if name == "kam":
        from bench.kam_inprocess import KamEvaluator
        return KamEvaluator(project, AS_OF)
    if name in ("zen", "zen-levels"):
        from bench.zen_engine import ZenEvaluator
        return ZenEvaluator(project, "levels" if name == "zen-levels" else "single")
    if name == "clips":
        from bench.clips_engine import ClipsEvaluator
        return ClipsEvaluator(project)
    from bench.plain import CompiledEvaluator
    return CompiledEvaluator(project)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="One comparison engine over the benchmark's accounts, in one process.")
    ap.add_argument("engine", choices=ENGINES)
    ap.add_argument("--accounts", type=int, default=100_000, help="size of the generated file (default 100,000)")
    ap.add_argument("--sample", type=int, help="evaluate only the first accounts of it")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    project = load_project(default_project_dir())
    values = accounts(args.accounts, args.seed, args.data, project)[:args.sample]
    engine = evaluator(args.engine, project)
    cpu, wall = time.process_time(), time.perf_counter()
    outcomes = engine.evaluate_all(values)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    digest = hashlib.sha256(repr(outcomes).encode()).hexdigest()[:16]
    print(f"{args.engine}: {len(values):,} accounts in {wall:.2f} s ({len(values) / wall:,.0f}/s wall, "
          f"{len(values) / cpu:,.0f}/s CPU); outcomes {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
