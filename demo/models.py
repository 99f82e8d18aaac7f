"""What a bulk load (`seed_scale` on PostgreSQL) still owes after committing its rows."""

from django.db import models


class PendingLoadStep(models.Model):
    """One statement a committed bulk load has not run yet: the CREATE INDEX of a secondary
    (non-unique) index it dropped, the VALIDATE of a foreign key it added NOT VALID, or the
    ANALYZE of a table it filled. A row is deleted in
    the transaction that runs its statement, so the rows are exactly the work left;
    `seed_scale --finish` (and any later `seed_scale`) runs them, in id order."""

    table = models.CharField(max_length=63)
    # The index's name; empty for an ANALYZE.
    index = models.CharField(max_length=63, blank=True)
    statement = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.statement
