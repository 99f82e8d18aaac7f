"""Load the public Maven Analytics "CRM Sales Opportunities" dataset (tests/data/maven_crm,
see its README) into the database, fast, through the ORM.

The organisation: each regional office is a top-level team; each manager gets a team
("<manager>'s team") under their region, managed by a user of role manager who is also its
member; each sales agent is a rep in their manager's team. Accounts become companies,
products become products, and every opportunity becomes a deal:

  deal_stage   Prospecting -> "Prospecting", Engaging -> "Qualification" (open stages),
               Won -> "Won", Lost -> "Lost"
  engage_date  -> created_at at 00:00 in TIME_ZONE; Prospecting rows have none and get the latest
                  date found anywhere in the file
  close_date   -> closed_at at 00:00 in TIME_ZONE (Won and Lost only)
  close_value  -> amount (blank -> 0; Lost deals are worth 0 in the file and are kept)
  account      -> company (blank -> no company)
  opportunity_id -> external_id; the deal's team is its agent's team.

A row that breaks a database rule (closed_at set exactly for won/lost deals, closed_at not
before created_at, amount not negative) is not repaired: it is left out and listed in the
result's "excluded" with the reason, so a test can assert how many there are.
"""

import csv
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.test import override_settings
from django.utils.text import slugify

from accounts.choices import Role
from accounts.models import Team, User
from periods.calendar import day_start
from pipeline.exports import DEAL_COLUMNS, REP_COLUMNS
from pipeline.models import Company, Deal, Product
from tests.factories import default_stage

DATA_DIR = Path(__file__).resolve().parent / "data" / "maven_crm"
BATCH_SIZE = 1000

STAGE_OF = {
    "Prospecting": "Prospecting",
    "Engaging": "Qualification",
    "Won": "Won",
    "Lost": "Lost",
}
CLOSED_STAGES = {"Won", "Lost"}
# sales_pipeline.csv spells the product "GTXPro" (1,480 rows); products.csv calls it
# "GTX Pro". Same product: the deals point at the catalogue's name.
PRODUCT_ALIASES = {"GTXPro": "GTX Pro"}


def read_csv(name: str, data_dir: Path = DATA_DIR) -> list[dict[str, str]]:
    with (data_dir / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def manager_team_name(manager: str) -> str:
    return f"{manager}'s team"


def _midnight(day: str) -> dt.datetime:
    # Local midnight, as the CSV import reads a date: the file's days stay the same days in
    # any TIME_ZONE, and a cycle is a whole number of wall-clock days.
    return day_start(dt.date.fromisoformat(day))


def _person(name: str, role: str, team: Team, password: str) -> User:
    first, _, last = name.partition(" ")
    return User(
        username=slugify(name),
        first_name=first,
        last_name=last,
        role=role,
        team=team,
        password=password,
    )


def _rule_broken(row: dict[str, str], created_at: dt.datetime) -> str | None:
    closed = row["deal_stage"] in CLOSED_STAGES
    if row["deal_stage"] not in STAGE_OF:
        return f"unknown deal_stage {row['deal_stage']!r}"
    if closed and not row["close_date"]:
        return f"{row['deal_stage']} without a close_date"
    if not closed and row["close_date"]:
        return f"{row['deal_stage']} (open) with a close_date"
    if closed and _midnight(row["close_date"]) < created_at:
        return "close_date before engage_date"
    if row["close_value"] and Decimal(row["close_value"]) < 0:
        return "negative close_value"
    return None


def load_maven_crm(data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Write the dataset to the database; return what a test needs to find it again:
    ids by name, the counts written, the first and last dates of the file and the rows
    left out (opportunity_id, reason)."""
    teams_rows = read_csv("sales_teams.csv", data_dir)
    accounts_rows = read_csv("accounts.csv", data_dir)
    products_rows = read_csv("products.csv", data_dir)
    pipeline_rows = read_csv("sales_pipeline.csv", data_dir)

    dates = [row[k] for row in pipeline_rows for k in ("engage_date", "close_date") if row[k]]
    first_day = dt.date.fromisoformat(min(dates))
    last_day = dt.date.fromisoformat(max(dates))
    prospecting_created_at = _midnight(last_day.isoformat())

    stages = {name: default_stage(name) for name in STAGE_OF.values()}
    # Nobody signs in as these people: one unusable password for all (hashing is slow).
    password = make_password(None)

    with transaction.atomic():
        regions = {
            region: Team(name=region)
            for region in dict.fromkeys(row["regional_office"] for row in teams_rows)
        }
        Team.objects.bulk_create(regions.values())
        manager_region = {row["manager"]: row["regional_office"] for row in teams_rows}
        manager_teams = {
            manager: Team(name=manager_team_name(manager), parent=regions[region])
            for manager, region in manager_region.items()
        }
        Team.objects.bulk_create(manager_teams.values())

        managers = {
            manager: _person(manager, Role.MANAGER, team, password)
            for manager, team in manager_teams.items()
        }
        agents = {
            row["sales_agent"]: _person(
                row["sales_agent"], Role.REP, manager_teams[row["manager"]], password
            )
            for row in teams_rows
        }
        User.objects.bulk_create([*managers.values(), *agents.values()])
        for manager, team in manager_teams.items():
            team.manager = managers[manager]
        Team.objects.bulk_update(manager_teams.values(), ["manager"])

        companies = {
            row["account"]: Company(name=row["account"], industry=row["sector"][:100])
            for row in accounts_rows
        }
        Company.objects.bulk_create(companies.values())
        products = {
            row["product"]: Product(name=row["product"], list_price=Decimal(row["sales_price"]))
            for row in products_rows
        }
        Product.objects.bulk_create(products.values())

        deals, excluded = [], []
        for row in pipeline_rows:
            created_at = (
                _midnight(row["engage_date"]) if row["engage_date"] else prospecting_created_at
            )
            reason = _rule_broken(row, created_at)
            if reason is not None:
                excluded.append((row["opportunity_id"], reason))
                continue
            agent = agents[row["sales_agent"]]
            product = products[PRODUCT_ALIASES.get(row["product"], row["product"])]
            company = companies[row["account"]] if row["account"] else None
            deals.append(
                Deal(
                    name=f"{product.name} for {company.name if company else 'no account'}",
                    company=company,
                    product=product,
                    owner=agent,
                    team=agent.team,
                    stage=stages[STAGE_OF[row["deal_stage"]]],
                    amount=Decimal(row["close_value"] or "0"),
                    created_at=created_at,
                    closed_at=(
                        _midnight(row["close_date"]) if row["deal_stage"] in CLOSED_STAGES else None
                    ),
                    external_id=row["opportunity_id"],
                )
            )
        Deal.objects.bulk_create(deals, BATCH_SIZE)

    return {
        "first_day": first_day,
        "last_day": last_day,
        "rows": len(pipeline_rows),
        "deals": len(deals),
        "excluded": excluded,
        "agents": {name: user.pk for name, user in agents.items()},
        "managers": {name: user.pk for name, user in managers.items()},
        "regions": {name: team.pk for name, team in regions.items()},
        "manager_teams": {name: team.pk for name, team in manager_teams.items()},
        "companies": {name: company.pk for name, company in companies.items()},
        "products": {name: product.pk for name, product in products.items()},
    }


def unload_maven_crm(loaded: dict[str, Any]) -> None:
    """Delete what load_maven_crm wrote (for a fixture that loads once, outside a test's
    transaction, and must leave the database as it found it)."""

    def ids(key: str) -> Iterable[int]:
        return loaded[key].values()

    users = [*ids("agents"), *ids("managers")]
    # No audit rows for this clean-up: they would be deleted below anyway, and writing one
    # per deleted row took most of the module's time.
    with transaction.atomic(), override_settings(SIMPLE_HISTORY_ENABLED=False):
        Deal.objects.filter(owner_id__in=users).delete()
        Team.objects.filter(pk__in=ids("manager_teams")).update(manager=None)
        User.objects.filter(pk__in=users).delete()
        Team.objects.filter(pk__in=ids("manager_teams")).delete()
        Team.objects.filter(pk__in=ids("regions")).delete()
        Company.objects.filter(pk__in=ids("companies")).delete()
        Product.objects.filter(pk__in=ids("products")).delete()
        # The deletions above were recorded by the audit trail; those rows go too.
        teams = [*ids("manager_teams"), *ids("regions")]
        Deal.history.model.objects.filter(owner_id__in=users).delete()
        User.history.model.objects.filter(id__in=users).delete()
        Team.history.model.objects.filter(id__in=teams).delete()


def write_import_files(out_dir: Path, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Convert the dataset into the two import_csv formats, the way a user moving from
    that CRM would: people.csv (regions, a team per manager, the agents) and deals.csv,
    gaps kept as they are (open deals with no account, no close date and no value; lost
    deals worth 0). Returns (people.csv, deals.csv)."""
    teams_rows = read_csv("sales_teams.csv", data_dir)
    pipeline_rows = read_csv("sales_pipeline.csv", data_dir)
    dates = [row[k] for row in pipeline_rows for k in ("engage_date", "close_date") if row[k]]
    last_day = max(dates)

    people = out_dir / "people.csv"
    with people.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(REP_COLUMNS)
        managers = dict.fromkeys((row["manager"], row["regional_office"]) for row in teams_rows)
        for manager, region in managers:
            writer.writerow(
                [slugify(manager), manager, "", "manager", manager_team_name(manager), region]
            )
        for row in teams_rows:
            agent = row["sales_agent"]
            writer.writerow(
                [
                    slugify(agent),
                    agent,
                    "",
                    "rep",
                    manager_team_name(row["manager"]),
                    row["regional_office"],
                ]
            )

    deals = out_dir / "deals.csv"
    with deals.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(DEAL_COLUMNS)
        for row in pipeline_rows:
            product = PRODUCT_ALIASES.get(row["product"], row["product"])
            writer.writerow(
                [
                    row["opportunity_id"],
                    f"{product} for {row['account'] or 'no account'}",
                    row["account"],
                    slugify(row["sales_agent"]),
                    STAGE_OF.get(row["deal_stage"], row["deal_stage"]),
                    row["close_value"],
                    # Prospecting rows have no engage_date: the file's last day, as the
                    # loader above does.
                    row["engage_date"] or last_day,
                    row["close_date"],
                    "",
                    "",
                    product,
                ]
            )
    return people, deals
