"""What a deal row is checked against, read once per import: users, the stages of the
default pipeline, and companies, products and lead sources by name."""

from collections import defaultdict

from django.contrib.auth import get_user_model

from ..models import Company, LeadSource, Product, Stage
from .values import CellError, MomentParser, clean_name, key

BATCH = 2000


class NameTable:
    """Companies, products or lead sources by name, matched without regard to case (the
    oldest row wins, as in company_get_or_create); names not there yet are created."""

    def __init__(self, model) -> None:
        self.model = model
        self.max_length = model._meta.get_field("name").max_length
        self.ids: dict[str, int] = {}
        for pk, name in model.objects.order_by("pk").values_list("pk", "name"):
            self.ids.setdefault(key(name), pk)
        self.new: dict[str, str] = {}  # key -> the name as first written in the file

    def clean(self, text: str) -> str:
        return clean_name(text, max_length=self.max_length)

    def note(self, name: str) -> None:
        if name and key(name) not in self.ids:
            self.new.setdefault(key(name), name)

    def id_of(self, name: str) -> int | None:
        """The id, or None for no name; a name still to create has no id yet (-1)."""
        return self.ids.get(key(name), -1) if name else None

    def create(self, used: set[str]) -> int:
        """Create the new names that valid rows use; returns how many."""
        rows = [self.model(name=name) for name_key, name in self.new.items() if name_key in used]
        for created in self.model.objects.bulk_create(rows, batch_size=BATCH):
            self.ids[key(created.name)] = created.pk
        return len(rows)


class Lookups:
    """Everything a row is checked against, read once."""

    def __init__(self) -> None:
        stages = list(Stage.objects.select_related("pipeline"))
        self.stages = {key(s.name): s for s in stages if s.pipeline.is_default}
        self.stage_pipeline = {s.pk: s.pipeline for s in stages}
        self.stage_names = ", ".join(
            s.name for s in sorted(self.stages.values(), key=lambda s: s.order)
        )
        self.users: dict[str, tuple[int, int | None]] = {}
        self.users_by_key: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        for pk, username, team_id in get_user_model().objects.values_list(
            "pk", "username", "team_id"
        ):
            self.users[username] = (pk, team_id)
            self.users_by_key[key(username)].append((pk, team_id))
        self.companies = NameTable(Company)
        self.products = NameTable(Product)
        self.sources = NameTable(LeadSource)
        self.moments = MomentParser()

    def owner(self, username: str) -> tuple[int, int | None]:
        found = self.users.get(username)
        if found:
            return found
        matches = self.users_by_key.get(key(username), [])
        if len(matches) > 1:
            raise CellError(f"'{username}' matches several users; write the username exactly.")
        if not matches:
            raise CellError(f"Unknown owner '{username}'.")
        return matches[0]

    def stage(self, name: str) -> Stage:
        stage = self.stages.get(key(name))
        if stage is None:
            raise CellError(f"Unknown stage '{name}'; use one of: {self.stage_names}.")
        return stage
