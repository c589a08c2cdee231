"""``python main.py backup DEST``: a consistent copy of what a controller cannot lose.

Taken while the controller runs (gates keep working):

- the database: SQLite through its online backup API (a consistent copy even while passages
  are being written, WAL included), checked with ``PRAGMA integrity_check``; PostgreSQL with
  ``pg_dump --format=custom`` (restored with ``pg_restore``);
- ``<data_dir>/journal/``: passages, gate actions and alarms decided during a database outage
  and not yet written back, the city feed's unsent messages, the staff file;
- ``<data_dir>/secret_key`` (sessions and camera tokens stay valid after a restore),
  ``database.marker``, ``controller_id`` (the city hub keeps knowing the community by it) and
  ``clock`` (the latest time the controller saw);
- the configuration file the command was started with, under ``config/`` (a new machine
  needs it before it can restore: it says where data_dir and the database are; ``restore``
  leaves it in the backup);
- with ``--with-snapshots``, the passage snapshots (personal information: a backup keeps them
  beyond ``retention.snapshot_days`` for as long as the backup is kept).

The backup is a new directory (mode 700; files 600) with ``manifest.json`` listing every file
with its size and SHA-256, the database kind and its migration revision. README "Running in
production" (Backup, Restore) gives the restore steps, also onto a new machine.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cli_arguments import whole_number
from errors import InvalidInputError, ParkgateError, StoreUnavailableError
from services.clock_watch import load_clock_floor
from services.instance_lock import refuse_if_running
from wall_clock import utcnow

logger = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
CONFIG_DIR = "config"  # the configuration file, kept for a new machine; never restored


class BackupError(ParkgateError):
    """The backup could not be taken; nothing half-made is left under the given name."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    files: int
    bytes: int
    database: str  # "sqlite" or "postgresql"
    revision: str | None


def take_backup(
    data_dir: Path, database_url: str, dest: Path, *, with_snapshots: bool = False,
    config_file: Path | None = None, now: datetime | None = None,
) -> BackupResult:
    """Write the backup to ``dest`` (which must not exist) and return what it holds."""
    from models.db import sqlite_path

    if dest.exists():
        raise InvalidInputError(f"{dest} exists already: give a new directory for the backup")
    if not dest.parent.exists():
        raise InvalidInputError(
            f"{dest.parent} does not exist{_read_from(dest)}: create it first (install -d -m "
            f"700 {dest.parent.absolute()})"
        )
    if not dest.parent.is_dir():
        raise InvalidInputError(f"{dest.parent} is not a directory")
    partial = dest.with_name(dest.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # left by a backup that was interrupted
    partial.mkdir(mode=PRIVATE_DIR)
    try:
        # The journal before the database: an entry written back in between is then in both
        # copies (written back once: journal ids are unique), never in neither.
        _copy_tree(data_dir / "journal", partial / "journal", label="journal")
        sqlite_file = sqlite_path(database_url)
        if sqlite_file is not None:
            kind = "sqlite"
            revision = _backup_sqlite(sqlite_file, partial / "parkgate.db")
        elif database_url.startswith("postgresql"):
            kind = "postgresql"
            revision = _backup_postgres(database_url, partial / "parkgate.pgdump")
        else:
            raise InvalidInputError(f"cannot back up a database at {database_url!r}")
        # controller_id: the city hub knows the community by it; clock: a new box without a
        # real-time clock then starts no earlier than the backup (wall_clock.py).
        for name in ("secret_key", "database.marker", "controller_id", "clock"):
            if (data_dir / name).is_file():
                _copy(data_dir / name, partial / name)
        if config_file is not None and config_file.is_file():
            _copy(config_file, partial / CONFIG_DIR / config_file.name)
        if with_snapshots:
            _copy_tree(data_dir / "snapshots", partial / "snapshots", label="snapshots")
        files = [p for p in sorted(partial.rglob("*")) if p.is_file()]
        sizes = {p: p.stat().st_size for p in files}
        manifest = {
            "created_at": (now or utcnow()).isoformat(),
            "data_dir": str(data_dir.resolve()),
            "database": kind,
            "revision": revision,
            "with_snapshots": with_snapshots,
            "files": [
                {"path": str(p.relative_to(partial)), "bytes": sizes[p],
                 "sha256": _sha256(p)}
                for p in files
            ],
        }
        manifest_path = partial / "manifest.json"
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                 encoding="utf-8")
        os.chmod(manifest_path, PRIVATE_FILE)
        os.replace(partial, dest)  # the name appears only once the backup is whole
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(dest, len(files) + 1, sum(sizes.values()), kind, revision)


def _backup_sqlite(source: Path, target: Path) -> str | None:
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            # In one step, under one read transaction: the copy is one moment of the database
            # and, in WAL mode, the controller's writes go on meanwhile. In steps, any write
            # by the controller between two of them restarted the whole copy from page 1, and
            # a large database on a slow card under steady writes could copy for ever.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the copy of {source} fails its integrity check: {check}")
            revision = _sqlite_revision(dst)
        finally:
            dst.close()
    except sqlite3.Error as err:
        raise BackupError(f"cannot copy the SQLite database {source}: {err}") from err
    finally:
        src.close()
    os.chmod(target, PRIVATE_FILE)
    return revision


def _sqlite_revision(db: sqlite3.Connection) -> str | None:
    try:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _pg_tool(tool: str) -> str:
    """The PostgreSQL client ``tool``'s path, or BackupError saying how to install it."""
    exe = shutil.which(tool)
    if exe is None:
        raise BackupError(f"{tool} is not installed (apt-get install postgresql-client)")
    return exe


def _pg_client(tool: str, url: str) -> tuple[str, dict[str, str], str]:
    """The PostgreSQL client ``tool``'s path, its environment and its ``--dbname=`` for the
    database at ``url`` (a SQLAlchemy URL)."""
    from sqlalchemy.engine import make_url

    exe = _pg_tool(tool)
    parsed = make_url(url)
    # The password through the environment, not the command line others can read in ps.
    env = {**os.environ}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string()
    return exe, env, f"--dbname={libpq}"


def _run_pg_tool(tool: str, url: str, *args: str) -> str:
    """``pg_dump`` on the database at ``url`` (a SQLAlchemy URL); what it printed."""
    exe, env, dbname = _pg_client(tool, url)
    done = subprocess.run([exe, *args, dbname], capture_output=True, text=True,
                          env=env, timeout=3600)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {_error_line(done.stderr)}")
    return done.stdout


def _backup_postgres(url: str, target: Path) -> str | None:
    from sqlalchemy import create_engine, text

    _run_pg_tool("pg_dump", url, "--format=custom", "--no-owner", f"--file={target}")
    os.chmod(target, PRIVATE_FILE)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).fetchone()
    except Exception:  # the dump is taken; the revision only labels it
        return None
    finally:
        engine.dispose()
    return str(row[0]) if row else None


def _last_line(text: str) -> str:
    """A tool's last line, when it printed no error line."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


_TOOL_PREFIX = re.compile(r"^(?:pg_dump|pg_restore|psql)(?::<stdin>:\d+)?: (?:error: )?")


def _error_line(text: str) -> str:
    """The line of a PostgreSQL tool's output that says what went wrong, as the one line an
    operator is shown: its first error. The last line is often only the SQL that failed
    (``Command was: ALTER TABLE …``), with the reason above it."""
    for line in text.splitlines():
        if "error:" in line or "ERROR:" in line or "FATAL:" in line:
            return _TOOL_PREFIX.sub("", line.strip())
    return _last_line(text)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    shutil.copyfile(source, target)
    os.chmod(target, PRIVATE_FILE)


def _copy_tree(source: Path, target: Path, *, label: str) -> None:
    if not source.is_dir():
        return
    files = [p for p in sorted(source.rglob("*")) if p.is_file() and p.suffix != ".tmp"]
    for done, path in enumerate(files, 1):
        try:
            _copy(path, target / path.relative_to(source))
        except FileNotFoundError:
            continue  # rotated or deleted by retention while we copied: not there to keep
        _progress(f"backup: {label}", done, len(files))


def _progress(doing: str, done: int, total: int) -> None:
    """A line every 200 files of a long run (snapshots: tens of thousands), so whoever
    waits at the terminal sees it move; nothing for a short one."""
    if total > 200 and (done % 200 == 0 or done == total):
        logger.info("%s %d/%d files", doing, done, total)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class RestoreResult:
    files: int
    database: str
    set_aside: Path | None  # where the data directory's own files were moved
    config: Path | None = None  # the configuration file the backup was taken with


def _read_from(path: Path) -> str:
    """Where a relative path was looked for, when it was: deploy/parkgate-cli runs the
    command from /opt/parkgate, so a backup named as it is listed in the folder the operator
    stands in was not found there, and 'does not exist' alone contradicted ls."""
    if path.is_absolute():
        return ""
    return f" in {Path.cwd()} (a relative path is read from there: give the full path)"


def _not_a_backup(backup: Path) -> InvalidInputError:
    """What the operator named instead of a backup directory, and which one to name."""
    if not backup.exists():
        return InvalidInputError(f"{backup} does not exist{_read_from(backup)}: give the "
                                 "directory the backup command wrote (the one that holds "
                                 "manifest.json)")
    if backup.is_file():
        return InvalidInputError(
            f"{backup} is a file, not a backup: give the directory that holds manifest.json"
            f"{f' ({backup.parent})' if backup.name == 'manifest.json' else ''}; an archive "
            "of one: unpack it first"
        )
    inside = sorted(backup.glob("*/manifest.json"), key=_created_at)
    if inside:
        return InvalidInputError(
            f"{backup} holds {len(inside)} backup(s), it is not one: give one of them, e.g. "
            f"the newest {inside[-1].parent}"
        )
    return InvalidInputError(f"{backup} is not a parkgate backup (no manifest.json)")


def _created_at(manifest: Path) -> tuple[str, str]:
    """When a backup was taken, by its manifest (a copied folder's name or time says
    nothing); its name after that."""
    try:
        created = str(json.loads(manifest.read_text(encoding="utf-8"))["created_at"])
    except (OSError, ValueError, KeyError, TypeError):
        created = ""
    return created, manifest.parent.name


def read_manifest(backup: Path) -> dict[str, Any]:
    """The backup's manifest, every file in it checked against its size and SHA-256."""
    if not (backup / "manifest.json").is_file():
        raise _not_a_backup(backup)
    try:
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
    except FileNotFoundError as err:
        raise InvalidInputError(f"{backup} is not a parkgate backup (no manifest.json)") from err
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{backup}/manifest.json is unreadable: {err}") from err
    for checked, entry in enumerate(files, 1):
        path = backup / _inside_path(backup, entry)
        if not path.is_file():
            raise BackupError(f"backup {backup} is incomplete: {entry['path']} is missing")
        if path.stat().st_size != entry["bytes"] or _sha256(path) != entry["sha256"]:
            raise BackupError(f"backup {backup} is damaged: {entry['path']} differs from its "
                              "manifest")
        _progress("restore: checked", checked, len(files))
    return manifest


def _inside_path(backup: Path, entry: Any) -> str:
    """A manifest entry's path, refused unless it names a file inside the backup: a restore
    copies each to ``data_dir/<path>``, so an absolute path or one climbing out with ``..``
    (a manifest edited or made by hand) would write over a file anywhere root can."""
    if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("bytes"), int) and isinstance(entry.get("sha256"), str)):
        raise BackupError(f"backup {backup} is damaged: a manifest entry lacks its path, size "
                          f"or checksum ({entry!r:.80})")
    given: str = entry["path"]
    rel = PurePosixPath(given)
    if not rel.parts or rel.is_absolute() or ".." in rel.parts or "\\" in given:
        raise BackupError(f"backup {backup} is damaged: {given!r:.80} is not a file inside it; "
                          "nothing was restored")
    return given


def restore_backup(
    backup: Path, data_dir: Path, database_url: str, *, replace: bool = False,
    now: datetime | None = None,
) -> RestoreResult:
    """Put ``backup`` back into ``data_dir`` and the database; the controller must be
    stopped. Without ``replace`` it refuses to overwrite anything; with it, the data
    directory's own files are moved to ``data_dir/replaced-<time>/`` first, not deleted.

    The database's controller lock is held meanwhile (services/database_lock.py): a controller
    on another box still serving this database (the old box, not stopped before its data was
    restored onto the new one) is named and nothing is restored, instead of the data being
    replaced under a controller that goes on deciding from and writing to it."""
    from models.db import sqlite_path
    from services.database_lock import DatabaseInUseError, DatabaseLock

    lock = DatabaseLock(database_url, data_dir)
    sqlite_file = sqlite_path(database_url)
    if sqlite_file is None or sqlite_file.parent.is_dir():  # else nothing can serve it yet
        try:
            lock.acquire()
        except DatabaseInUseError as err:
            # Not the start's refusal ("refusing to serve …, or give this one a database of
            # its own"): restored into a database of its own, the backup would reach no gate.
            raise InvalidInputError(
                f"backup {backup} not restored: another parkgate controller serves "
                f"{err.where} ({err.holder}) and would go on deciding from and writing to it; "
                "stop that one first (systemctl stop parkgate on its host), then restore"
            ) from err
        except StoreUnavailableError:
            pass  # the restore cannot reach it either, and says so
    try:
        return _restore(backup, data_dir, database_url, replace=replace, now=now)
    finally:
        lock.release()


def _restore(
    backup: Path, data_dir: Path, database_url: str, *, replace: bool, now: datetime | None,
) -> RestoreResult:
    from models.db import sqlite_path, unknown_revision_text

    try:
        manifest = read_manifest(backup)
    except PermissionError as err:
        # A backup copied onto the box by root (mode 600, as backups are written) and
        # restored, as the guide says, as the data directory's user: 'cannot start:
        # [Errno 13] …' did not say that the restore could not read what it was given.
        raise InvalidInputError(
            f"cannot read the backup: {err.strerror}: {err.filename}; the restore runs as "
            f"{getpass.getuser()}: let it read the backup (chown -R {getpass.getuser()} "
            f"{backup}, or copy it into /var/backups/parkgate as that user)"
        ) from err
    data_dir = data_dir.resolve()
    if os.geteuid() == 0 and data_dir.is_dir() and data_dir.stat().st_uid != 0:
        # Restored files are root's, mode 600: the controller could not open its database.
        raise InvalidInputError(
            f"{data_dir} belongs to user id {data_dir.stat().st_uid}: restore as the user that "
            "owns it (e.g. sudo -u parkgate …), not as root"
        )
    why = (unknown_revision_text(manifest["revision"])
           if manifest.get("revision") is not None else None)
    if why is not None:
        # Before anything changes: restored, the controller would refuse to start on it.
        raise InvalidInputError(f"backup {backup} cannot be restored by this parkgate: its "
                                f"{why}")
    sqlite_file = sqlite_path(database_url)
    kind = "sqlite" if sqlite_file is not None else "postgresql"
    if manifest["database"] != kind:
        raise InvalidInputError(
            f"the backup holds a {manifest['database']} database; this configuration uses "
            f"{kind} ({database_url.split('://')[0]}). A backup is restored onto the kind of "
            "database it was taken from (moving between SQLite and PostgreSQL is not "
            f"supported): restore it with a configuration that uses {manifest['database']} "
            f"({_HOW_TO_USE[manifest['database']]})"
        )
    restored = [Path(entry["path"]) for entry in manifest["files"]
                if Path(entry["path"]).parts[0] != CONFIG_DIR]
    configs = [backup / entry["path"] for entry in manifest["files"]
               if Path(entry["path"]).parts[0] == CONFIG_DIR]
    targets = [
        (backup / rel, sqlite_file if rel.as_posix() == "parkgate.db" else data_dir / rel)
        for rel in restored if rel.as_posix() != "parkgate.pgdump"
    ]
    present = [t for _, t in targets if t is not None and t.exists()]
    if sqlite_file is not None:
        present += [p for p in (Path(f"{sqlite_file}-wal"), Path(f"{sqlite_file}-shm"))
                    if p.exists()]
    set_aside: Path | None = None
    if kind == "postgresql" and not replace:
        tables = _postgres_tables(database_url)
        if tables:
            raise InvalidInputError(
                f"the database {_where(database_url)} holds {len(tables)} table(s) already "
                f"(e.g. {tables[0]}): the restore replaces them with the backup's (accounts "
                "made there since are gone); stop any controller using it and repeat with "
                "--replace"
            )
    if present and not replace:
        raise InvalidInputError(
            f"{len(present)} file(s) the restore would overwrite exist (e.g. {present[0]}): "
            "stop the controller and repeat with --replace (they are moved aside, not deleted)"
        )
    _make_data_dir(data_dir)
    if kind == "postgresql":
        # First: a refused restore (wrong password, no such database) leaves the data
        # directory as it was, journals of an outage included.
        _restore_postgres(database_url, backup / "parkgate.pgdump")
    if present:
        stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
        set_aside = data_dir / f"replaced-{stamp}"
        for path in present:
            # A database file kept outside data_dir goes under database/ with its own name.
            rel = (path.relative_to(data_dir) if path.is_relative_to(data_dir)
                   else Path("database") / path.name)
            (set_aside / rel).parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            shutil.move(path, set_aside / rel)
    for copied, (source, target) in enumerate(targets, 1):
        assert target is not None
        try:
            _copy(source, target)
        except OSError as err:
            kept = f"; the files it replaced are in {set_aside}" if set_aside else ""
            raise BackupError(f"restore stopped while copying {source.name} to {target}: "
                              f"{err}{kept}") from err
        except KeyboardInterrupt:
            # Ctrl-C mid-way leaves data_dir part old, part restored: the operator must
            # hear so, and where the replaced files went, not get a silent exit 130.
            kept = f"; the files it replaced are in {set_aside}" if set_aside else ""
            logger.error("restore interrupted (Ctrl-C) while copying %s: %d of %d files "
                         "restored, the data directory is incomplete%s; run the restore "
                         "again with --replace before starting parkgate",
                         source.name, copied - 1, len(targets), kept)
            raise
        _progress("restore: copied", copied, len(targets))
    return RestoreResult(len(targets), kind, set_aside, configs[0] if configs else None)


def _make_data_dir(data_dir: Path) -> None:
    """The data directory, made before anything is restored. On a new machine not started
    yet (README "Onto a new machine") systemd has not made /var/lib/parkgate, and its user
    cannot make it in /var/lib: the restore stopped at its first file, after the PostgreSQL
    database had been replaced already."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    except OSError as err:
        raise InvalidInputError(
            f"cannot create the data directory {data_dir}: {err.strerror}; nothing was "
            f"restored. Create it for {getpass.getuser()} first, as root: install -d -o "
            f"{getpass.getuser()} -g {getpass.getuser()} -m 700 {data_dir}"
        ) from err


_HOW_TO_USE = {
    "sqlite": "no database_url: SQLite in data_dir",
    "postgresql": "database_url: postgresql+psycopg://…, an empty database created first",
}


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _postgres_tables(url: str) -> list[str]:
    """The tables already in the configured PostgreSQL database: none in a new, empty one,
    which a restore may fill without --replace, as a new machine's empty data directory."""
    from sqlalchemy import create_engine, inspect

    from models.db import DATABASE_DOWN, failure_text

    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    except DATABASE_DOWN as err:
        raise BackupError(f"cannot reach the database {_where(url)}: {failure_text(err)}"
                          ) from err
    finally:
        engine.dispose()


def _restore_postgres(url: str, dump: Path) -> None:
    """The dump into the database, all or nothing: ``pg_restore``'s script, after dropping
    the tables the dump does not hold, runs through ``psql`` in one transaction.

    ``pg_restore --clean`` drops only what its dump names, so a table a newer parkgate's
    migration made stayed (and the next start, creating it again, failed); and one with a
    foreign key to a table of the dump (zone_periods, 0017, to zones) made the clean itself
    fail, so an older backup, the one taken before an upgrade, could not be put back at all.
    Dropped before the restore in its own transaction, a restore that then failed would have
    left the newer version's database without them."""
    # Listed first: a dump that cannot be listed is refused before the database changes.
    tables = _dump_tables(dump)
    restore_exe = _pg_tool("pg_restore")
    psql, env, dbname = _pg_client("psql", url)
    with tempfile.TemporaryFile() as script_errors, tempfile.TemporaryFile() as client_errors:
        script = subprocess.Popen(
            [restore_exe, "--clean", "--if-exists", "--no-owner", "--file=-", str(dump)],
            stdout=subprocess.PIPE, stderr=script_errors,
        )
        client = subprocess.Popen(
            [psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
             f"--command={_drop_tables_not_in(tables)}", "--file=-", dbname],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=client_errors, env=env,
        )
        out, into = script.stdout, client.stdin
        assert out is not None and into is not None
        try:
            for block in iter(lambda: out.read(1 << 16), b""):
                into.write(block)
        except BrokenPipeError:
            pass  # psql stopped at an error: what it printed says which
        finally:
            out.close()
        cut_short = script.wait() != 0
        if cut_short and client.poll() is None:
            # A script cut short must not be committed: psql killed before its COMMIT, the
            # server rolls the transaction back.
            client.kill()
        else:
            with contextlib.suppress(BrokenPipeError):
                into.close()  # the end of the script: psql commits
        client.wait()
        script_errors.seek(0)
        client_errors.seek(0)
        script_said = script_errors.read().decode("utf-8", "replace")
        client_said = client_errors.read().decode("utf-8", "replace")
    for notice in re.findall(r"NOTICE:\s+(dropping table .*)", client_said):
        logger.info("%s", notice)
    # psql's own error first: pg_restore then fails only because psql stopped reading.
    failed = (client_said if client.returncode > 0
              else script_said if cut_short else None)
    if failed is not None:
        raise BackupError(f"pg_restore failed: {_error_line(failed)}; the database was not "
                          "changed")


def _dump_tables(dump: Path) -> set[str]:
    """The public tables a custom-format dump holds (``pg_restore --list``: lines such as
    ``215; 1259 16390 TABLE public alarms postgres``)."""
    listing = subprocess.run([shutil.which("pg_restore") or "pg_restore", "--list", str(dump)],
                             capture_output=True, text=True, timeout=600, check=False)
    if listing.returncode != 0:
        raise BackupError(f"pg_restore --list failed: {_error_line(listing.stderr)}")
    tables: set[str] = set()
    for line in listing.stdout.splitlines():
        words = line.split(";", 1)[-1].split()
        if len(words) >= 5 and words[2] == "TABLE" and words[3] == "public":
            tables.add(words[4])
    return tables


def _drop_tables_not_in(kept: set[str]) -> str:
    """The SQL that drops, first in the restore's transaction, every table of the database
    that the dump does not hold (with CASCADE: their foreign keys to the dump's tables would
    stop its clean). Tables only: the restore's migrations make nothing else of their own."""
    if not kept:
        return "SELECT 1"  # a dump we cannot read the tables of: better left than emptied
    names = ", ".join("'" + name.replace("'", "''") + "'" for name in sorted(kept))
    return (
        "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_catalog.pg_tables "
        f"WHERE schemaname = 'public' AND tablename <> ALL (ARRAY[{names}]) ORDER BY 1 LOOP "
        "RAISE NOTICE 'dropping table %: not in the backup (made by a newer version)', t; "
        "EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', t); END LOOP; END $$"
    )


def cmd_restore(args: argparse.Namespace) -> int:
    from settings import load_settings

    settings = load_settings(args.config)
    load_clock_floor(settings.data_dir)  # names what it sets aside (replaced-<time>)
    refuse_if_running(settings.data_dir, f"restoring {args.backup}")
    result = restore_backup(Path(args.backup), settings.data_dir,
                            settings.resolved_database_url, replace=args.replace)
    logger.info(
        "restored %s (%s database, %d files) into %s%s", args.backup, result.database,
        result.files, settings.data_dir,
        f"; the files it replaced are in {result.set_aside}" if result.set_aside else "",
    )
    if result.config is not None:
        logger.info("the backup also holds the configuration it was taken with, %s: not "
                    "restored (compare it with this machine's)", result.config)
    return 0


STAMPED_PREFIX = "parkgate-"


def prune_backups(directory: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` stamped backups in ``directory`` (only whole ones,
    with a manifest: nothing else there is touched); returns what was removed."""
    stamped = sorted(
        p for p in directory.glob(f"{STAMPED_PREFIX}*")
        if p.is_dir() and not p.name.endswith(".partial") and (p / "manifest.json").is_file()
    )  # the UTC stamp sorts by time
    old = stamped[:-keep] if keep > 0 else stamped
    for path in old:
        shutil.rmtree(path)
    return old


def cmd_backup(args: argparse.Namespace) -> int:
    from settings import load_settings

    settings = load_settings(args.config)
    # Named by the controller's clock: a backup taken while the system clock reads 2000 must
    # not be named as the oldest of its folder (wall_clock.py).
    load_clock_floor(settings.data_dir)
    dest = Path(args.dest)
    if args.keep is not None and not args.stamped:
        raise InvalidInputError("--keep needs --stamped (it prunes DEST/parkgate-<time>/)")
    if args.stamped:
        dest = dest / f"{STAMPED_PREFIX}{utcnow().strftime('%Y%m%dT%H%M%SZ')}"
    config = args.config or os.environ.get("PARKGATE_CONFIG")
    result = take_backup(settings.data_dir, settings.resolved_database_url, dest,
                         with_snapshots=args.with_snapshots,
                         config_file=Path(config) if config else None)
    if not config:
        # The admin guide promises config/ in every backup (a new machine starts from it): a
        # backup typed at the shell without the controller's configuration has none, and its
        # data_dir and database are the defaults', which may not be the controller's.
        logger.warning(
            "no configuration file given (--config or PARKGATE_CONFIG): this backup holds "
            "none, and it is of data_dir %s; give the controller's, e.g. main.py --config "
            "/etc/parkgate/parkgate.yaml backup DEST", settings.data_dir,
        )
    if args.keep is not None:
        for old in prune_backups(dest.parent, args.keep):
            logger.info("backup: removed %s (older than the newest %d)", old, args.keep)
    logger.info(
        "backup written to %s: %s database (revision %s), %d files, %.1f MB%s", result.path,
        result.database, result.revision or "unknown", result.files, result.bytes / 1e6,
        "" if args.with_snapshots else "; snapshots not included (--with-snapshots)",
    )
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "backup",
        help="Copy the database, the outage journals, the signing key and the configuration "
             "file to a new directory while the controller runs.",
    )
    parser.add_argument("dest", help="The backup directory to create (must not exist).")
    parser.add_argument(
        "--stamped", action="store_true",
        help="Create DEST/parkgate-<UTC time>/ instead (for a nightly job).",
    )
    parser.add_argument(
        "--keep", type=whole_number(1, "must be 1 or more"), metavar="N",
        help="With --stamped: then remove all but the newest N stamped backups in DEST.",
    )
    parser.add_argument(
        "--with-snapshots", action="store_true",
        help="Include the passage snapshots (personal information; can be large).",
    )
    parser.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore",
        help="Put a backup back (stop the controller first); checks every file against the "
             "backup's manifest.",
    )
    restore.add_argument("backup", help="A directory written by 'backup'.")
    restore.add_argument(
        "--replace", action="store_true",
        help="Overwrite the current database and journals (the files are moved to "
             "data_dir/replaced-<time>/ first; PostgreSQL tables are replaced).",
    )
    restore.set_defaults(func=cmd_restore)

