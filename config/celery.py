import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tunehire")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Sandbox jobs go to their own queue, served by one worker process per GPU.
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_routes = {
    # The reaper must run while every gpu worker is busy with a long job.
    "sandbox.tasks.reap_stale_jobs": {"queue": "default"},
    "sandbox.tasks.*": {"queue": "gpu"},
}
app.autodiscover_tasks()
