"""Generate the sample portfolio examples/accounts.csv (deterministic: seed 7).

    python examples/generate.py [N] > examples/accounts.csv

About 60 % healthy accounts, the rest with one to several risk signals, a few lost ones,
Latin and Cyrillic company names.
"""
from __future__ import annotations

import csv
import random
import sys

LATIN = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Stark Supply", "Wayne Logistics",
         "Acme Metals", "Vandelay Import", "Hooli Systems", "Soylent Foods", "Tyrell Parts",
         "Cyberdyne Tools", "Oceanic Freight", "Monarch Paper", "Gringotts Trade"]
CYRILLIC = ["Северсталь-Снаб", "ТехноПром", "Уралхим Трейд", "Вектор", "Альфа-Логистик", "Сибирский Лес",
            "Волга-Агро", "Кама Пласт", "Меридиан", "Балтийские Системы", "СтройИнвест", "Орион-Мед",
            "Полюс Энерго", "Ладога Фуд", "Гранит", "Енисей Металл"]
FORMS_LAT = ["Ltd", "GmbH", "LLC", "Inc."]
FORMS_CYR = ["ООО", "АО", "ПАО"]
OWNERS = ["Anna Petrova", "Ivan Sokolov", "Maria Ivanova", "Dmitry Kuznetsov", "Olga Smirnova"]
SEGMENTS = ["enterprise", "mid_market", "smb"]
REASONS = ["contract term ended", "lack of attention", "price pressure", "product spec change",
           "ownership change"]
COLUMNS = ["account_id", "name", "owner", "segment", "status", "strategic", "revenue_current",
           "revenue_previous", "margin_pct", "payment_overdue_days", "restructuring_requests_90d",
           "tenders_not_invited_90d", "pricing_policy_changed", "decision_maker_changed", "buyer_changed",
           "excluded_from_meetings", "bypassing_contractors", "approval_days_current",
           "approval_days_previous", "key_contacts", "client_contacts_current", "client_contacts_previous",
           "complaints_current", "complaints_previous", "competitor_mentions_90d", "dissatisfaction_noted",
           "nps", "days_since_qbr", "lost_reason", "expected_annual_revenue", "winback_cost",
           "win_probability"]


def account(i: int, rng: random.Random) -> dict:
    cyr = rng.random() < 0.5
    name = (f"{rng.choice(FORMS_CYR)} «{rng.choice(CYRILLIC)}»" if cyr
            else f"{rng.choice(LATIN)} {rng.choice(FORMS_LAT)}")
    big = i < 3  # a few large clients: key accounts, one of them a risky dependency
    prev = round(rng.lognormvariate(15, 1.0) * (40 if big else 1), 2)
    a = {"account_id": f"ACC-{i:04d}", "name": name, "owner": rng.choice(OWNERS),
         "segment": rng.choice(SEGMENTS), "status": "active", "strategic": "no",
         "revenue_previous": prev, "revenue_current": round(prev * rng.uniform(0.9, 1.15), 2),
         "margin_pct": round(rng.uniform(5, 35), 1), "payment_overdue_days": rng.choice([0, 0, 0, 5, 12]),
         "restructuring_requests_90d": 0, "tenders_not_invited_90d": 0, "pricing_policy_changed": "no",
         "decision_maker_changed": "no", "buyer_changed": "no", "excluded_from_meetings": "no",
         "bypassing_contractors": "no", "approval_days_previous": rng.randint(3, 10),
         "key_contacts": rng.randint(3, 6), "client_contacts_previous": rng.randint(4, 12),
         "complaints_previous": rng.randint(0, 3), "competitor_mentions_90d": rng.randint(0, 1),
         "dissatisfaction_noted": "no", "nps": rng.choice([7, 8, 9, 10, ""]),
         "days_since_qbr": rng.randint(10, 80), "lost_reason": "", "expected_annual_revenue": "",
         "winback_cost": "", "win_probability": ""}
    a["approval_days_current"] = a["approval_days_previous"]
    a["client_contacts_current"] = a["client_contacts_previous"]
    a["complaints_current"] = a["complaints_previous"]
    if rng.random() < 0.08:
        a["strategic"] = "yes"
    if rng.random() < 0.4 or big:  # at risk: one to several signals
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            signal = rng.randrange(16)
            if signal == 0:
                a["revenue_current"] = round(prev * rng.uniform(0.5, 0.84), 2)
            elif signal == 1:
                a["payment_overdue_days"] = rng.randint(31, 120)
            elif signal == 2:
                a["restructuring_requests_90d"] = rng.randint(2, 4)
            elif signal == 3:
                a["tenders_not_invited_90d"] = rng.randint(2, 3)
            elif signal == 4:
                a["pricing_policy_changed"] = "yes"
            elif signal == 5:
                a["decision_maker_changed"] = "yes"
            elif signal == 6:
                a["buyer_changed"] = "yes"
            elif signal == 7:
                a["excluded_from_meetings"] = "yes"
            elif signal == 8:
                a["approval_days_current"] = round(a["approval_days_previous"] * rng.uniform(1.3, 2.0), 1)
            elif signal == 9:
                a["bypassing_contractors"] = "yes"
            elif signal == 10:
                a["key_contacts"] = rng.randint(0, 2)
            elif signal == 11:
                a["client_contacts_current"] = int(a["client_contacts_previous"] * rng.uniform(0.2, 0.7))
            elif signal == 12:
                a["dissatisfaction_noted"] = "yes"
            elif signal == 13:
                a["complaints_current"] = a["complaints_previous"] + rng.randint(1, 4)
            elif signal == 14:
                a["competitor_mentions_90d"] = rng.randint(2, 5)
            else:
                a["nps"] = rng.randint(0, 6)
    if big:
        a["days_since_qbr"] = rng.randint(95, 200)
    if rng.random() < 0.04 and not big:
        a["status"] = "lost"
        a["revenue_current"] = 0
        a["lost_reason"] = rng.choice(REASONS)
        a["expected_annual_revenue"] = round(prev * rng.uniform(1.5, 4), 2)
        a["winback_cost"] = round(prev * rng.uniform(0.1, 0.6), 2)
        a["win_probability"] = round(rng.uniform(0.1, 0.7), 2)
    return a


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rng = random.Random(7)
    w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for i in range(n):
        w.writerow(account(i, rng))


if __name__ == "__main__":
    main()
