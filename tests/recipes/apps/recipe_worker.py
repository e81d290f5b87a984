"""The plain worker recipe (docs/recipes/worker.md): a long-running loop stopped by SIGTERM.

install_signal_handlers() flushes on SIGTERM, then lets the default action end the process,
as it would have ended without oakdata.

For the test, each uuid is printed once captured. Capturing and printing happen with
SIGTERM blocked, so the signal lands between two jobs, never between capture() and print():
the printed uuids are exactly the captured ones.
"""

from __future__ import annotations

import signal
import threading

from oakdata import OakClient

oak = OakClient()  # $OAK_SECRET_KEY and $OAK_HOST
oak.install_signal_handlers(timeout=5.0)


def handle_one_job(n: int) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        uuid = oak.capture(f"user_{n % 10}", "job_processed", {"job": n})
        print(f"captured {uuid}", flush=True)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def main() -> None:
    idle = threading.Event()  # never set: the wait stands for waiting on the next job
    n = 0
    while True:
        handle_one_job(n)
        n += 1
        idle.wait(0.002)


if __name__ == "__main__":
    main()
