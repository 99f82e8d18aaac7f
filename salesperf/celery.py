"""The Celery application; tasks are discovered in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

from salesperf import db_router

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesperf.settings")

app = Celery("salesperf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Each task starts reading the replica, whatever an earlier task in this process wrote
# (read-your-own-writes is per task; salesperf/db_router.py). Two context-variable sets per
# task; without DATABASE_REPLICA_URL no router reads them.
task_prerun.connect(db_router.task_started, weak=False)
task_postrun.connect(db_router.task_finished, weak=False)
