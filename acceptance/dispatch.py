"""Sending the acceptance tasks (runs and prompting baselines advance through them). The broker being
away loses nothing: the periodic sweep advances everything unfinished."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def send(task_name: str, object_id: int) -> None:
    from acceptance import tasks  # here: the tasks import the modules that send them

    try:
        getattr(tasks, task_name).delay(object_id)
    except Exception:  # the broker's errors are many (kombu, redis, amqp, OS); each means "not sent"
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise
        logger.exception("%s(%s) could not be sent; the sweep will advance it.", task_name, object_id)


def send_on_commit(task_name: str, object_id: int) -> None:
    transaction.on_commit(lambda: send(task_name, object_id))
