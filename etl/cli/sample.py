"""A deterministic, realistic sample lake for the demo and the tests.

Companies with plans, users in one or more companies, journeys of sign-up ->
activation -> purchase over several days, group and user profile updates,
about 1% duplicate deliveries (one arriving a day late), and a few bad lines.
Same seed, same bytes.
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, date, datetime, timedelta

from etl.store.lake import Lake

PLANS = ["free", "pro", "enterprise"]
INDUSTRIES = ["retail", "fintech", "health", "media", "logistics"]
BROWSING = ["Page Viewed", "Search", "Report Viewed"]


QUIET_FROM = 5


def quiet_companies(company_ids: list[str], offset: int) -> set[str]:
    """Companies none of whose users is active on day `offset`, so account health has
    something to show past the first QUIET_FROM days (`demo --days 10`): every 8th
    company goes quiet for good (dormant, later churned), the others skip one day in
    three (dormant, then resurrected). The first QUIET_FROM days are untouched, so the
    default demo's figures stay as documented."""
    if offset < QUIET_FROM:
        return set()
    return {company for n, company in enumerate(company_ids, start=1) if n % 8 == 0 or n % 3 == offset % 3}


def write_sample_lake(
    lake: Lake,
    first_day: date,
    days: int = 5,
    companies: int = 40,
    users: int = 300,
    seed: int = 7,
    token: str = "demo-token",
) -> dict:
    """Write events/, groups/ and people/ partitions for `days` days; return what was written."""
    rng = random.Random(seed)
    company_ids = [f"c{n:03d}" for n in range(1, companies + 1)]
    members = {
        f"u{n:04d}": rng.sample(company_ids, 2 if rng.random() < 0.1 else 1) for n in range(1, users + 1)
    }
    late_copies: list[dict] = []
    written = {"events": 0, "groups": 0, "people": 0, "bad_lines": 0}
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        events = list(late_copies)
        late_copies = []
        quiet = quiet_companies(company_ids, offset)
        for user, all_companies_of_user in members.items():
            companies_of_user = [c for c in all_companies_of_user if c not in quiet]
            if not companies_of_user:
                continue
            if rng.random() < 0.35:
                continue
            company = companies_of_user if len(companies_of_user) > 1 else companies_of_user[0]
            steps = ["Sign Up", "Activated", "Purchase"] if offset == 0 else []
            steps += rng.choices(BROWSING, k=rng.randint(1, 6))
            if rng.random() < 0.15:
                steps.append("Purchase")
            moment = start + rng.uniform(0, 60_000)
            for step in steps:
                moment += rng.uniform(30, 3_000)
                if moment >= start + 86_400:
                    break
                props = {
                    "distinct_id": user,
                    "time": int(moment) if rng.random() < 0.8 else int(moment * 1000),
                    "$insert_id": f"{user}-{int(moment * 1000)}",
                    "token": token,
                    "$browser": rng.choice(["Chrome", "Firefox", "Safari"]),
                }
                if rng.random() < 0.9:
                    props["company_id"] = company
                if step == "Purchase":
                    props["amount"] = round(rng.uniform(5, 500), 2)
                event = {"event": step, "properties": props}
                events.append(event)
                if rng.random() < 0.01:
                    (late_copies if rng.random() < 0.3 else events).append(json.loads(json.dumps(event)))
        rng.shuffle(events)
        half = len(events) // 2
        bad = ['{"event": "Page Viewed", "properties": {', '{"event": "Search", "properties": {"distinct_id": "anon", "time": ' + str(int(start)) + "}}"]
        batch = json.dumps(events[half:half + 3])
        lines_a = [json.dumps(e) for e in events[:half]] + bad
        lines_b = [batch] + [json.dumps(e) for e in events[half + 3:]]
        prefix = f"events/dt={day.isoformat()}/"
        lake.write(prefix + "part-0000.jsonl.gz", gzip.compress(("\n".join(lines_a) + "\n").encode(), mtime=0))
        lake.write(prefix + "part-0001.jsonl", ("\n".join(lines_b) + "\n").encode())
        written["events"] += len(events)
        written["bad_lines"] += len(bad)

        group_updates = []
        for company in company_ids:
            if offset == 0 or rng.random() < 0.1:
                group_updates.append({
                    "$token": token, "$group_key": "company_id", "$group_id": company,
                    "$time": int(start + rng.uniform(0, 86_000)),
                    "$set": {"name": f"Company {company[1:]}", "plan": rng.choice(PLANS),
                             "industry": rng.choice(INDUSTRIES), "employees": rng.randint(5, 5_000)},
                })
        lake.write(f"groups/dt={day.isoformat()}/part-0000.jsonl",
                   "".join(json.dumps(u) + "\n" for u in group_updates).encode())
        people_updates = [
            {"$token": token, "$distinct_id": user, "$time": int(start + rng.uniform(0, 86_000)),
             "$set": {"$email": f"{user}@example.com", "company_id": companies_of_user}}
            for user, companies_of_user in members.items() if offset == 0 or rng.random() < 0.02
        ]
        lake.write(f"people/dt={day.isoformat()}/part-0000.jsonl",
                   "".join(json.dumps(u) + "\n" for u in people_updates).encode())
        written["groups"] += len(group_updates)
        written["people"] += len(people_updates)
    seats = "".join(f"{company},{rng.randint(1, 200)},{rng.choice(['us', 'eu'])}\n" for company in company_ids[:10])
    lake.write("uploads/groups/company_id/seats.csv", ("$group_id,seats,region\n" + seats).encode())
    return written
