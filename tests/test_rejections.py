"""rejected.jsonl is streamed (engine/run/rejections.py): records added in any order and spilled in
sorted runs come out in (source, row) order, the same bytes as when they all fit in memory."""
import json
import random

from engine.run.accounts import reject
from engine.run.rejections import Rejections


def _records(n: int) -> list[dict]:
    rows = [reject(f"part{k % 3}.csv", 2 + k, f"A{k}", [("status", f"'x{k % 4}' is not one of active, lost")])
            for k in range(n)]
    rows += [reject("part0.csv", 9000 + k, None, [(None, "totals row (the word 'Итого')")]) for k in range(5)]
    random.Random(7).shuffle(rows)
    return rows


def _written(tmp_path, name: str, buffered: int) -> tuple[bytes, Rejections, list]:
    spill = tmp_path / f"spill-{name}"
    spill.mkdir()
    rej = Rejections(spill, buffered=buffered)
    rows = _records(200)
    for k in range(0, len(rows), 17):  # pieces, as chunks hand them over
        rej.add(rows[k:k + 17])
    runs = sorted(p.name for p in spill.iterdir())
    out = tmp_path / f"{name}.jsonl"
    rej.write(out)
    assert list(spill.iterdir()) == []  # the runs are gone once merged
    return out.read_bytes(), rej, runs


def test_spilled_runs_merge_to_the_bytes_of_one_sort(tmp_path):
    spilled, _rej, runs = _written(tmp_path, "spilled", buffered=40)
    in_memory, _, none = _written(tmp_path, "memory", buffered=10_000)
    assert len(runs) == 4 and none == []  # 205 records in pieces of 17, spilled past 40
    assert spilled == in_memory
    lines = [json.loads(line) for line in spilled.decode("utf-8").splitlines()]
    assert [(r["source"], r["row"]) for r in lines] == sorted((r["source"], r["row"]) for r in _records(200))
    assert "Итого" in spilled.decode("utf-8")  # written as text, not \\u escapes


def test_counts_and_reasons_for_the_quality_gate(tmp_path):
    _, rej, _ = _written(tmp_path, "counts", buffered=40)
    assert (rej.count, rej.totals_rows, rej.data_rows) == (205, 5, 200)
    assert rej.most_common() == ("status: 'x0' is not one of active, lost", 50)  # a 4-way tie: the first
    assert sum(rej.reasons.values()) == 200  # totals rows weigh on neither side of the gate


def test_a_run_that_spills_its_rejections_writes_the_same_file(tmp_path, monkeypatch):
    """The default job on an export with bad rows, cut in chunks of 7: with every few rejected
    records spilled, rejected.jsonl and the summary are the bytes of the run that kept them."""
    from pathlib import Path

    import engine.run.rejections
    from engine.project.load import load_project
    from engine.run import evaluate_portfolio

    root = Path(__file__).resolve().parent.parent
    lines = (root / "examples" / "accounts.csv").read_text("utf-8").splitlines()
    header, rows = lines[0], lines[1:61]
    nps = header.split(",").index("nps")
    bad = []
    for k, row in enumerate(rows[:25]):
        cells = row.split(",")
        cells[0], cells[nps] = f"BAD-{k}", "eleven"
        bad.append(",".join(cells))
    f = tmp_path / "accounts.csv"
    f.write_text("\n".join([header] + rows + bad + rows[3:9]) + "\n", "utf-8")  # + 6 duplicates
    project = load_project(root)

    def run(name: str) -> tuple[bytes, dict]:
        out = tmp_path / name
        report = evaluate_portfolio(project, [f], out, engine_date(), chunk_size=7, max_rejected=100)
        summary = json.loads((out / "summary.json").read_text("utf-8"))
        summary.pop("timings")
        assert report.rejected == 31 and report.evaluated == 60
        return (out / "rejected.jsonl").read_bytes(), summary

    spills = []
    real = engine.run.rejections.Rejections._spill
    monkeypatch.setattr(engine.run.rejections.Rejections, "_spill", lambda self: (spills.append(1), real(self)))
    kept = run("kept")
    assert spills == []
    monkeypatch.setattr(engine.run.rejections, "BUFFERED", 4)
    assert run("spilled") == kept
    assert len(spills) >= 4


def engine_date():
    import datetime
    return datetime.date(2026, 11, 23)
