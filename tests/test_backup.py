"""``main.py backup`` / ``restore``: a copy taken while passages are being written is whole,
and putting it back gives the controller its passages, journals and key again."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.util.exc import CommandError
from sqlalchemy import inspect, select, text

from errors import InvalidInputError
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Passage
from services import backup as backup_module
from services.backup import BackupError, prune_backups, restore_backup, take_backup
from tests.conftest import ROOT, reset_postgres

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def add_passages(url: str, plates: list[str]) -> None:
    engine = create_db_engine(url)
    sessions = make_session_factory(engine)
    for plate in plates:
        with transaction(sessions) as session:
            session.add(Passage(gate_id="main-in", direction="in", plate=plate,
                                decision="allow", reason="resident"))
    engine.dispose()


def plates_in(url: str) -> list[str]:
    engine = create_db_engine(url, create=False)
    with make_session_factory(engine)() as session:
        plates = list(session.scalars(select(Passage.plate).order_by(Passage.id)))
    engine.dispose()
    return [p for p in plates if p is not None]


@pytest.fixture
def controller_dir(tmp_path: Path, database_url: str) -> Iterator[tuple[Path, str]]:
    """A data directory as a controller leaves it, with its database migrated."""
    data = tmp_path / "data"
    (data / "journal").mkdir(parents=True)
    (data / "secret_key").write_text("k" * 64, encoding="utf-8")
    (data / "controller_id").write_text("0a1b2c3d4e5f\n", encoding="ascii")
    (data / "clock").write_text("2026-11-30T19:33:00+00:00", encoding="ascii")
    (data / "journal" / "passages.jsonl").write_text('{"type": "entry"}\n', encoding="utf-8")
    (data / "journal" / "city_mqtt.jsonl").write_text('{"seq": 1}\n', encoding="utf-8")
    (data / "snapshots" / "2026-11-28").mkdir(parents=True)
    (data / "snapshots" / "2026-11-28" / "a.jpg").write_bytes(b"\xff\xd8jpeg")
    engine = create_db_engine(database_url)
    migrate(engine)
    engine.dispose()
    add_passages(database_url, ["闽A00001", "闽A00002"])
    yield data, database_url


def test_a_backup_holds_the_database_journals_and_key_privately(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    result = take_backup(data, url, tmp_path / "b1")
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    assert result.database == kind and result.revision is not None
    manifest = json.loads((tmp_path / "b1" / "manifest.json").read_text("utf-8"))
    paths = {f["path"] for f in manifest["files"]}
    database_file = "parkgate.db" if kind == "sqlite" else "parkgate.pgdump"
    assert paths == {database_file, "secret_key", "controller_id", "clock",
                     "journal/passages.jsonl", "journal/city_mqtt.jsonl"}  # snapshots on asking
    assert stat.S_IMODE((tmp_path / "b1").stat().st_mode) == 0o700
    assert all(stat.S_IMODE((tmp_path / "b1" / p).stat().st_mode) == 0o600 for p in paths)
    with_snapshots = take_backup(data, url, tmp_path / "b2", with_snapshots=True)
    assert with_snapshots.files == result.files + 1


def test_a_sqlite_copy_taken_while_passages_are_written_is_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    url = f"sqlite:///{data / 'parkgate.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    add_passages(url, [f"粤B{n:05d}" for n in range(50)])
    stop = threading.Event()

    def gate() -> None:  # the controller keeps recording cars meanwhile
        n = 50
        while not stop.is_set():
            add_passages(url, [f"粤B{n:05d}"])
            n += 1

    writer = threading.Thread(target=gate)
    writer.start()
    try:
        take_backup(data, url, tmp_path / "backup")
    finally:
        stop.set()
        writer.join()
    copied = plates_in(f"sqlite:///{tmp_path / 'backup' / 'parkgate.db'}")
    # One moment of the database: every passage up to some point, none missing in between.
    assert len(copied) >= 50
    assert copied == [f"粤B{n:05d}" for n in range(len(copied))]
    # A single self-contained file: no -wal beside it holds part of the data.
    assert not (tmp_path / "backup" / "parkgate.db-wal").exists()


def test_restore_puts_everything_back_and_moves_what_it_replaces_aside(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    add_passages(url, ["闽A00003"])  # after the backup
    (data / "secret_key").write_text("changed", encoding="utf-8")

    with pytest.raises(InvalidInputError, match="repeat with --replace"):
        restore_backup(tmp_path / "backup", data, url)
    assert (data / "secret_key").read_text("utf-8") == "changed"  # nothing touched

    result = restore_backup(tmp_path / "backup", data, url, replace=True,
                            now=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert plates_in(url) == ["闽A00001", "闽A00002"]
    assert (data / "secret_key").read_text("utf-8") == "k" * 64
    assert (data / "controller_id").read_text("ascii") == "0a1b2c3d4e5f\n"
    assert (data / "journal" / "passages.jsonl").read_text("utf-8") == '{"type": "entry"}\n'
    assert result.set_aside == data / "replaced-20261129T080000Z"
    assert (result.set_aside / "secret_key").read_text("utf-8") == "changed"


def test_restore_into_a_new_machine_needs_no_replace(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    if url.startswith("postgresql"):
        pytest.skip("a new PostgreSQL database: "
                    "test_a_new_postgresql_database_is_restored_into_without_replace")
    take_backup(data, url, tmp_path / "backup")
    fresh = tmp_path / "new-box"
    fresh_url = f"sqlite:///{fresh / 'parkgate.db'}"
    fresh.mkdir()
    result = restore_backup(tmp_path / "backup", fresh, fresh_url)
    assert result.set_aside is None
    assert plates_in(fresh_url) == ["闽A00001", "闽A00002"]


def test_a_failed_postgres_restore_leaves_the_data_directory_as_it_was(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    if not url.startswith("postgresql"):
        pytest.skip("the database part of a PostgreSQL restore")
    take_backup(data, url, tmp_path / "backup")
    (data / "journal" / "passages.jsonl").write_text('{"type": "later"}\n', encoding="utf-8")
    unreachable = url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(BackupError, match=r"pg_restore failed: [^\[].*no_such_database"):
        restore_backup(tmp_path / "backup", data, unreachable, replace=True)
    # The outage's passages not yet written back are where the controller looks for them.
    assert (data / "journal" / "passages.jsonl").read_text("utf-8") == '{"type": "later"}\n'
    assert not any(p.name.startswith("replaced-") for p in data.iterdir())


@pytest.mark.skipif(os.geteuid() != 0, reason="what root restores for another user")
def test_root_is_refused_a_restore_into_another_users_data_directory(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    os.chown(data, 65534, 65534)  # the service's user: it could not read root's 600 files
    with pytest.raises(InvalidInputError, match="as the user that owns it"):
        restore_backup(tmp_path / "backup", data, url, replace=True)
    assert not any(p.name.startswith("replaced-") for p in data.iterdir())


def test_a_damaged_backup_is_refused_before_anything_is_touched(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    key = tmp_path / "backup" / "secret_key"
    os.chmod(key, 0o600)
    key.write_text("x" * 64, encoding="utf-8")  # same size, other bytes
    with pytest.raises(BackupError, match="secret_key differs from its manifest"):
        restore_backup(tmp_path / "backup", data, url, replace=True)
    assert not any(p.name.startswith("replaced-") for p in data.iterdir())


def test_a_backup_never_overwrites_and_leaves_nothing_half_made(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidInputError, match="exists already"):
        take_backup(data, url, tmp_path / "taken")
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    with pytest.raises(BackupError, match="does not exist"):
        take_backup(data, missing, tmp_path / "b")
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


def test_the_commands_answer_bad_input_with_a_line_and_code_2(tmp_path: Path) -> None:
    config = tmp_path / "parkgate.yaml"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "data")}), encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), "--config", str(config),
                               *args], capture_output=True, text=True, timeout=120)

    no_database = run("backup", str(tmp_path / "b"))
    assert no_database.returncode == 2 and "does not exist" in no_database.stderr
    not_a_backup = run("restore", str(tmp_path))
    assert not_a_backup.returncode == 2
    assert "is not a parkgate backup (no manifest.json)" in not_a_backup.stderr
    assert "Traceback" not in no_database.stderr + not_a_backup.stderr


def test_a_backup_without_a_configuration_file_says_it_holds_none(tmp_path: Path) -> None:
    """The admin guide's ``main.py backup DIR`` typed at the shell names no configuration:
    the backup then had no config/ (which a new machine starts from) without a word."""
    data, config, _backups = nightly_setup(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PARKGATE_CONFIG"}
    env["PARKGATE_DATA_DIR"] = str(data)

    def backup(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "main.py"), *options, "backup",
                               str(tmp_path / f"b{len(options)}")], capture_output=True,
                              text=True, timeout=120, env=env)

    bare = backup()
    assert bare.returncode == 0, bare.stderr
    assert not (tmp_path / "b0" / "config").exists()
    assert f"no configuration file given (--config or PARKGATE_CONFIG): this backup holds " \
           f"none, and it is of data_dir {data}" in bare.stderr
    given = backup("--config", str(config))
    assert given.returncode == 0, given.stderr
    assert (tmp_path / "b2" / "config" / "parkgate.yaml").is_file()
    assert "no configuration file given" not in given.stderr


def test_keep_removes_only_older_whole_stamped_backups(tmp_path: Path) -> None:
    for stamp in ("20261101T033000Z", "20261102T033000Z", "20261103T033000Z"):
        (tmp_path / f"parkgate-{stamp}").mkdir()
        (tmp_path / f"parkgate-{stamp}" / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "parkgate-20261104T033000Z.partial").mkdir()  # being written: not a backup
    (tmp_path / "parkgate-notes").mkdir()  # someone's own folder: no manifest, never touched
    removed = prune_backups(tmp_path, keep=2)
    assert [p.name for p in removed] == ["parkgate-20261101T033000Z"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "parkgate-20261102T033000Z", "parkgate-20261103T033000Z",
        "parkgate-20261104T033000Z.partial", "parkgate-notes",
    ]


def nightly_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A SQLite controller's data_dir, its configuration file and an empty backups folder."""
    data = tmp_path / "data"
    data.mkdir()
    engine = create_db_engine(f"sqlite:///{data / 'parkgate.db'}")
    migrate(engine)
    engine.dispose()
    config = tmp_path / "parkgate.yaml"
    config.write_text(json.dumps({"data_dir": str(data)}), encoding="utf-8")
    backups = tmp_path / "backups"
    backups.mkdir()
    return data, config, backups


def test_a_nightly_stamped_backup_keeps_the_newest(tmp_path: Path) -> None:
    _data, config, backups = nightly_setup(tmp_path)
    command = [sys.executable, str(ROOT / "main.py"), "--config", str(config), "backup",
               "--stamped", "--keep", "1", str(backups)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (only,) = backups.iterdir()
    only.rename(backups / "parkgate-20200101T000000Z")  # as if taken on an earlier night
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    (kept,) = backups.iterdir()
    assert kept.name != "parkgate-20200101T000000Z" and (kept / "parkgate.db").is_file()
    assert (kept / "config" / "parkgate.yaml").read_bytes() == config.read_bytes()
    assert "removed" in second.stderr and "backup written to" in second.stderr
    unstamped = subprocess.run([*command[:4], "backup", "--keep", "2", str(backups)],
                               capture_output=True, text=True, timeout=120)
    assert unstamped.returncode == 2 and "--keep needs --stamped" in unstamped.stderr


def test_a_restore_that_fails_while_copying_says_where_the_replaced_files_are(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    if url.startswith("postgresql"):
        pytest.skip("the file part of a restore; the database kind does not matter")
    take_backup(data, url, tmp_path / "backup")
    for path in (data / "journal").iterdir():
        path.unlink()
    (data / "journal").rmdir()
    (data / "journal").write_text("a file where the directory belongs", encoding="utf-8")
    with pytest.raises(BackupError, match=r"restore stopped while copying .*; the files it "
                                          r"replaced are in .*replaced-20261129T080000Z"):
        restore_backup(tmp_path / "backup", data, url, replace=True,
                       now=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert (data / "replaced-20261129T080000Z" / "secret_key").read_text("utf-8") == "k" * 64


def test_a_restore_interrupted_while_copying_says_so_and_where_the_replaced_files_are(
    controller_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ctrl-C between two files: a line saying the data directory is incomplete, not only
    exit 130 with half the files put back."""
    data, url = controller_dir
    if url.startswith("postgresql"):
        pytest.skip("the file part of a restore; the database kind does not matter")
    take_backup(data, url, tmp_path / "backup")
    copy = backup_module._copy
    copied: list[Path] = []

    def copy_then_interrupt(source: Path, target: Path) -> None:
        if copied:
            raise KeyboardInterrupt
        copy(source, target)
        copied.append(target)

    monkeypatch.setattr(backup_module, "_copy", copy_then_interrupt)
    with caplog.at_level(logging.ERROR, logger="services.backup"), \
            pytest.raises(KeyboardInterrupt):
        restore_backup(tmp_path / "backup", data, url, replace=True,
                       now=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    assert "1 of " in caplog.text and "the data directory is incomplete" in caplog.text
    assert "replaced-20261129T080000Z" in caplog.text


# Found by the disaster-recovery walk (a dead SD card, the backups and a new box).


def test_restore_says_which_directory_to_give_instead_of_what_was_given(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    take_backup(data, url, nightly / "parkgate-20261129T033000Z", now=AT)
    take_backup(data, url, nightly / "parkgate-old-copy", now=AT.replace(day=27))
    fresh = tmp_path / "new-box"
    answers = {
        tmp_path / "no-such": "does not exist: give the directory the backup command wrote",
        nightly / "parkgate-20261129T033000Z" / "manifest.json":
            "is a file, not a backup: give the directory that holds manifest.json "
            f"({nightly / 'parkgate-20261129T033000Z'})",
        nightly: "holds 2 backup(s), it is not one: give one of them, e.g. the newest "
                 f"{nightly / 'parkgate-20261129T033000Z'}",
    }
    for given, answer in answers.items():
        with pytest.raises(InvalidInputError) as refused:
            restore_backup(given, fresh, f"sqlite:///{fresh / 'parkgate.db'}")
        assert answer in str(refused.value)
    assert not fresh.exists()


def test_a_backup_restored_onto_the_other_kind_of_database_says_it_is_not_supported(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    if url.startswith("postgresql"):
        other, kind, hint = f"sqlite:///{tmp_path / 'new' / 'parkgate.db'}", "postgresql", \
            "database_url: postgresql+psycopg://…, an empty database created first"
    else:  # checked before any connection: no server needed at that address
        other, kind, hint = "postgresql+psycopg://parkgate@127.0.0.1:1/parkgate", "sqlite", \
            "no database_url: SQLite in data_dir"
    with pytest.raises(InvalidInputError) as refused:
        restore_backup(tmp_path / "backup", tmp_path / "new", other, replace=True)
    assert ("moving between SQLite and PostgreSQL is not supported): restore it with a "
            f"configuration that uses {kind} ({hint})") in str(refused.value)
    assert not (tmp_path / "new").exists()


def test_a_backup_newer_than_this_parkgate_is_refused_before_anything_changes(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    """A new box installed from an older checkout than the one that took the backup: the
    restore went through and the start then failed on alembic's "Can't locate revision"."""
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    manifest_path = tmp_path / "backup" / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["revision"] = "0999"  # as a later parkgate labels its backups
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    fresh = tmp_path / "new-box"
    with pytest.raises(InvalidInputError, match=r"its schema revision 0999 is newer than this "
                                                r"parkgate knows \(newest \d{4}\): .*install"):
        restore_backup(tmp_path / "backup", fresh, f"sqlite:///{fresh / 'parkgate.db'}")
    assert not fresh.exists()


def test_a_database_newer_than_this_parkgate_stops_the_start_with_a_line_saying_so(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'parkgate.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(CommandError, match="schema revision 0999 is newer than this parkgate"):
        migrate(engine)
    engine.dispose()


def test_a_new_postgresql_database_is_restored_into_without_replace(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    if not url.startswith("postgresql"):
        pytest.skip("the database part of a PostgreSQL restore")
    take_backup(data, url, tmp_path / "backup")
    fresh = tmp_path / "new-box"
    with pytest.raises(InvalidInputError, match=r"holds \d+ table\(s\) already \(e\.g\. "
                                                r"\w+\): .*repeat with --replace"):
        restore_backup(tmp_path / "backup", fresh, url)  # an admin created there first
    reset_postgres(url)  # the empty database README says to create
    result = restore_backup(tmp_path / "backup", fresh, url)
    assert result.set_aside is None
    assert plates_in(url) == ["闽A00001", "闽A00002"]


def test_a_nightly_backup_into_a_folder_not_made_yet_says_to_create_it(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    with pytest.raises(InvalidInputError, match=r"nightly does not exist: create it first "
                                                r"\(install -d -m 700 .*nightly\)"):
        take_backup(data, url, tmp_path / "nightly" / "parkgate-20261128T033000Z")


def test_a_relative_path_not_found_says_where_it_was_looked_for(
    controller_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy/parkgate-cli runs the command from /opt/parkgate: a backup named as ls shows it
    in /var/backups/parkgate was 'parkgate-… does not exist', and --stamped's folder 'nightly
    does not exist: create it first', both there in the operator's own directory."""
    data, url = controller_dir
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    take_backup(data, url, nightly / "parkgate-20261129T033000Z", now=AT)
    home = tmp_path / "opt-parkgate"
    home.mkdir()
    monkeypatch.chdir(home)  # where the wrapper runs it
    with pytest.raises(InvalidInputError) as refused:
        restore_backup(Path("parkgate-20261129T033000Z"), tmp_path / "new-box",
                       f"sqlite:///{tmp_path / 'new-box' / 'parkgate.db'}")
    assert str(refused.value).startswith(
        f"parkgate-20261129T033000Z does not exist in {home} (a relative path is read from "
        "there: give the full path): give the directory the backup command wrote")
    with pytest.raises(InvalidInputError) as refused:
        take_backup(data, url, Path("nightly") / "parkgate-20261130T033000Z")
    assert str(refused.value) == (
        f"nightly does not exist in {home} (a relative path is read from there: give the full "
        f"path): create it first (install -d -m 700 {home / 'nightly'})")


def test_the_configuration_is_kept_in_the_backup_for_a_new_machine_and_not_restored(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    config = tmp_path / "etc" / "parkgate.yaml"
    config.parent.mkdir()
    config.write_text("community: {name: haijing-garden}\n", encoding="utf-8")
    take_backup(data, url, tmp_path / "backup", config_file=config)
    kept = tmp_path / "backup" / "config" / "parkgate.yaml"
    assert kept.read_text("utf-8") == "community: {name: haijing-garden}\n"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    if url.startswith("postgresql"):
        return  # the file part of a restore; the database kind does not matter
    fresh = tmp_path / "new-box"
    result = restore_backup(tmp_path / "backup", fresh, f"sqlite:///{fresh / 'parkgate.db'}")
    assert result.config == kept
    assert not (fresh / "config").exists()


@pytest.mark.parametrize("path", ["../outside.txt", "journal/../../outside.txt", "",
                                  "journal\\..\\outside.txt"])
def test_a_manifest_naming_a_file_outside_the_backup_is_refused_and_nothing_is_written(
    controller_dir: tuple[Path, str], tmp_path: Path, path: str
) -> None:
    """A restore copies each manifest entry from <backup>/<path> to <data_dir>/<path>, as
    root on many boxes: with the backup on a deeper path (a USB stick's folder) a manifest
    edited to climb out with .. writes its file beside the data directory, or wherever the
    difference in depth points."""
    data, url = controller_dir
    backup = tmp_path / "usb" / "backup"
    backup.parent.mkdir()
    take_backup(data, url, backup)
    manifest_file = backup / "manifest.json"
    os.chmod(manifest_file, 0o600)
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    (tmp_path / "usb" / "outside.txt").write_text("owned", encoding="utf-8")  # <backup>/..
    manifest["files"].append({"path": path, "bytes": 5,
                              "sha256": hashlib.sha256(b"owned").hexdigest()})
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BackupError, match="is not a file inside it"):
        restore_backup(backup, data, url, replace=True)
    assert not (data.parent / "outside.txt").exists()
    assert not any(p.name.startswith("replaced-") for p in data.iterdir())


def test_a_manifest_entry_without_its_checksum_is_refused_with_a_line(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    data, url = controller_dir
    backup = tmp_path / "backup"
    take_backup(data, url, backup)
    manifest_file = backup / "manifest.json"
    os.chmod(manifest_file, 0o600)
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    del manifest["files"][0]["sha256"]
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BackupError, match="lacks its path, size or checksum"):
        restore_backup(backup, data, url, replace=True)


def test_an_older_backup_restored_with_replace_leaves_no_table_a_newer_version_made(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    """pg_restore --clean drops only what its dump names: a table added by a later
    migration stayed, and the restored database's next start, migrating up again, failed
    creating it. The database comes back as the backup had it, and migrates."""
    data, url = controller_dir
    if not url.startswith("postgresql"):
        pytest.skip("the database part of a PostgreSQL restore")
    take_backup(data, url, tmp_path / "backup")
    engine = create_db_engine(url)
    with engine.begin() as conn:  # what a newer parkgate's migration would have made
        conn.execute(text("CREATE TABLE later_feature (id integer PRIMARY KEY)"))
        conn.execute(text("INSERT INTO later_feature VALUES (1)"))
    engine.dispose()

    restore_backup(tmp_path / "backup", data, url, replace=True)
    engine = create_db_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert "later_feature" not in tables and {"passages", "alembic_version"} <= tables
        migrate(engine)  # the start after the restore
    finally:
        engine.dispose()
    assert plates_in(url) == ["闽A00001", "闽A00002"]


def test_the_backup_taken_before_an_upgrade_goes_back_over_the_upgraded_database(
    controller_dir: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Going back (README "Going back", guide 11.6): a table a later migration made with a
    foreign key to one of the backup's (zone_periods -> zones, 0017) made pg_restore's clean
    fail, 'pg_restore failed: Command was: ALTER TABLE … DROP CONSTRAINT …', so the backup
    taken before the upgrade could not be put back over the upgraded database."""
    data, url = controller_dir
    if not url.startswith("postgresql"):
        pytest.skip("the database part of a PostgreSQL restore")
    take_backup(data, url, tmp_path / "backup")
    engine = create_db_engine(url)
    with engine.begin() as conn:  # what a newer parkgate's migration would have made
        conn.execute(text("CREATE TABLE later_periods (id integer PRIMARY KEY, zone_id "
                          "varchar REFERENCES zones (id), passage_id integer REFERENCES "
                          "passages (id))"))
    engine.dispose()

    with caplog.at_level(logging.INFO, logger="services.backup"):
        restore_backup(tmp_path / "backup", data, url, replace=True)
    assert "dropping table later_periods: not in the backup (made by a newer version)" in (
        r.getMessage() for r in caplog.records)
    engine = create_db_engine(url)
    try:
        assert "later_periods" not in set(inspect(engine).get_table_names())
        migrate(engine)
    finally:
        engine.dispose()
    assert plates_in(url) == ["闽A00001", "闽A00002"]


def test_a_data_directory_that_cannot_be_made_is_said_before_the_database_is_replaced(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    """A new machine, not started yet: /var/lib/parkgate does not exist and its user cannot
    make it. The restore replaced the PostgreSQL database, then stopped at its first file
    ('restore stopped while copying clock …: Permission denied')."""
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    add_passages(url, ["闽A00003"])  # after the backup: a restore would take it away
    (tmp_path / "var-lib").write_text("not a directory", encoding="utf-8")
    new_box = tmp_path / "var-lib" / "parkgate"
    database = url if url.startswith("postgresql") else f"sqlite:///{new_box / 'parkgate.db'}"
    with pytest.raises(InvalidInputError) as refused:
        restore_backup(tmp_path / "backup", new_box, database, replace=True)
    assert str(refused.value).startswith(
        f"cannot create the data directory {new_box}: Not a directory; nothing was restored. "
        "Create it for ")
    assert str(refused.value).endswith(f" -m 700 {new_box}")
    assert plates_in(url) == ["闽A00001", "闽A00002", "闽A00003"]


def test_a_backup_the_restoring_user_cannot_read_is_said_in_a_line(
    controller_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied onto the new box by root (files 600) and restored as parkgate: main.py's
    'cannot start: [Errno 13] Permission denied: …/parkgate.db' did not say the restore could
    not read its backup, nor what to do. (Root reads anything: the refusal is the kernel's.)"""
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    unreadable = tmp_path / "backup" / "secret_key"
    opened = Path.open

    def open_as_parkgate(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(path, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_as_parkgate)
    with pytest.raises(InvalidInputError) as refused:
        restore_backup(tmp_path / "backup", tmp_path / "new-box", url, replace=True)
    assert str(refused.value).startswith(
        f"cannot read the backup: Permission denied: {unreadable}; the restore runs as ")
    assert "chown -R " in str(refused.value) and not (tmp_path / "new-box").exists()


def test_a_postgres_restore_that_fails_says_why_and_changes_nothing(
    controller_dir: tuple[Path, str], tmp_path: Path
) -> None:
    """pg_restore's last line is the SQL that failed, not why: the reason is the line shown.
    And the whole restore is one transaction: the tables it drops first come back too."""
    data, url = controller_dir
    if not url.startswith("postgresql"):
        pytest.skip("the database part of a PostgreSQL restore")
    take_backup(data, url, tmp_path / "backup")
    add_passages(url, ["闽A00003"])
    engine = create_db_engine(url)
    with engine.begin() as conn:  # someone's report view: the clean cannot drop passages
        conn.execute(text("CREATE VIEW office_report AS SELECT plate FROM passages"))
        conn.execute(text("CREATE TABLE later_feature (id integer PRIMARY KEY)"))
    engine.dispose()

    with pytest.raises(BackupError) as refused:
        restore_backup(tmp_path / "backup", data, url, replace=True)
    message = str(refused.value)
    assert message.startswith("pg_restore failed: ")
    assert "cannot drop table public.passages because other objects depend on it" in message
    assert "Command was" not in message and message.endswith("the database was not changed")
    engine = create_db_engine(url)
    try:
        assert {"later_feature", "passages"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert plates_in(url) == ["闽A00001", "闽A00002", "闽A00003"]


def test_a_long_restore_says_how_far_it_got(
    controller_dir: tuple[Path, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Tens of thousands of snapshots take minutes to check and copy back: the one waiting
    at the terminal sees it move instead of a silent prompt."""
    data, url = controller_dir
    day = data / "snapshots" / "2026-11-29"
    day.mkdir()
    for i in range(450):
        (day / f"{i}.jpg").write_bytes(b"\xff\xd8" + bytes([i % 256]))
    take_backup(data, url, tmp_path / "backup", with_snapshots=True)
    with caplog.at_level(logging.INFO, logger="services.backup"):
        restore_backup(tmp_path / "backup", tmp_path / "new-box", url, replace=True)
    lines = [r.getMessage() for r in caplog.records]
    checked = [line for line in lines if line.startswith("restore: checked")]
    copied = [line for line in lines if line.startswith("restore: copied")]
    assert checked and checked[-1].endswith(" files") and copied
    total = copied[-1].split()[-2].split("/")
    assert total[0] == total[1] and int(total[1]) > 450


def test_a_restore_onto_a_database_another_box_still_serves_is_refused_naming_it(
    controller_dir: tuple[Path, str], tmp_path: Path, app_factory: Any
) -> None:
    """The old box not stopped before its backup goes onto the new one: restoring under a
    controller that goes on deciding from and writing to that database is refused, before
    anything changes, with the line naming that controller."""
    data, url = controller_dir
    take_backup(data, url, tmp_path / "backup")
    old_box = app_factory(data_dir=tmp_path / "old-box")  # serving the same database
    add_passages(url, ["闽A00003"])  # after the backup: the restore would take it away
    with pytest.raises(InvalidInputError) as refused:
        restore_backup(tmp_path / "backup", tmp_path / "new-box", url, replace=True)
    # A restore is told to stop that one, not to take "a database of its own" (the start's
    # advice to a second controller: restored there, the backup would reach no gate).
    assert re.fullmatch(
        r"backup \S+ not restored: another parkgate controller serves (the SQLite )?database "
        r"\S+ \(host .*, data_dir \S*old-box, pid \d+, .*\) and would go on deciding from "
        r"and writing to it; stop that one first \(systemctl stop parkgate on its host\), "
        r"then restore", str(refused.value)), str(refused.value)
    assert plates_in(url) == ["闽A00001", "闽A00002", "闽A00003"]
    assert not (tmp_path / "new-box").exists()

    old_box.__exit__(None, None, None)  # stopped, as the guide says: now it restores
    restore_backup(tmp_path / "backup", tmp_path / "new-box", url, replace=True)
    assert plates_in(url) == ["闽A00001", "闽A00002"]


def test_a_stamped_backup_is_named_by_the_controllers_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly backup taken while the system clock reads 2000 (a board without a clock
    battery, no time server) was named parkgate-2000…, the oldest of its folder: --keep then
    kept an older one as 'the newest' and removed it. It is named by the latest time the
    controller saw (data_dir/clock), as every record is."""
    import argparse

    import wall_clock
    from services.backup import cmd_backup

    monkeypatch.setattr(wall_clock, "CLOCK", wall_clock.WallClock(
        system=lambda: datetime(2000, 1, 1, 8, 0, tzinfo=UTC)))
    data, config, backups = nightly_setup(tmp_path)
    (data / "clock").write_text("2026-11-30T19:33:00+00:00", encoding="ascii")
    args = argparse.Namespace(config=str(config), dest=str(backups), stamped=True, keep=None,
                              with_snapshots=False)
    assert cmd_backup(args) == 0
    (made,) = backups.iterdir()
    assert made.name.startswith("parkgate-20261130T1933"), made.name
