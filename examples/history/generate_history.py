"""Generate a sample account history for `kam backtest` (deterministic: seed 11).

    python examples/history/generate_history.py [--accounts 300] [--seed 11] [--out examples/history]

writes
  snapshots.csv  one row per account and quarter-end snapshot (8 snapshots, 2024-03-31 …
                 2025-12-31): the account columns of contract.md plus `snapshot_date`;
  losses.csv     account_id,lost_date for the accounts that were lost.

How the simulation works, so the numbers a backtest shows can be judged:
- about 20 % of the accounts are lost at some point between the second snapshot and three
  months after the last one; a lost account has no snapshot on or after its loss;
- most lost accounts (about 85 %) go through a "decline" of one to three quarters before
  the loss: purchases fall (by 5-45 %, more the closer the loss), payments slip, NPS drops,
  the decision maker or the buyer changes, the client calls less, complains more, compares
  us with competitors. Each symptom shows with some probability, so no signal catches all;
- the other lost accounts leave without warning (a contract term simply ended);
- healthy accounts are noisy: revenue moves by ±10 % a quarter, sometimes more, a payment is
  occasionally late, NPS is missing for about 20 % (no survey), and now and then a buyer
  changes. So every signal also fires for accounts that stay: precision is below 1, and a
  lower purchase-drop threshold catches more losses at the price of more false alarms.
"""
from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from pathlib import Path

SNAPSHOTS = [date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31),
             date(2025, 3, 31), date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 31)]
COLUMNS = ["snapshot_date", "account_id", "name", "owner", "segment", "status", "strategic",
           "revenue_current", "revenue_previous", "margin_pct", "payment_overdue_days",
           "restructuring_requests_90d", "tenders_not_invited_90d", "pricing_policy_changed",
           "decision_maker_changed", "buyer_changed", "excluded_from_meetings", "bypassing_contractors",
           "approval_days_current", "approval_days_previous", "key_contacts", "client_contacts_current",
           "client_contacts_previous", "complaints_current", "complaints_previous",
           "competitor_mentions_90d", "dissatisfaction_noted", "nps", "days_since_qbr"]
NAMES = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Вектор", "ТехноПром", "Меридиан",
         "Гранит", "Орион-Мед", "Ладога Фуд", "Кама Пласт", "Stark Supply", "Acme Metals", "Monarch Paper"]
OWNERS = ["Anna Petrova", "Ivan Sokolov", "Maria Ivanova", "Dmitry Kuznetsov", "Olga Smirnova"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
LOSS_SHARE = 0.20
SILENT_SHARE = 0.15  # of the lost: no decline before the loss


def yes(p: float, rng: random.Random) -> str:
    return "yes" if rng.random() < p else "no"


class Account:
    def __init__(self, i: int, rng: random.Random):
        self.id = f"H-{i:04d}"
        self.name = f"{rng.choice(NAMES)} {i}"
        self.owner = rng.choice(OWNERS)
        self.segment = rng.choice(SEGMENTS)
        self.strategic = rng.random() < 0.05
        self.revenue = round(rng.lognormvariate(15, 1.0), 2)  # a few large, many small
        self.margin = round(rng.uniform(5, 35), 1)
        self.contacts = rng.randint(4, 20)
        self.complaints = rng.randint(0, 2)
        self.approval = round(rng.uniform(3, 12), 1)
        self.key_contacts = 2 if rng.random() < 0.08 else rng.randint(3, 6)
        self.days_since_qbr = rng.randint(0, 120)
        self.lost: date | None = None
        self.decline_from: date | None = None
        if rng.random() < LOSS_SHARE:
            after = rng.randint(1, len(SNAPSHOTS) - 1)  # lost after this snapshot
            self.lost = SNAPSHOTS[after] + timedelta(days=rng.randint(5, 88))
            if rng.random() >= SILENT_SHARE:
                quarters = rng.choices([1, 2, 3], weights=[3, 4, 2])[0]
                self.decline_from = SNAPSHOTS[max(0, after - quarters + 1)]

    def stress(self, when: date) -> float:
        """0 for a healthy quarter, rising to 1 at the snapshot just before the loss."""
        if self.decline_from is None or self.lost is None or when < self.decline_from:
            return 0.0
        total = max((self.lost - self.decline_from).days, 1)
        return min(1.0, 0.4 + 0.6 * (when - self.decline_from).days / total)

    def row(self, when: date, rng: random.Random) -> dict[str, object]:
        s = self.stress(when)
        previous = self.revenue
        change = rng.gauss(0.02, 0.07) if s == 0 else -rng.uniform(0.05, 0.10 + 0.35 * s)
        if s == 0 and rng.random() < 0.06:
            change = -rng.uniform(0.10, 0.30)  # an ordinary bad quarter
        self.revenue = round(max(previous * (1 + change), 0.0), 2)
        contacts_previous = self.contacts
        self.contacts = max(0, round(self.contacts * ((1 - rng.uniform(0.2, 0.6) * s) if s
                                                      else rng.uniform(0.8, 1.2))))
        complaints_previous = self.complaints
        if rng.random() < 0.6 * s:
            self.complaints += rng.randint(1, 3)
        elif rng.random() < 0.2:
            self.complaints = max(0, self.complaints + rng.choice([-1, 1]))
        approval_previous = self.approval
        self.approval = round(self.approval * (1 + (rng.uniform(0.1, 0.6) * s if s
                                                     else rng.uniform(-0.1, 0.15))), 1)
        if s and rng.random() < 0.3:
            self.key_contacts = max(1, self.key_contacts - 1)
        self.days_since_qbr = (rng.randint(0, 30) if rng.random() < (0.5 - 0.4 * s)
                               else self.days_since_qbr + 91)
        late = rng.random() < 0.05 + 0.5 * s
        nps = "" if rng.random() < 0.2 else (rng.randint(2, 7) if s else rng.choices(
            range(4, 11), weights=[0.2, 0.4, 0.8, 4, 6, 6, 5])[0])
        return {
            "snapshot_date": when.isoformat(), "account_id": self.id, "name": self.name,
            "owner": self.owner, "segment": self.segment, "status": "active",
            "strategic": "yes" if self.strategic else "no",
            "revenue_current": self.revenue, "revenue_previous": previous, "margin_pct": self.margin,
            "payment_overdue_days": rng.randint(31, 90) if late and (s or rng.random() < 0.5)
            else (rng.randint(1, 30) if late else 0),
            "restructuring_requests_90d": rng.choices([0, 1, 2, 3], weights=[8, 2, 0.2 + 6 * s, 3 * s])[0],
            "tenders_not_invited_90d": rng.choices([0, 1, 2, 3], weights=[9, 1, 5 * s, 3 * s])[0],
            "pricing_policy_changed": yes(0.02 + 0.2 * s, rng),
            "decision_maker_changed": yes(0.03 + 0.3 * s, rng),
            "buyer_changed": yes(0.03 + 0.25 * s, rng),
            "excluded_from_meetings": yes(0.01 + 0.35 * s, rng),
            "bypassing_contractors": yes(0.01 + 0.25 * s, rng),
            "approval_days_current": self.approval, "approval_days_previous": approval_previous,
            "key_contacts": self.key_contacts,
            "client_contacts_current": self.contacts, "client_contacts_previous": contacts_previous,
            "complaints_current": self.complaints, "complaints_previous": complaints_previous,
            "competitor_mentions_90d": rng.choices([0, 1, 2, 3], weights=[8, 2, 0.3 + 5 * s, 4 * s])[0],
            "dissatisfaction_noted": yes(0.03 + 0.4 * s, rng),
            "nps": nps, "days_since_qbr": self.days_since_qbr,
        }


def generate(n: int, seed: int) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    accounts = [Account(i, rng) for i in range(1, n + 1)]
    rows = [a.row(when, rng) for when in SNAPSHOTS for a in accounts
            if a.lost is None or when < a.lost]
    losses = sorted((a.id, a.lost.isoformat()) for a in accounts if a.lost is not None)
    return rows, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    rows, losses = generate(args.accounts, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "snapshots.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with (args.out / "losses.csv").open("w", encoding="utf-8", newline="") as f:
        w2 = csv.writer(f, lineterminator="\n")
        w2.writerow(["account_id", "lost_date"])
        w2.writerows(losses)
    print(f"{len(rows)} snapshot rows, {len(losses)} lost accounts -> {args.out}/")


if __name__ == "__main__":
    main()
