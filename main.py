"""parkgate's one entry point and composition root.

    python main.py [serve]            API + camera workers (the default command)
    python main.py demo               the demo community with simulated cameras
    python main.py create-user ...    add an admin or guard
    python main.py <command> --help   options of each command
"""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from api.access_log import quiet_polls
from cli_arguments import port, whole_number
from errors import ParkgateError
from models.db import DATABASE_DOWN, failure_text
from services import backup, city_hub, enrol_folder, reports, resident_import_cli
from services.clock_watch import load_clock_floor

logger = logging.getLogger("parkgate")

# uvicorn's own lines carry "color_message", the message again with terminal colour codes:
# escape sequences in a JSON log, never read.
_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy for journald, Loki or a person with jq."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STD_ATTRS})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


# Libraries whose INFO lines nobody reads: alembic announces every plugin at each start, and
# httpx logs every request (an HTTP relay's status poll each second, a snapshot camera each
# frame) and would fill the journal.
QUIETED_LOGGERS = ("alembic", "httpx")


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    quiet_polls()


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from settings import load_settings

    if getattr(args, "allow_new_database", False):
        overrides["allow_new_database"] = True
    return load_settings(args.config, **overrides)


def _add_new_database_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-new-database", action="store_true",
        help="Begin with an empty database although data_dir shows one was used before "
             "(its SQLite file is missing or the database is empty); refused without it.",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from api.app import create_app
    from api.server import controller_server, listen_socket, server_config
    from services.container import build_services
    from services.instance_lock import InstanceLock

    settings = _settings(args)
    InstanceLock(settings.data_dir).acquire()  # held until the process ends
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    listener = listen_socket(host, port)  # a taken port stops us before any gate is touched
    services = build_services(settings)
    app = create_app(services)
    # Models, ORM and settings live as long as the process: freezing them keeps every later
    # full collection from walking them (measured 60-400 ms pauses under load without it).
    gc.freeze()
    logger.info(
        "parkgate serving community %r on http://%s:%d", settings.community.name, host, port
    )
    server = controller_server(server_config(app, settings, host, port, log_config=None), services)
    server.run(sockets=[listener])
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from demo import run_demo

    return run_demo(args)


def cmd_create_user(args: argparse.Namespace) -> int:
    from models.db import make_session_factory, transaction
    from services.database_start import data_dir_history, open_database, prepare_database
    from services.users import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        try:
            password = getpass.getpass("Password: ")
            repeated = getpass.getpass("Repeat password: ")
        except EOFError:
            # No terminal and nothing on stdin (a script, cron, ssh without -t).
            logger.error("no password given: run it at a terminal, or pipe the password in "
                         "with --password-stdin; no user created")
            return 2
        if repeated != password:
            logger.error("passwords differ; no user created")
            return 2
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        # Bytes that are not UTF-8 arrive as surrogates and would fail at the hash.
        logger.error("the password is not UTF-8 text; no user created")
        return 2
    settings = _settings(args)
    load_clock_floor(settings.data_dir)  # the account's creation time (wall_clock.py)
    history = data_dir_history(settings.data_dir)
    engine = open_database(settings, history)
    sessions = make_session_factory(engine)
    prepare_database(engine, sessions, settings, history, site=False)
    with transaction(sessions) as session:
        user = create_user(session, args.username, password, args.role)
        logger.info("created %s user %r", user.role, user.username)
    engine.dispose()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parkgate", description="Smart parking and access control for a community."
    )
    parser.add_argument("--config", help="YAML or TOML configuration (or PARKGATE_CONFIG).")
    # Checked here so a typo is argparse's one-line usage error (exit 2), not a ValueError
    # traceback from logging; any case is accepted, as before.
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="DEBUG, INFO, WARNING, ERROR.",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text",
        help="text (default) or json: one JSON object per line, for journald or a log shipper.",
    )
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="Run the API, console and camera workers.")
    serve.add_argument("--host", help="Bind address (default from settings: 127.0.0.1).")
    serve.add_argument(
        "--port", type=port, help="Port (default from settings: 8000)."
    )
    _add_new_database_flag(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser(
        "demo", help="Run the demo community with simulated cameras showing drawn plates."
    )
    demo.add_argument("--host", help="Bind address (default from settings: 127.0.0.1).")
    demo.add_argument(
        "--port", type=port, help="Port (default from settings: 8000)."
    )
    demo.add_argument("--interval", type=float, default=6.0, help="Seconds between demo cars.")
    demo.add_argument(
        "--cars", type=whole_number(0, "must be 0 (never stop) or more"), default=0,
        help="Stop after this many cars (0: never).",
    )
    _add_new_database_flag(demo)
    demo.set_defaults(func=cmd_demo)

    user = sub.add_parser("create-user", help="Create an admin or guard account.")
    user.add_argument(
        "--username", required=True,
        help="Login name; one account whatever its case or width (GUARD1 is guard1).",
    )
    user.add_argument(
        "--role", choices=("admin", "guard"), required=True,
        help="admin: the property office (people, passes, reports, users); guard: the booth.",
    )
    user.add_argument(
        "--password-stdin", action="store_true", help="Read the password from standard input."
    )
    _add_new_database_flag(user)
    user.set_defaults(func=cmd_create_user)

    extend_parser(sub)
    return parser


# Commands added by other modules (faces, reports) register here without touching the core.
EXTRA_COMMANDS: list[Callable[[Any], None]] = []
EXTRA_COMMANDS.append(reports.register)
EXTRA_COMMANDS.append(enrol_folder.register)
EXTRA_COMMANDS.append(city_hub.register)
EXTRA_COMMANDS.append(backup.register)
EXTRA_COMMANDS.append(resident_import_cli.register)


def extend_parser(sub: Any) -> None:
    for register in EXTRA_COMMANDS:
        register(sub)


def _serve_option_first(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """What to type instead when an option of ``serve`` comes before any command
    (``main.py --port 9000``): serve is the default command, but argparse reads 9000 as the
    command ("invalid choice: '9000'") or says only "unrecognized arguments: --host"."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    serve_options = [
        s for a in serve._actions for s in a.option_strings if s not in ("-h", "--help")]
    known = parser._option_string_actions

    def option(token: str, names: Sequence[str]) -> str | None:
        # Exactly, or abbreviated as argparse allows (--po for --port).
        name = token.split("=", 1)[0]
        if name in names:
            return name
        found = [n for n in names if name.startswith("--") and n.startswith(name)]
        return found[0] if len(found) == 1 else None

    given = 0
    while given < len(argv) and argv[given].startswith("-"):
        name = option(argv[given], list(known))
        if name is None:
            break
        if name in ("-h", "--help"):
            return None
        takes_value = known[name].nargs != 0 and "=" not in argv[given]
        given += 2 if takes_value else 1
    if given >= len(argv):
        return None
    wrong = option(argv[given], serve_options)
    if wrong is None:
        return None
    rest = list(argv[given:])
    if "serve" in rest:
        rest.remove("serve")  # main.py --port 9000 serve
    typed = shlex.join([*argv[:given], "serve", *rest])
    return f"{wrong} is an option of serve, so name the command first: python main.py {typed}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    wrong = _serve_option_first(parser, sys.argv[1:] if argv is None else argv)
    if wrong is not None:
        parser.exit(2, f"{parser.prog}: error: {wrong}\n")
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    import cv2

    # One OpenCV thread per worker: on a 2-core box the camera workers and the recogniser's
    # own threads would otherwise fight over the cores (measured: one thread is faster).
    cv2.setNumThreads(1)
    if args.command is None:
        args = parser.parse_args([*(argv or sys.argv[1:]), "serve"])
    try:
        return int(args.func(args))
    except ParkgateError as err:
        logger.error("%s", err)
        return 2
    except DATABASE_DOWN as err:
        # A command that cannot work without its database (create-user, demo, reports):
        # one line, not a traceback. ``serve`` starts anyway and decides offline.
        logger.error("database unavailable: %s", failure_text(err))
        return 2
    except OSError as err:
        # The machine, not parkgate: a data_dir that cannot be created or written, a full
        # disk, a port taken. Said in one line; the operator fixes it and starts again.
        logger.error("cannot start: %s", err)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
