"""The data a benchmark runs on: the demo organisation (seed_demo, the default) or a large
one built with seed_scale (`--generator scale --deals N`). Imported after django.setup()."""

import argparse
import os
import time

from django.core.management import call_command

from accounts.models import Team, User


def add_arguments(parser: argparse.ArgumentParser, *, scale_default: float = 1.0) -> None:
    parser.add_argument(
        "--generator",
        choices=["demo", "scale"],
        default="demo",
        help="seed_demo (default) or seed_scale, the fast generator for large organisations.",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=scale_default,
        help="seed_demo's --scale (1 ≈ 2,000 deals).",
    )
    parser.add_argument(
        "--deals", type=int, default=100_000, help="seed_scale's --deals (default 100,000)."
    )


def load(args: argparse.Namespace) -> None:
    """Build the organisation the arguments ask for, printing how long it took."""
    started = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        if args.generator == "scale":
            call_command("seed_scale", "--deals", str(args.deals), stdout=devnull)
            label = f"seed_scale --deals {args.deals}"
        else:
            call_command("seed_demo", "--scale", str(args.scale), "--no-snapshots", stdout=devnull)
            label = f"seed_demo --scale {args.scale}"
    print(f"{label}: {time.perf_counter() - started:.1f} s")


def personas() -> tuple[User, Team, User]:
    """A leaf team's manager, that team, and its first rep: the demo's EMEA Enterprise (its
    manager is ben.lopez), or else seed_scale's first leaf team."""
    team = (
        Team.objects.filter(name="EMEA Enterprise").first()
        or Team.objects.filter(parent__isnull=False).order_by("pk").first()
    )
    assert team is not None and team.manager is not None, "no leaf team with a manager"
    rep = User.objects.filter(team=team, role="rep").order_by("username").first()
    assert rep is not None, f"no rep in {team}"
    return team.manager, team, rep
