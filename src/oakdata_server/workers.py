"""`oakdata serve --workers N`: N server processes on one port, connections spread over them.

Each worker has its own listening socket with SO_REUSEPORT, and the kernel spreads new
connections over the sockets by their addresses. One socket shared by every worker (uvicorn's
--workers) was measured slower than one process (issue #16): whichever worker wakes first
accepts, so a few kept-alive clients all landed on one. The parent binds and listens on every
worker's socket before it starts any worker: a worker bound its own once it had started, and
clients that connected as soon as the first answered (32 kept-alive connections in
bench/engines.py, one run in three) all landed on it and stayed there. Now a connection made
early waits in its worker's backlog until that worker accepts. Sockets are made with
IPPROTO_TCP so that asyncio sets TCP_NODELAY on the connections (runner.py says why).

Workers share nothing but the database: rate limits and connection bounds are per worker, and
what makes an ingest node, on this machine or another behind a load balancer, is the same
process. The parent only starts them, forwards a stop, and stops all when one dies, so that a
supervisor (systemd, a container runtime) sees the failure and restarts the whole.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import signal
import socket
import sys
from multiprocessing.connection import wait
from types import FrameType

import uvicorn

from oakdata_server.settings import Settings

STOP_TIMEOUT_SECONDS = 30.0
BACKLOG = 2048  # uvicorn's default, which it sets again when its worker starts serving


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve(settings: Settings, sock: socket.socket) -> None:
    """One server process on its listening socket, until SIGINT or SIGTERM; the storage
    exists."""
    from oakdata_server.app import create_app
    from oakdata_server.connections import uvicorn_config
    from oakdata_server.storage import open_storage

    with sock:
        storage = open_storage(settings.db_path, durable=settings.durable)
        try:
            run(uvicorn_config(create_app(settings, storage), settings), [sock])
        finally:
            storage.close()


def run(config: uvicorn.Config, sockets: list[socket.socket] | None = None) -> None:
    """Serve in this process until SIGINT or SIGTERM (`sockets`: already bound; None: bind
    config's host and port)."""
    # The cyclic collector, at its defaults, spent 11-15 % of a worker's CPU under
    # bench/engines.py's load (timed with gc.callbacks): a group of up to 20,000 messages
    # stays alive through many young collections, so its objects reach the old generation,
    # and each full collection then walked them and every object of the imported modules.
    # Ingest makes almost no reference cycles (refcounting frees its garbage), so: what
    # exists once the app is built is frozen out of collections, and young collections
    # come every 50,000 allocations, not 2,000. Measured: 4-5 % of the CPU.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)
    # uvicorn re-raises the Ctrl-C it has already handled with a clean shutdown.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=sockets)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run `workers` processes; 0 when stopped by a signal, 1 when a worker died."""
    # spawn, not fork: a forked child would inherit the parent's threads' locks mid-state.
    context = multiprocessing.get_context("spawn")
    sockets = [listening_socket(host, port, reuse_port=True) for _ in range(workers)]
    for sock in sockets:
        sock.listen(BACKLOG)
    processes = [
        # The socket goes to the child as a duplicated descriptor (multiprocessing does it).
        context.Process(
            target=serve, args=(settings, sock), name=f"oakdata-worker-{n}", daemon=False
        )
        for n, sock in enumerate(sockets)
    ]
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    code = 0
    try:
        for process, sock in zip(processes, sockets, strict=True):
            process.start()
            sock.close()  # the worker holds its own copy; its backlog ends with it
        # Any worker ending on its own ends the whole: the port would serve fewer.
        wait([p.sentinel for p in processes])
        print("oakdata: a worker stopped; stopping the others.", file=sys.stderr)
        code = 1
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for sock in sockets:
            sock.close()  # those of workers never started, if stopped while starting
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests under way
        for process in processes:
            process.join(STOP_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
    return code
