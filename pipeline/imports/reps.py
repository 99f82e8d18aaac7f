"""Importing reps and managers with their teams: every row is checked first, then the
teams, users and team managers are written in one transaction.

A people file has hundreds of rows, not millions, but it is written in bulk all the same:
one read of the users and one of the teams, then a handful of bulk writes.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Team

from .csvfile import CsvFile, open_csv
from .progress import Progress
from .results import ImportConflictError, ImportResult, RowError
from .values import CellError, clean_name, key, text_cell

COLUMNS = ("username", "full_name", "email", "role", "team", "parent_team")
ROLES = {Role.REP.value, Role.MANAGER.value}
USER_FIELDS = ("first_name", "last_name", "email", "role", "team_id")
validate_email = EmailValidator()
EMAIL_LENGTH = 254  # AbstractUser.email


@dataclass(slots=True)
class RepRow:
    line: int
    username: str
    full_name: str
    email: str
    role: str
    team: str  # "" for no team
    parent: str  # "" for a top-level team
    user: object = None  # the existing user's values (a values_list row), if any


class People:
    """The users and teams there are, read once, matched without regard to case."""

    def __init__(self) -> None:
        fields = ("pk", "username", "first_name", "last_name", *USER_FIELDS[2:], "is_superuser")
        self.users = list(get_user_model().objects.values_list(*fields, named=True))
        self.users_by_name = {user.username: user for user in self.users}
        self.users_by_key: dict[str, list] = {}
        for user in self.users:
            self.users_by_key.setdefault(key(user.username), []).append(user)
        self.teams = {
            key(team.name): team
            for team in Team.objects.values_list(
                "pk", "name", "parent_id", "manager_id", named=True
            )
        }
        names = {team.pk: key(team.name) for team in self.teams.values()}
        # Team tree by name key: what the database holds, then what the file says.
        self.parents: dict[str, str | None] = {
            name_key: names.get(team.parent_id) for name_key, team in self.teams.items()
        }

    def user(self, username: str):
        found = self.users_by_name.get(username)
        if found is None:
            matches = self.users_by_key.get(key(username), [])
            if len(matches) > 1:
                raise CellError(f"'{username}' matches several users; write it exactly.")
            found = matches[0] if matches else None
        if found is not None and (found.is_superuser or found.role == Role.ADMIN):
            raise CellError(f"'{username}' is an admin; an import does not change admins.")
        return found


def _parse_row(line: int, cells: dict[str, str], people: People) -> RepRow | list[RowError]:
    errors: list[RowError] = []
    user = None
    username = cells["username"]
    try:
        if not username:
            raise CellError("Enter the username.")
        get_user_model().username_validator(text_cell(username, max_length=150))
        user = people.user(username)
    except ValidationError as error:
        errors.append(RowError(line, "username", " ".join(error.messages)))
    except CellError as error:
        errors.append(RowError(line, "username", str(error)))
    full_name = " ".join(cells["full_name"].split())
    first, _, last = full_name.partition(" ")
    if len(first) > 150 or len(last) > 150:
        errors.append(RowError(line, "full_name", "Too long: at most 150 characters a name."))
    email = cells["email"]
    try:
        # Optional: without one, the person signs in once an admin sets an address.
        if len(email) > EMAIL_LENGTH:
            raise ValidationError(f"Too long: at most {EMAIL_LENGTH} characters.")
        if email:
            validate_email(email)
    except ValidationError as error:
        errors.append(RowError(line, "email", " ".join(error.messages)))
    role = cells["role"].casefold()
    if role not in ROLES:
        message = "Use rep or manager (admins are not imported)."
        errors.append(RowError(line, "role", message if role else f"Enter the role: {message}"))
    names = {}
    for column in ("team", "parent_team"):
        try:
            names[column] = clean_name(cells[column], max_length=120)
        except CellError as error:
            errors.append(RowError(line, column, str(error)))
    team, parent = names.get("team", ""), names.get("parent_team", "")
    if parent and not team and "team" in names:
        errors.append(RowError(line, "parent_team", "A parent team needs a team."))
    elif parent and key(parent) == key(team):
        errors.append(RowError(line, "parent_team", "A team cannot be its own parent."))
    if errors:
        return errors
    return RepRow(line, username, full_name, email, role, team, parent, user)


def import_reps(
    source,
    *,
    skip_invalid: bool = False,
    by=None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import a reps CSV (docs/import.md): teams with their parents, users without a usable
    password, and each team's manager. Nothing is written when a row is bad, unless
    `skip_invalid`. `by` is recorded in the history of every user and team written."""
    csv_file = open_csv(source, columns=COLUMNS)
    result = ImportResult(kind="reps", rows=csv_file.rows)
    steps = Progress(progress, csv_file.rows)
    people = People()
    rows, bad_lines = _check_rows(csv_file, people, result, steps)
    result.errors.sort(key=lambda error: error.line)
    if result.errors and not skip_invalid:
        steps.finish()
        return result
    result.skipped = len(bad_lines)
    steps.start_writing(done=result.skipped)
    try:
        with transaction.atomic():
            _write(rows, people, result, by=by)
    except IntegrityError as error:
        reason = " ".join(str(error).split())
        raise ImportConflictError(
            "The database refused the import, so nothing was written: another import or edit "
            f"probably changed the same people at the same time; run it again. ({reason})"
        ) from error
    result.written = True
    steps.finish()
    return result


def _check_rows(
    csv_file: CsvFile, people: People, result: ImportResult, steps: Progress
) -> tuple[list[RepRow], set[int]]:
    rows: list[RepRow] = []
    errors: dict[int, list[RowError]] = {}
    usernames: dict[str, int] = {}
    team_parents: dict[str, tuple[str, int]] = {}
    managers: dict[str, tuple[str, int]] = {}
    for done, (line, record) in enumerate(csv_file.records(), start=1):
        steps.advance(done)
        if isinstance(record, RowError):
            errors[line] = [record]
            continue
        parsed = _parse_row(line, record, people)
        row_errors = parsed if isinstance(parsed, list) else []
        username = key(record["username"])
        if username and username in usernames:
            message = f"{record['username']} already on line {usernames[username]}."
            row_errors.append(RowError(line, "username", message))
        usernames.setdefault(username, line)
        if not row_errors:
            row_errors = _check_team(parsed, team_parents, managers)
        if row_errors:
            errors[line] = row_errors
        else:
            rows.append(parsed)
    for row in _rows_in_cycles(rows, people):
        message = f"Team '{row.team}' under '{row.parent}' would make a cycle."
        errors[row.line] = [RowError(row.line, "parent_team", message)]
    rows = [row for row in rows if row.line not in errors]
    result.errors = [error for row_errors in errors.values() for error in row_errors]
    return rows, set(errors)


def _check_team(
    row: RepRow,
    team_parents: dict[str, tuple[str, int]],
    managers: dict[str, tuple[str, int]],
) -> list[RowError]:
    """Every row of a team names the same parent; a team has one manager in a file."""
    if not row.team:
        return []
    team = key(row.team)
    parent, line = team_parents.setdefault(team, (row.parent, row.line))
    if key(parent) != key(row.parent):
        said = f"under '{parent}'" if parent else "top-level"
        message = f"Team '{row.team}' is {said} on line {line}."
        return [RowError(row.line, "parent_team", message)]
    if row.role == Role.MANAGER:
        username, line = managers.setdefault(team, (row.username, row.line))
        if line != row.line:
            message = f"Team '{row.team}' already has its manager, {username}, on line {line}."
            return [RowError(row.line, "role", message)]
    return []


def _rows_in_cycles(rows: list[RepRow], people: People) -> list[RepRow]:
    """The rows that would put a team below itself, given the teams' current parents."""
    parents = dict(people.parents)
    for row in rows:
        if row.team:
            parents[key(row.team)] = key(row.parent) if row.parent else None
    bad: list[RepRow] = []
    while True:
        looping = {
            team for team in {key(row.team) for row in rows if row.team} if _loops(team, parents)
        }
        if not looping:
            return bad
        for team in looping:
            parents[team] = people.parents.get(team)  # back to what it is now
        bad += [row for row in rows if row.team and key(row.team) in looping]
        rows = [row for row in rows if not (row.team and key(row.team) in looping)]


def _loops(team: str, parents: dict[str, str | None]) -> bool:
    seen = set()
    ancestor = parents.get(team)
    while ancestor is not None and ancestor not in seen:
        if ancestor == team:
            return True
        seen.add(ancestor)
        ancestor = parents.get(ancestor)
    return False


def _write(rows: list[RepRow], people: People, result: ImportResult, *, by=None) -> None:
    User = get_user_model()  # noqa: N806
    teams = people.teams
    wanted: dict[str, str] = {}
    for row in rows:
        for name in (row.team, row.parent):
            if name:
                wanted.setdefault(key(name), name)
    new_teams = Team.objects.bulk_create(
        [Team(name=name) for name_key, name in wanted.items() if name_key not in teams]
    )
    team_ids = {name_key: team.pk for name_key, team in teams.items()}
    team_ids.update({key(team.name): team.pk for team in new_teams})
    result.also_created = {"teams": len(new_teams)}

    touched: set[int] = set()  # lines whose team or manager changes
    moved, first_lines = [], {}
    for row in rows:
        if row.team and key(row.team) not in first_lines:
            first_lines[key(row.team)] = row.line
            parent_id = team_ids[key(row.parent)] if row.parent else None
            current = teams.get(key(row.team))
            if parent_id != (current.parent_id if current else None):
                moved.append(Team(pk=team_ids[key(row.team)], parent_id=parent_id))
                touched.add(row.line)
    Team.objects.bulk_update(moved, ["parent"])

    new_users, changed_users = [], []
    for row in rows:
        user = User(username=row.username, email=row.email, role=row.role)
        user.team_id = team_ids[key(row.team)] if row.team else None
        user.first_name, _, user.last_name = row.full_name.partition(" ")
        current = row.user
        if current is None:
            user.set_unusable_password()
            new_users.append(user)
            continue
        user.pk, user.username = current.pk, current.username
        if " ".join(f"{current.first_name} {current.last_name}".split()) == row.full_name:
            # Same full name: keep how it was split ("Mary Ann" + "Smith").
            user.first_name, user.last_name = current.first_name, current.last_name
        if any(getattr(user, name) != getattr(current, name) for name in USER_FIELDS):
            changed_users.append(user)
    User.objects.bulk_create(new_users)
    User.objects.bulk_update(changed_users, USER_FIELDS)
    ids = {user.username: user.pk for user in [*new_users, *changed_users]}
    ids.update({row.user.username: row.user.pk for row in rows if row.user})

    managed = []
    for row in rows:
        if row.role == Role.MANAGER and row.team:
            team = teams.get(key(row.team))
            user_id = ids[row.user.username if row.user else row.username]
            if team is None or team.manager_id != user_id:
                managed.append(Team(pk=team_ids[key(row.team)], manager_id=user_id))
                touched.add(row.line)
    Team.objects.bulk_update(managed, ["manager"])

    _record_history(new_teams, new_users, moved + managed, changed_users, by=by)

    changed_ids = {user.pk for user in changed_users}
    touched |= {row.line for row in rows if row.user and row.user.pk in changed_ids}
    result.created = len(new_users)
    result.updated = len(touched - {row.line for row in rows if row.user is None})
    result.unchanged = len(rows) - result.created - result.updated


def _record_history(new_teams, new_users, changed_teams, changed_users, *, by) -> None:
    """History rows for every team and user written, in bulk (bulk writes send no signal).
    Teams and changed users were written field by field (a new team gets its manager
    after its members), so their final state is read back: one query per kind."""
    User = get_user_model()  # noqa: N806
    options = {"default_user": by, "default_date": timezone.now()}
    new_team_ids = {team.pk for team in new_teams}
    team_ids = new_team_ids | {team.pk for team in changed_teams}
    teams = list(Team.objects.filter(pk__in=team_ids)) if team_ids else []
    Team.history.bulk_history_create([t for t in teams if t.pk in new_team_ids], **options)
    changed = [t for t in teams if t.pk not in new_team_ids]
    Team.history.bulk_history_create(changed, update=True, **options)
    User.history.bulk_history_create(new_users, **options)
    if changed_users:
        users = User.objects.filter(pk__in=[user.pk for user in changed_users])
        User.history.bulk_history_create(list(users), update=True, **options)
