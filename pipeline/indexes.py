"""Indexes in the order the deal and lead lists sort by (pipeline.filters' columns)."""

from django.db import models


class SortIndex(models.Index):
    """An index in a list's sort order: `fields` as models.Index takes them ("-amount",
    "-id"), with the id as the tie-breaker the sort adds.

    The lists put empty values last in both directions (`… DESC NULLS LAST`), and
    PostgreSQL walks an index for an ORDER BY only when the NULLS placement matches too; so
    on PostgreSQL a descending nullable column is created `DESC NULLS LAST` (ascending
    ones are NULLS LAST already). SQLite takes no NULLS in an index and gets the plain one.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        fields = [model._meta.get_field(name) for name, _ in self.fields_orders]
        suffixes = [
            f"{order} NULLS LAST" if order == "DESC" and field.null else order
            for field, (_, order) in zip(fields, self.fields_orders, strict=True)
        ]
        return schema_editor._create_index_sql(
            model,
            fields=fields,
            name=self.name,
            using=using,
            db_tablespace=self.db_tablespace,
            col_suffixes=suffixes,
            opclasses=self.opclasses,
            condition=self._get_condition_sql(model, schema_editor),
            **kwargs,
        )


def sort_indexes(prefix: str, columns: dict[str, str], *, leading: str = "") -> list[SortIndex]:
    """Two per column (field name: its short name in the index names, which stop at 30
    characters), ascending and descending, each with the id descending after it:
    `deal_sort_amount_asc` (amount, id DESC), `deal_sort_amount_desc` (amount DESC, id
    DESC). With `leading`, that field first: `deal_team_amount_asc` (team, amount, id DESC),
    one walk per team."""
    head, infix = ([leading], leading) if leading else ([], "sort")
    indexes = []
    for column, short in columns.items():
        indexes.append(
            SortIndex(fields=[*head, column, "-id"], name=f"{prefix}_{infix}_{short}_asc")
        )
        indexes.append(
            SortIndex(fields=[*head, f"-{column}", "-id"], name=f"{prefix}_{infix}_{short}_desc")
        )
    return indexes


def group_indexes(
    prefix: str, columns: dict[str, str], *, leading: dict[str, str]
) -> list[SortIndex]:
    """One per column and per leading field ("" for none), each with the id descending
    after it: `deal_by_stage` (stage, id DESC), `deal_team_by_stage` (team, stage, id DESC).
    A list sorted by another table's column (the stage's order, the company's name) is
    read group by group in that order, each group a walk of one of these
    (pipeline.pagination.JoinedWalks)."""
    indexes = []
    for column, short in columns.items():
        for field, head in leading.items():
            name = f"{prefix}_{head}_by_{short}" if field else f"{prefix}_by_{short}"
            fields = [field, column, "-id"] if field else [column, "-id"]
            indexes.append(SortIndex(fields=fields, name=name))
    return indexes
