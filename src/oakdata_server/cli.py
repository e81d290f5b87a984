"""The `oakdata` command: serve, manage keys, read a timeline, send one event.

Exit codes: 0 success, 1 the thing asked for failed (unknown person, event not delivered,
no such key), 2 the command line was wrong (argparse's own convention).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oakdata_server.settings import DEFAULT_HOST, DEFAULT_PORT, settings_from_env

if TYPE_CHECKING:  # the server's modules load only for the commands that use them
    from oakdata.types import JSONValue
    from oakdata_server.storage import Storage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# `oakdata capture` rides out a server restart of a few seconds, and still answers well
# within its default --timeout: waits of 0.25-0.5, 0.5-1 and 1-2 s.
CAPTURE_RETRIES = 3
CAPTURE_RETRY_DELAY = 0.5
MAX_WORKERS = 64


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    from oakdata_server.storage import StorageNotFound, StorageUnavailable

    try:
        code: int = args.run(args)
    except ValueError as error:  # settings and arguments that parse but do not make sense
        print(f"oakdata: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StorageNotFound as error:
        print(
            f"oakdata: error: {error}; pass --db, or create it with `oakdata serve` or "
            "`oakdata keys create --init`.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except StorageUnavailable as error:
        print(f"oakdata: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oakdata",
        description="The OakData ingest server, its keys and its data.",
        epilog="Environment: OAK_SERVER_DATABASE_URL (or OAK_SERVER_DB_PATH), "
        "OAK_SERVER_ADMIN_TOKEN (and the other OAK_SERVER_* settings in docs/server.md), "
        "OAK_SECRET_KEY and OAK_HOST for capture.",
    )
    parser.add_argument("--version", action="version", version=f"oakdata {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    db_help = (
        "SQLite file, sqlite:/// or postgresql:// URL (default: $OAK_SERVER_DATABASE_URL,"
        " $OAK_SERVER_DB_PATH or ./oakdata.db)"
    )

    serve = commands.add_parser("serve", help="run the server", description="Run the server.")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument("--db", "--database", dest="db", help=db_help)
    serve.add_argument(
        "--admin-token", help="token for the reading API (default $OAK_SERVER_ADMIN_TOKEN)"
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes sharing the port (default 1; see docs/scaling.md)",
    )
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(title="key commands", metavar="ACTION", required=True)
    create = key_commands.add_parser(
        "create",
        help="create a key; it is printed once",
        description="Create a key. It is printed once on stdout and stored only as a hash.",
    )
    create.add_argument("--db", "--database", dest="db", help=db_help)
    create.add_argument(
        "--init", action="store_true", help="create the database if it does not exist yet"
    )
    create.add_argument("--project", default="default", help="project name (created if new)")
    create.add_argument("--public", action="store_true", help="a browser key (oak_pub_...)")
    create.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="URL",
        help="an origin allowed to use a public key, e.g. https://app.example.com (repeatable;"
        " no wildcards)",
    )
    create.add_argument("--name", default="", help="a label to recognise the key by")
    create.set_defaults(run=_keys_create)
    listing = key_commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--db", "--database", dest="db", help=db_help)
    listing.set_defaults(run=_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key from its next request on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the id `keys list` shows, or the key")
    revoke.add_argument("--db", "--database", dest="db", help=db_help)
    revoke.set_defaults(run=_keys_revoke)

    timeline = commands.add_parser(
        "timeline",
        help="print the stitched timeline of a person",
        description="Print every event of the person behind DISTINCT_ID, from all its ids.",
    )
    timeline.add_argument("distinct_id", metavar="DISTINCT_ID")
    timeline.add_argument("--db", "--database", dest="db", help=db_help)
    timeline.add_argument("--project", default="default")
    timeline.add_argument("--limit", type=int, default=1000, help="events at most (default 1000)")
    timeline.add_argument("--json", action="store_true", help="print JSON, as the API returns")
    timeline.set_defaults(run=_timeline)

    migrate = commands.add_parser(
        "migrate",
        help="bring a database's schema up to date, or copy SQLite into another engine",
        description="Bring the database's schema up to date (servers also do so on start); "
        "with --from and --to, copy a SQLite installation into an empty PostgreSQL database, "
        "or into ClickHouse for events and PostgreSQL for the rest.",
    )
    migrate.add_argument("--db", "--database", dest="db", help=db_help)
    migrate.add_argument("--from", dest="source", metavar="SQLITE", help="the SQLite file or URL")
    migrate.add_argument(
        "--to",
        dest="destination",
        metavar="URL",
        help="a postgresql:// URL, or a clickhouse://…?identity=… URL",
    )
    migrate.set_defaults(run=_migrate)

    capture = commands.add_parser(
        "capture",
        help="send one event with the SDK",
        description="Send one event with oakdata.OakClient and wait until it is delivered.",
    )
    capture.add_argument("distinct_id", metavar="DISTINCT_ID")
    capture.add_argument("event", metavar="EVENT")
    capture.add_argument(
        "-p",
        "--property",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a property; VALUE is parsed as JSON when it can be (repeatable)",
    )
    capture.add_argument("--key", help="secret key (default $OAK_SECRET_KEY)")
    capture.add_argument(
        "--host", help=f"server URL (default $OAK_HOST, else http://{DEFAULT_HOST}:{DEFAULT_PORT})"
    )
    capture.add_argument("--timeout", type=float, default=15.0, help="seconds (default 15)")
    capture.set_defaults(run=_capture)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from oakdata_server.app import create_app
    from oakdata_server.connections import connections_within_descriptors, uvicorn_config
    from oakdata_server.storage import open_storage
    from oakdata_server.workers import run, serve_workers

    settings = settings_from_env(db_path=args.db, admin_token=args.admin_token)
    storage = open_storage(settings.db_path, create=True, durable=settings.durable)
    try:
        print(
            f"oakdata: serving {storage.location} on http://{args.host}:{args.port}",
            file=sys.stderr,
        )
        if settings.admin_token is None:
            print(
                "oakdata: no admin token (--admin-token or $OAK_SERVER_ADMIN_TOKEN), so the "
                "reading API is off; ingest works.",
                file=sys.stderr,
            )
        allowed = connections_within_descriptors(settings.max_connections)
        if allowed < settings.max_connections:
            print(
                f"oakdata: the file-descriptor limit allows {allowed} connections, not "
                f"{settings.max_connections}; raise `ulimit -n` for more.",
                file=sys.stderr,
            )
            settings = dataclasses.replace(settings, max_connections=allowed)
        if args.workers > 1:
            # Each worker opens the database itself; this process only created it.
            storage.close()
            print(f"oakdata: {args.workers} workers", file=sys.stderr)
            return serve_workers(settings, args.host, args.port, args.workers)
        run(uvicorn_config(create_app(settings, storage), settings, host=args.host, port=args.port))
    finally:
        storage.close()
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    if (args.source is None) != (args.destination is None):
        raise ValueError("--from and --to go together.")
    if args.source is None:
        with _storage(args, create=True) as storage:
            pass  # opening a storage brings its schema up to date
        print(f"oakdata: {storage.location} is up to date.", file=sys.stderr)
        return EXIT_OK
    if not args.destination.startswith(("postgresql://", "postgres://", "clickhouse://")):
        raise ValueError("--to must be a postgresql:// or clickhouse:// URL.")
    from oakdata_server.storage import open_storage
    from oakdata_server.storage.transfer import copy_sqlite

    copied = copy_sqlite(args.source, args.destination)
    rows = ", ".join(f"{n} {table}" for table, n in copied.items())
    destination = open_storage(args.destination)  # opened for its name, without passwords
    destination.close()
    print(f"oakdata: copied {rows} into {destination.location}.", file=sys.stderr)
    return EXIT_OK


def _keys_create(args: argparse.Namespace) -> int:
    from oakdata_server.keys import KeyKind, generate_key, hash_key, lookup_id, parse_origin

    if args.origin and not args.public:
        raise ValueError("--origin only applies to public keys; add --public.")
    if args.public and not args.origin:
        raise ValueError("a public key needs at least one --origin.")
    origins = [parse_origin(o) for o in args.origin]
    kind: KeyKind = "public" if args.public else "secret"
    key = generate_key(kind)
    with _storage(args, create=args.init) as storage:
        project = storage.create_project(args.project)
        storage.create_key(
            project.id,
            kind,
            lookup_id(key),
            hash_key(key),
            args.name,
            origins,
        )
    print(key)
    print(
        f"Created {kind} key {lookup_id(key)} for project {args.project!r} in "
        f"{storage.location}. "
        "Store it now: it is not shown again.",
        file=sys.stderr,
    )
    return EXIT_OK


def _keys_list(args: argparse.Namespace) -> int:
    with _storage(args) as storage:
        records = storage.list_keys()
    print(f"Keys in {storage.location}:", file=sys.stderr)
    print(
        f"{'KEY ID':<17} {'KIND':<7} {'PROJECT':<12} {'CREATED':<20} {'STATUS':<8} NAME / ORIGINS"
    )
    for r in records:
        status = "revoked" if r.revoked_at else "active"
        detail = " ".join([r.name, *r.origins]).strip()
        print(
            f"{r.lookup_id:<17} {r.kind:<7} {r.project_name:<12} {r.created_at[:19]:<20} "
            f"{status:<8} {detail}"
        )
    return EXIT_OK


def _keys_revoke(args: argparse.Namespace) -> int:
    from oakdata_server.keys import lookup_id

    key_id = lookup_id(args.key_id) or args.key_id
    with _storage(args) as storage:
        revoked = storage.revoke_key(key_id)
    if not revoked:
        print(f"oakdata: no active key {key_id!r}; see `oakdata keys list`.", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"Revoked {key_id} in {storage.location}; it is refused from its next request on.",
        file=sys.stderr,
    )
    return EXIT_OK


def _timeline(args: argparse.Namespace) -> int:
    from oakdata_server.read import event_json
    from oakdata_server.render import render_timeline

    if not 1 <= args.limit <= 100_000:
        raise ValueError("--limit must be from 1 to 100000.")
    with _storage(args) as storage:
        project = storage.get_project(args.project)
        found = (
            None
            if project is None
            else storage.timeline(project.id, args.distinct_id, args.limit, None)
        )
    if found is None:
        print(
            f"oakdata: no person has the id {args.distinct_id!r} in project {args.project!r}"
            f" of {storage.location}.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    document = {
        "project": args.project,
        "distinct_id": args.distinct_id,
        "distinct_ids": found.distinct_ids,
        "distinct_id_count": found.distinct_id_count,
        "properties": found.properties,
        "events": [event_json(e) for e in found.events],
        "next_cursor": None,
    }
    print(json.dumps(document, indent=2) if args.json else render_timeline(document))
    return EXIT_OK


def _capture(args: argparse.Namespace) -> int:
    import logging

    from oakdata import DropReport, OakClient

    properties = dict(_property(text) for text in args.property)
    key = args.key or os.environ.get("OAK_SECRET_KEY")
    if not key:
        raise ValueError("no key: pass --key or set OAK_SECRET_KEY.")
    host = args.host or os.environ.get("OAK_HOST") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    # The command says why the event was lost, once, below: the SDK's own warning would say
    # it a second time on stderr.
    logging.getLogger("oakdata").setLevel(logging.CRITICAL)
    drops: list[DropReport] = []
    client = OakClient(
        key,
        host=host,
        flush_at=1,
        flush_interval=0,
        max_retries=CAPTURE_RETRIES,
        retry_initial_delay=CAPTURE_RETRY_DELAY,
        on_error=drops.append,  # shutdown() returns once the callback heard of every drop
    )
    uuid = client.capture(args.distinct_id, args.event, properties)
    if not client.shutdown(timeout=args.timeout) or uuid is None:
        why = "; ".join(f"{drop.message} ({drop.reason})" for drop in drops)
        print(
            f"oakdata: the event was not delivered: {why or f'no answer within {args.timeout} s'}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(uuid)
    return EXIT_OK


def _property(text: str) -> tuple[str, JSONValue]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise ValueError(f"property {text!r} is not NAME=VALUE.")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


@contextmanager
def _storage(args: argparse.Namespace, create: bool = False) -> Iterator[Storage]:
    from oakdata_server.storage import open_storage

    settings = settings_from_env(db_path=args.db)
    storage = open_storage(settings.db_path, create=create, durable=settings.durable)
    try:
        yield storage
    finally:
        storage.close()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return port


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 64")
    return workers


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oakdata")
    except PackageNotFoundError:  # run from a checkout that is not installed
        from oakdata._version import __version__

        return __version__


if __name__ == "__main__":
    sys.exit(main())
