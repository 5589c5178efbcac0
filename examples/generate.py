"""Generate the sample portfolio examples/accounts.csv (deterministic: seed 7).

    python examples/generate.py [N] > examples/accounts.csv
    python examples/generate.py --lang ru [N] > examples/accounts_ru.csv

The Russian sample is the same portfolio, account for account, for a Russian reader: every
company and every account manager named in Cyrillic (the English one has managers in Latin
script and clients in both, as a Russian supplier's export to an English reader would).

About 60 % of the accounts are healthy and the rest show one to several risk signals, the
way a real portfolio looks. A dozen hand-written accounts among them make sure every one
of the 22 signals and all 7 playbooks occur (tests/test_signals_catalog.py checks it):
a client bringing more than 20 % of the revenue (dependency), a strategic account overdue
for its QBR, and lost clients that are worth winning back, that are not, and one whose
win-back estimate lacks an input (its chance of success is the default for its reason, but
the cost of its special requirements is not estimated yet). Company names are unique, in
Latin and Cyrillic script, made up but ordinary (no companies out of films or novels). The
cost of lost clients' special requirements (concessions_cost) comes
from a random stream of its own, so adding it changed no other column.
"""
from __future__ import annotations

import csv
import math
import random
import sys

# Company names: a place and a trade, each pair used once (two clients named alike would read as
# one client twice); ordinary made-up names, none a real company's, and none out of a film or a
# novel. The English sample mixes Latin and Cyrillic clients, the Russian one is all Cyrillic.
PLACES_LAT = ["Baltic", "Nordic", "Alpine", "Atlantic", "Danube", "Rhine", "Carpathian", "Adriatic", "Hanse",
              "Westfield", "Lakeside", "Ridgeway", "Pinecrest", "Keystone", "Sterling", "Redwood", "Silverline",
              "Evergreen", "Harbor", "Meridian"]
TRADES_LAT = ["Metals", "Logistics", "Foods", "Packaging", "Plastics", "Chemicals", "Components", "Machinery",
              "Textiles", "Paper", "Energy", "Glass"]
# masculine nouns, so that one adjective form fits every trade
PLACES_CYR = ["Северный", "Уральский", "Волжский", "Сибирский", "Балтийский", "Донской", "Камский", "Приморский",
              "Енисейский", "Ладожский", "Окский", "Алтайский", "Тверской", "Курский", "Невский", "Таёжный",
              "Степной", "Южный", "Западный", "Восточный"]
TRADES_CYR = ["Металл", "Кабель", "Пластик", "Терминал", "Агрокомплекс", "Лес", "Транзит", "Хлеб", "Инструмент",
              "Текстиль", "Профиль", "Станкозавод"]
FORMS_LAT = ["Ltd", "GmbH", "LLC", "Inc."]
FORMS_CYR = ["ООО", "АО", "ПАО"]
OWNERS = ["Anna Petrova", "Ivan Sokolov", "Maria Ivanova", "Dmitry Kuznetsov", "Olga Smirnova"]
OWNERS_RU = dict(zip(OWNERS, ["Анна Петрова", "Иван Соколов", "Мария Иванова", "Дмитрий Кузнецов",
                              "Ольга Смирнова"]))
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
           "concessions_cost", "win_probability",
           # issue 14: optional columns of the later signals and of the manager KPIs (source 003)
           "margin_pct_previous", "concession_requests_90d", "failed_deals_90d", "ownership_changed",
           "competitor_joint_projects", "competitor_mentions_prev_90d", "days_since_client_reply",
           "orders_current", "repeat_orders_current", "deals_current"]
# key-account criteria scores 1-10 (rules/portfolio.yaml), drawn from their own random stream
SCORES = ["score_purchase_frequency", "score_growth_plans", "score_profitability", "score_criticality",
          "score_reputation", "score_partnership", "score_our_attractiveness"]
COLUMNS += SCORES


def names(rng: random.Random, n: int, lang: str = "en") -> list[str]:
    """n unique company names, shuffled, each place-and-trade pair once with a legal form;
    past the pairs there are (240 a script) they get a number."""
    cyrillic = [(f"{p} {t}", True) for p in PLACES_CYR for t in TRADES_CYR]
    bases = cyrillic if lang == "ru" else [(f"{p} {t}", False) for p in PLACES_LAT for t in TRADES_LAT] + cyrillic
    rng.shuffle(bases)
    out = []
    for i in range(n):
        base, cyr = bases[i % len(bases)]
        name = f"{rng.choice(FORMS_CYR)} «{base}»" if cyr else f"{base} {rng.choice(FORMS_LAT)}"
        out.append(name + (f" {i // len(bases) + 1}" if i >= len(bases) else ""))
    return out


def healthy(rng: random.Random) -> dict:
    prev = round(rng.lognormvariate(15, 1.0), 2)
    a = {"owner": rng.choice(OWNERS), "segment": rng.choice(SEGMENTS), "status": "active",
         "strategic": "yes" if rng.random() < 0.06 else "no",
         "revenue_previous": prev, "revenue_current": round(prev * rng.uniform(0.9, 1.15), 2),
         "margin_pct": round(rng.uniform(5, 35), 1), "payment_overdue_days": rng.choice([0, 0, 0, 5, 12]),
         "restructuring_requests_90d": 0, "tenders_not_invited_90d": 0, "pricing_policy_changed": "no",
         "decision_maker_changed": "no", "buyer_changed": "no", "excluded_from_meetings": "no",
         "bypassing_contractors": "no", "approval_days_previous": rng.randint(3, 10),
         "key_contacts": rng.randint(3, 6), "client_contacts_previous": rng.randint(4, 12),
         "complaints_previous": rng.randint(0, 3), "competitor_mentions_90d": rng.randint(0, 1),
         "dissatisfaction_noted": "no", "nps": rng.choice([7, 8, 9, 10, ""]),
         "days_since_qbr": rng.randint(10, 80), "lost_reason": "", "expected_annual_revenue": "",
         "winback_cost": "", "concessions_cost": "", "win_probability": ""}
    a["approval_days_current"] = a["approval_days_previous"]
    a["client_contacts_current"] = a["client_contacts_previous"]
    a["complaints_current"] = a["complaints_previous"]
    return a


def add_signal(a: dict, signal: int, rng: random.Random) -> None:
    """Make one of the 16 signals of 000 (domain.md order) fire, clearly past its threshold; the later
    ones come from later_signal."""
    prev = a["revenue_previous"]
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


# What meeting a lost client's special requirements costs, as a share of the expected annual
# revenue, by why it left: a discount for price pressure, product work for a changed
# specification, service for lack of attention.
CONCESSIONS = {"contract term ended": (0.0, 0.01), "lack of attention": (0.01, 0.03),
               "price pressure": (0.03, 0.08), "product spec change": (0.02, 0.06),
               "ownership change": (0.01, 0.04)}
DRAW = object()  # concessions_cost to be drawn from its own stream (see main)


def lose(a: dict, reason: str, revenue: float | str, margin: float, chance: float | str,
         cost: float | str, concessions: object = DRAW) -> None:
    """A lost client: no revenue this period, and the inputs of the win-back estimate."""
    a.update(status="lost", revenue_current=0, lost_reason=reason, margin_pct=margin,
             expected_annual_revenue=revenue, win_probability=chance, winback_cost=cost,
             concessions_cost=concessions)


LATER = ["margin_erosion", "concession_pressure", "failed_deals", "ownership_change",
         "competitor_joint_projects", "no_reply"]


def later_columns(a: dict, rng: random.Random) -> None:
    """The columns added for issue 14, from a random stream of their own (every other column of
    the sample stays as it was): a healthy value, or the account's signal of them."""
    margin = float(a["margin_pct"]) if a["margin_pct"] not in ("", None) else 20.0
    a.update(margin_pct_previous=round(margin + rng.uniform(-2, 3), 1), concession_requests_90d=rng.randint(0, 1),
             failed_deals_90d=rng.randint(0, 1), ownership_changed="no", competitor_joint_projects="no",
             competitor_mentions_prev_90d=rng.randint(0, 1), days_since_client_reply=rng.randint(1, 14))
    if int(a["competitor_mentions_90d"]) >= 2:  # comparisons grew: more than the 90 days before
        a["competitor_mentions_prev_90d"] = rng.randint(0, int(a["competitor_mentions_90d"]) - 1)
    if a["status"] == "lost":
        a.update(orders_current=0, repeat_orders_current=0, deals_current=0)
    else:
        orders = rng.randint(2, 40)
        a.update(orders_current=orders, repeat_orders_current=int(orders * rng.uniform(0.4, 0.95)),
                 deals_current=rng.randint(1, 10))
    for signal in a.pop("later", ()):
        later_signal(a, signal, rng)


def later_signal(a: dict, signal: str, rng: random.Random) -> None:
    if signal == "margin_erosion":
        a["margin_pct_previous"] = round(float(a["margin_pct"]) + rng.uniform(5.5, 12), 1)
    elif signal == "concession_pressure":
        a["concession_requests_90d"] = rng.randint(2, 4)
    elif signal == "failed_deals":
        a["failed_deals_90d"] = rng.randint(2, 4)
    elif signal == "ownership_change":
        a["ownership_changed"] = "yes"
    elif signal == "competitor_joint_projects":
        a["competitor_joint_projects"] = "yes"
    else:
        a["days_since_client_reply"] = rng.randint(35, 120)


def random_account(rng: random.Random) -> dict:
    a = healthy(rng)
    if rng.random() < 0.32:  # at risk: one to several signals
        for _ in range(rng.choice([1, 1, 2, 3, 4])):
            add_signal(a, rng.randrange(16), rng)
    elif rng.random() < 0.03:
        prev = float(a["revenue_previous"])
        lose(a, rng.choice(REASONS), round(prev * rng.uniform(1.5, 4), 2), a["margin_pct"],
             round(rng.uniform(0.1, 0.7), 2), round(prev * rng.uniform(0.1, 0.6), 2))
    return a


def scenarios(rng: random.Random) -> list[dict]:
    """Hand-written accounts that make every signal and playbook occur at least once."""
    out = []

    def new(**values: object) -> dict:
        a = healthy(rng)
        a.update(values)
        out.append(a)
        return a

    # more than 20 % of the revenue (set in main): dependency_risk; key account overdue for a
    # QBR; a new decision maker and fewer calls from the client make the risk high
    big = new(segment="enterprise", strategic="no", days_since_qbr=128, decision_maker_changed="yes",
              client_contacts_previous=10, client_contacts_current=6, nps=8)
    big["dependency_client"] = True
    # strategic account, healthy, but no QBR for more than a quarter: qbr only
    new(segment="enterprise", strategic="yes", days_since_qbr=104, revenue_previous=48_200_000,
        revenue_current=51_700_000)
    later = ([], ["margin_erosion", "concession_pressure"], ["ownership_change"], ["competitor_joint_projects"],
             ["no_reply"], [], ["failed_deals"])
    for signals, more in zip(([0, 1], [2, 3, 4], [6, 10, 9], [7, 8], [13, 14, 12], [15], [5, 11, 0]), later):
        a = new()
        for s in signals:
            add_signal(a, s, rng)
        a["later"] = more  # the signals of issue 14's columns, set by later_columns
    # lost clients: worth winning back (twice), not worth it, and one without a chance estimate
    lose(new(segment="mid_market"), "lack of attention", 12_400_000, 24.0, 0.5, 420_000, 180_000)
    lose(new(segment="enterprise"), "product spec change", 30_500_000, 18.5, 0.35, 1_150_000, 640_000)
    lose(new(segment="smb"), "price pressure", 3_100_000, 9.5, 0.2, 350_000, 155_000)
    lose(new(segment="mid_market"), "ownership change", 7_800_000, 21.0, "", 260_000, "")
    return out


def scores(a: dict, rng: random.Random) -> None:
    """Bigger clients are worth more to us; how much they want us varies on its own. About one
    account in ten is not scored yet, and a few miss one score (no criteria score then)."""
    if rng.random() < 0.1:
        return
    size = max(1.0, min(9.0, (math.log(float(a["revenue_previous"])) - 12) * 1.5))
    pull = rng.uniform(1.5, 9.5) - (3 if a["status"] == "lost" else 0)

    def score(base: float) -> int:
        return int(max(1, min(10, round(base + rng.gauss(0, 1.2)))))

    for col in SCORES[:3] + ["score_reputation"]:
        a[col] = score(size)
    for col in ("score_criticality", "score_partnership", "score_our_attractiveness"):
        a[col] = score(pull)
    if rng.random() < 0.03:
        a[rng.choice(SCORES)] = ""


def main() -> None:
    args = sys.argv[1:]
    lang = "en"
    if args[:1] == ["--lang"]:
        lang, args = args[1], args[2:]
    n = int(args[0]) if args else 200
    rng = random.Random(7)
    score_rng = random.Random(11)
    concessions_rng = random.Random(13)
    later_rng = random.Random(17)
    special = scenarios(rng)
    accounts = [random_account(rng) for _ in range(max(n - len(special), 0))]
    # the hand-written accounts sit at random places in the file, not in a block
    for a in special[:n]:
        accounts.insert(rng.randrange(len(accounts) + 1), a)
    for a in accounts:
        if a.pop("dependency_client", False):  # about 23 % of the whole portfolio's revenue
            others = sum(float(b["revenue_current"]) for b in accounts if b is not a)
            a["revenue_current"] = round(others * 0.3, 2)
            a["revenue_previous"] = round(others * 0.3 / 0.97, 2)
    for i, (a, name) in enumerate(zip(accounts, names(rng, len(accounts), lang))):
        a["account_id"] = f"ACC-{i:04d}"
        a["name"] = name
        if lang == "ru":
            a["owner"] = OWNERS_RU[a["owner"]]
        scores(a, score_rng)
        later_columns(a, later_rng)
        if a["status"] == "active" and not a.get("later_done") and later_rng.random() < 0.06:
            later_signal(a, later_rng.choice(LATER), later_rng)
        if a["concessions_cost"] is DRAW:
            low, high = CONCESSIONS[a["lost_reason"]]
            a["concessions_cost"] = round(float(a["expected_annual_revenue"])
                                          * concessions_rng.uniform(low, high), 2)
    w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for a in accounts:
        w.writerow(a)


if __name__ == "__main__":
    main()
