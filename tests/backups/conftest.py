# The hand-computed organisation of the KPI tests: a backup of it must restore every figure.
from tests.metrics.conftest import org  # noqa: F401
