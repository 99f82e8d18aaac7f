"""Targets keep one audit trail, simple-history's (as deals and leads do): TargetChange,
which repeated it, goes. Its rows that the historical table lacks (changes saved before
simple-history tracked targets) are copied there first, so no recorded change is lost.

A TargetChange row is already there when the historical table holds a row of the same
cell (user or team, metric, period) at the same moment; a clearing's row a little later
(the delete signal took its own time), so up to a minute. A copied row takes the id of the
target it belongs to (the cell's target now, or the one its other history rows name); a
cell whose target was cleared before the history existed has no id any more, and takes
minus the first TargetChange id of that cell: no real target has it, and its rows still
chain together on the history page.
"""

import datetime as dt

from django.db import migrations

MATCH_DELETE_WITHIN = dt.timedelta(minutes=1)


def copy_target_changes(apps, schema_editor):
    TargetChange = apps.get_model("metrics", "TargetChange")
    Target = apps.get_model("metrics", "Target")
    History = apps.get_model("metrics", "HistoricalTarget")
    orphans: dict[tuple, int] = {}
    copies = []
    for change in TargetChange.objects.order_by("changed_at", "id").iterator():
        cell = {
            "user_id": change.user_id,
            "team_id": change.team_id,
            "metric": change.metric,
            "period_kind": change.period_kind,
            "period_start": change.period_start,
        }
        same_cell = History.objects.filter(**cell)
        if change.new_value is None:
            kind, value = "-", change.old_value
            window = (change.changed_at, change.changed_at + MATCH_DELETE_WITHIN)
            recorded = same_cell.filter(history_type="-", history_date__range=window)
        else:
            kind = "+" if change.old_value is None else "~"
            value = change.new_value
            recorded = same_cell.filter(history_date=change.changed_at)
        if recorded.exists():
            continue
        target_id = (
            Target.objects.filter(**cell).values_list("id", flat=True).first()
            or same_cell.values_list("id", flat=True).first()
        )
        if target_id is None:
            key = tuple(cell.values())
            target_id = orphans.setdefault(key, -change.pk)
        copies.append(
            History(
                id=target_id,
                value=value,
                set_by_id=change.changed_by_id,
                history_date=change.changed_at,
                history_type=kind,
                history_user_id=change.changed_by_id,
                history_change_reason="Copied from TargetChange",
                **cell,
            )
        )
    History.objects.bulk_create(copies, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0005_target_history"),
    ]

    operations = [
        migrations.RunPython(copy_target_changes, migrations.RunPython.noop),
        migrations.DeleteModel(name="TargetChange"),
    ]
