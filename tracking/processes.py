"""Helper processes that end with the process they work for (data workers, evaluation shards): after a
``kill -9`` of that process nothing is left running, reading or writing."""
from __future__ import annotations

import os
import select
import threading
import time


def exit_when_gone(pid: int) -> None:
    """End this process as soon as process ``pid`` has ended (a daemon thread waiting on a pidfd, or polling
    once a second where pidfds are missing)."""

    def wait_and_exit():
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            os._exit(0)
        except (AttributeError, OSError):  # no pidfd (old kernel, other OS): poll
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    os._exit(0)
                except PermissionError:
                    pass
                time.sleep(1.0)
        select.select([descriptor], [], [])  # readable once the process has exited
        os._exit(0)

    threading.Thread(target=wait_and_exit, name=f"exit-with-{pid}", daemon=True).start()
