"""Synthetic accounts for the benchmark, streamed to a CSV file (never the whole portfolio
in memory; deterministic for a seed).

    python bench/generate.py 1000000 bench/.data/accounts.csv [--seed 7]

The mix: about 70 % healthy accounts, the rest with one to several risk signals, about 3 %
lost (with win-back inputs), 5 % strategic, a few very large clients (key accounts, one
risky dependency), key-account scores for about 40 %, missing values (NPS for 15 %, other
fields now and then) and values exactly at a threshold, so that three-valued logic and
strict comparisons get exercised on every run. Company names are Latin and Cyrillic.
"""
from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from pathlib import Path

# bump when the mix changes: cached files are named after it (bench/run.py)
VERSION = 1

LATIN = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark Supply", "Wayne Logistics",
         "Acme Metals", "Vandelay Import", "Hooli Systems", "Soylent Foods", "Tyrell Parts",
         "Cyberdyne Tools", "Oceanic Freight", "Monarch Paper", "Gringotts Trade"]
CYRILLIC = ["Северсталь-Снаб", "ТехноПром", "Уралхим Трейд", "Вектор", "Альфа-Логистик", "Сибирский Лес",
            "Волга-Агро", "Кама Пласт", "Меридиан", "Балтийские Системы", "СтройИнвест", "Орион-Мед",
            "Полюс Энерго", "Ладога Фуд", "Гранит", "Енисей Металл"]
NAMES = ([f"{n} {f}" for n in LATIN for f in ("Ltd", "GmbH", "LLC", "Inc.")]
         + [f"{f} «{n}»" for n in CYRILLIC for f in ("ООО", "АО", "ПАО")])
OWNERS = ["Anna Petrova", "Ivan Sokolov", "Maria Ivanova", "Dmitry Kuznetsov", "Olga Smirnova",
          "Pavel Morozov", "Elena Volkova", "Sergey Lebedev"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
REASONS = ["contract term ended", "lack of attention", "price pressure", "product spec change",
           "ownership change"]
SCORES = ["score_purchase_frequency", "score_growth_plans", "score_profitability", "score_criticality",
          "score_reputation", "score_partnership", "score_our_attractiveness"]
COLUMNS = ["account_id", "name", "owner", "segment", "status", "strategic", "revenue_current",
           "revenue_previous", "margin_pct", "payment_overdue_days", "restructuring_requests_90d",
           "tenders_not_invited_90d", "pricing_policy_changed", "decision_maker_changed", "buyer_changed",
           "excluded_from_meetings", "bypassing_contractors", "approval_days_current",
           "approval_days_previous", "key_contacts", "client_contacts_current", "client_contacts_previous",
           "complaints_current", "complaints_previous", "competitor_mentions_90d", "dissatisfaction_noted",
           "nps", "days_since_qbr", "lost_reason", "expected_annual_revenue", "winback_cost",
           "win_probability"] + SCORES
_IX = {c: i for i, c in enumerate(COLUMNS)}
# positions in a row (checked against COLUMNS below)
(ID, NAME, OWNER, SEGMENT, STATUS, STRATEGIC, REV_CUR, REV_PREV, MARGIN, OVERDUE, RESTRUCTURING, TENDERS,
 PRICING, DECISION_MAKER, BUYER, EXCLUDED, BYPASSING, APPROVAL_CUR, APPROVAL_PREV, KEY_CONTACTS,
 CONTACTS_CUR, CONTACTS_PREV, COMPLAINTS_CUR, COMPLAINTS_PREV, COMPETITOR, DISSATISFACTION, NPS, QBR,
 LOST_REASON, EXPECTED_REVENUE, WINBACK_COST, WIN_PROBABILITY) = range(32)
assert (COLUMNS[NPS], COLUMNS[QBR], COLUMNS[WIN_PROBABILITY]) == ("nps", "days_since_qbr", "win_probability")

REVENUE_MU, REVENUE_SIGMA = 13.0, 1.0
# the first accounts are very large: shares of the whole portfolio's revenue
BIG_SHARES = (0.22, 0.12, 0.105)
# columns that may be empty now and then (a missing value is never a low one)
SOMETIMES_MISSING = ["revenue_previous", "payment_overdue_days", "approval_days_current", "key_contacts",
                     "client_contacts_previous", "complaints_current", "competitor_mentions_90d",
                     "days_since_qbr", "margin_pct", "segment"]


def _big_revenues(n: int) -> list[float]:
    """Revenues that give the first accounts about BIG_SHARES of the portfolio's total."""
    big = [s for s in BIG_SHARES][: max(0, n - 1)]
    rest = (n - len(big)) * math.exp(REVENUE_MU + REVENUE_SIGMA ** 2 / 2)
    total = rest / (1 - sum(big)) if big else rest
    return [round(s * total, 2) for s in big]


def _signal(row: list, k: int, rnd, randint, prev: float) -> None:
    """Make one of the 16 default signals fire (k in 0..15)."""
    if k == 0:
        row[REV_CUR] = round(prev * (0.5 + 0.34 * rnd()), 2)
    elif k == 1:
        row[OVERDUE] = randint(31, 120)
    elif k == 2:
        row[RESTRUCTURING] = randint(2, 4)
    elif k == 3:
        row[TENDERS] = randint(2, 3)
    elif k == 4:
        row[PRICING] = "yes"
    elif k == 5:
        row[DECISION_MAKER] = "yes"
    elif k == 6:
        row[BUYER] = "yes"
    elif k == 7:
        row[EXCLUDED] = "yes"
    elif k == 8:
        row[APPROVAL_CUR] = round(row[APPROVAL_PREV] * (1.3 + 0.7 * rnd()), 1)
    elif k == 9:
        row[BYPASSING] = "yes"
    elif k == 10:
        row[KEY_CONTACTS] = randint(0, 2)
    elif k == 11:
        row[CONTACTS_CUR] = int(row[CONTACTS_PREV] * (0.2 + 0.5 * rnd()))
    elif k == 12:
        row[DISSATISFACTION] = "yes"
    elif k == 13:
        row[COMPLAINTS_CUR] = row[COMPLAINTS_PREV] + randint(1, 4)
    elif k == 14:
        row[COMPETITOR] = randint(2, 5)
    else:
        row[NPS] = randint(0, 6)


def _boundary(row: list, k: int) -> None:
    """A value exactly at a threshold (a strict comparison must not fire on it)."""
    if k == 0:
        row[REV_PREV], row[REV_CUR] = 3.0, 2.55  # a 15 % drop, exactly: "more than 15 %" stays silent
    elif k == 1:
        row[OVERDUE] = 30
    elif k == 2:
        row[KEY_CONTACTS] = 3
    elif k == 3:
        row[NPS] = 7
    elif k == 4:
        row[RESTRUCTURING] = 1
    else:
        row[QBR] = 90


def rows(n: int, seed: int = 7):
    """The accounts as lists of cells, in COLUMNS order, one at a time."""
    rng = random.Random(seed)
    rnd, randint, lognorm, choice = rng.random, rng.randint, rng.lognormvariate, rng.choice
    big = _big_revenues(n)
    width = len(COLUMNS)
    digits = max(7, len(str(n - 1)))
    first_score = width - len(SCORES)
    for i in range(n):
        row = [""] * width
        row[ID] = f"ACC-{i:0{digits}d}"
        row[NAME] = choice(NAMES)
        row[OWNER] = choice(OWNERS)
        row[SEGMENT] = choice(SEGMENTS)
        row[STATUS] = "active"
        row[STRATEGIC] = "yes" if rnd() < 0.05 else "no"
        prev = big[i] if i < len(big) else round(lognorm(REVENUE_MU, REVENUE_SIGMA), 2)
        row[REV_PREV] = prev
        row[REV_CUR] = round(prev * (0.9 + 0.25 * rnd()), 2)
        row[MARGIN] = round(5 + 30 * rnd(), 1)
        row[OVERDUE] = (0, 0, 0, 5, 12)[int(rnd() * 5)]
        row[RESTRUCTURING] = row[TENDERS] = 0
        row[PRICING] = row[DECISION_MAKER] = row[BUYER] = row[EXCLUDED] = row[BYPASSING] = "no"
        row[DISSATISFACTION] = "no"
        row[APPROVAL_CUR] = row[APPROVAL_PREV] = randint(3, 10)
        row[KEY_CONTACTS] = randint(3, 6)
        row[CONTACTS_CUR] = row[CONTACTS_PREV] = randint(4, 12)
        row[COMPLAINTS_CUR] = row[COMPLAINTS_PREV] = randint(0, 3)
        row[COMPETITOR] = int(rnd() * 2)
        r = rnd()
        row[NPS] = "" if r < 0.15 else 7 + int(r * 4 - 0.6)  # 15 % without NPS, else 7..10
        row[QBR] = randint(10, 200) if row[STRATEGIC] == "yes" or i < len(big) else randint(10, 80)
        r = rnd()
        if r < 0.30 or i < len(big):  # at risk: one to several signals
            for _ in range((1, 1, 1, 2, 2, 3, 4, 5)[int(rnd() * 8)]):
                _signal(row, int(rnd() * 16), rnd, randint, prev)
        elif r < 0.33:
            _boundary(row, int(rnd() * 6))
        if rnd() < 0.08:  # a value was not filled in
            row[_IX[SOMETIMES_MISSING[int(rnd() * len(SOMETIMES_MISSING))]]] = ""
        r = rnd()
        if r < 0.40:  # scored key-account criteria, 1-10 (a few with one score missing)
            for j in range(first_score, width):
                row[j] = randint(1, 10)
            if r < 0.02:
                row[first_score + int(rnd() * len(SCORES))] = ""
        if i >= len(big) and rnd() < 0.03:
            row[STATUS] = "lost"
            row[REV_CUR] = 0
            row[LOST_REASON] = choice(REASONS)
            row[EXPECTED_REVENUE] = round(prev * (1.5 + 2.5 * rnd()), 2)
            row[WINBACK_COST] = round(prev * (0.1 + 0.5 * rnd()), 2)
            row[WIN_PROBABILITY] = round(0.1 + 0.6 * rnd(), 2)
        yield row


def generate(path: Path, n: int, seed: int = 7, chunk: int = 20_000) -> Path:
    """Write n accounts to path (through a temporary file: a cache is never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        batch: list[list] = []
        for row in rows(n, seed):
            batch.append(row)
            if len(batch) >= chunk:
                w.writerows(batch)
                batch.clear()
        w.writerows(batch)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("accounts", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.accounts < 1:
        ap.error("accounts must be at least 1")
    generate(args.out, args.accounts, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
