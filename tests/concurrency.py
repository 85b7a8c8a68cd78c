"""Calls released at the same moment in threads of their own (each thread its own database connection),
for the tests of concurrent writers on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from core.errors import ApplicationError


def run_together(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Each call's outcome, in order: ("ok", its value), ("error", the ApplicationError it raised) or
    ("crash", any other exception), for the assertions that follow to report."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("crash", TimeoutError("the call did not finish"))] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = ("ok", call())
        except ApplicationError as exc:
            results[index] = ("error", exc)
        except Exception as exc:
            results[index] = ("crash", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
