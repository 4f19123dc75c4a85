"""Running a piece of test work in several threads at once, against the real database."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_at_once(work: Callable[[int], None], count: int) -> list[BaseException]:
    """Call work(0) .. work(count - 1), each in its own thread (each with its own database
    connection, closed at the end), all started before any is joined; return what they raised."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except Exception as error:  # noqa: BLE001: returned to the test, which asserts on it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
