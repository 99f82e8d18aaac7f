"""CSV import of reps and deals (docs/import.md): the command, the upload page and its
Celery task all call import_reps / import_deals."""

from .deals import import_deals
from .reps import import_reps
from .results import ImportConflictError, ImportFileError, ImportResult, RowError

__all__ = [
    "ImportConflictError",
    "ImportFileError",
    "ImportResult",
    "RowError",
    "import_deals",
    "import_reps",
]
