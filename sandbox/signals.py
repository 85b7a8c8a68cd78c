"""A gpu worker that cannot sandbox says so when it starts, not at the first submission."""

import logging

from celery.signals import worker_ready

from sandbox.readiness import INSTALL_HINT, sandbox_problem

logger = logging.getLogger(__name__)
GPU_QUEUE = "gpu"


@worker_ready.connect
def report_sandbox_readiness(sender=None, **kwargs) -> None:
    queues = set(sender.app.amqp.queues.consume_from) if sender is not None else set()
    if GPU_QUEUE not in queues:
        return
    problem = sandbox_problem()
    if problem is None:
        logger.info("sandbox ready: confined processes start on this host")
        return
    logger.error(
        "SANDBOX NOT READY: %s. Every training and evaluation job this worker takes will be refused "
        "unless SANDBOX_ALLOW_UNISOLATED is set. To fix it, %s.",
        problem,
        INSTALL_HINT,
    )
