"""``python main.py enrol-faces FOLDER``: bulk face enrolment from ``<resident>/*.jpg``.

Each sub-folder is named by a resident id (``17``) or a resident's exact name (``王秀英``).
A resident is enrolled only when every usable photo embeds and face consent is on record;
``--record-consent`` records it first, for offices that collected signed paper forms.
The operator named in the audit log must be an active admin account (the console's face
enrolment is admin-only too), so the trail names a member of staff, not any string typed.
Prints a progress bar to stderr and ends with a summary of every failure.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from errors import InvalidInputError, NotFoundError, ParkgateError, PermissionDeniedError

if TYPE_CHECKING:
    from services.faces import ErasureMark

logger = logging.getLogger(__name__)

# .jfif and .jpe are JPEGs by other names (Windows saves a browser's JPEG as .jfif).
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".jpe", ".png", ".bmp"}
# Photos in formats the face engine does not read (an iPhone's HEIC, a chat app's WebP): each
# is a failure that says so. Passed over, a folder of them failed as "no photos" and, beside a
# JPEG, they were never mentioned, so the office took them for enrolled.
UNREAD_PHOTO_SUFFIXES = {".heic", ".heif", ".webp", ".avif", ".gif", ".tif", ".tiff", ".jxl"}


@dataclass
class EnrolSummary:
    enrolled: dict[str, int] = field(default_factory=dict)  # folder → templates added
    # Folders whose every photo the resident has on file already (the folder run again).
    already: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (folder or file, why)
    # The folder being worked on when Ctrl-C stopped the run; None when the run finished.
    interrupted_at: str | None = None


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
    sys.stderr.flush()


def resolve_resident(session: Any, key: str) -> int:
    from models.people import Resident

    if not _is_utf8(key):
        # A folder unzipped from an archive made on a Chinese Windows has its name in GBK: the
        # bytes arrive as surrogates and the query raised UnicodeEncodeError, a traceback that
        # ended the run and never said who was enrolled before it.
        gbk = os.fsencode(key).decode("gb18030", errors="replace")
        raise InvalidInputError(
            f"the folder name is not UTF-8 (as GBK it reads {gbk!r}; unzipped from a Windows "
            "archive?): rename the folder to the resident's id or name"
        )
    if key.isdigit():
        if session.get(Resident, int(key)) is None:
            raise NotFoundError(f"no resident with id {key}")
        return int(key)
    ids = list(session.scalars(select(Resident.id).where(Resident.name == key)))
    if not ids:
        raise NotFoundError(f"no resident named {key!r}")
    if len(ids) > 1:
        raise InvalidInputError(f"{len(ids)} residents are named {key!r}: use the id instead")
    return ids[0]


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def admin_operator(
    session: Any, name: str, *, doing: str = "face enrolment",
    nothing: str = "Nothing enrolled",
) -> str:
    """The username of the active admin account ``name`` names (matched as a login matches
    it: "ADMIN" is admin), as the audit log then records it; refused otherwise. ``doing``
    and ``nothing`` word the refusal for the command (``import-residents`` too)."""
    from models.people import User, username_key

    if not _is_utf8(name):
        # Typed at a terminal set to GBK: the bytes arrive as surrogates and the query
        # would raise UnicodeEncodeError (a traceback).
        raise InvalidInputError(
            f"--operator is not UTF-8 text: set the terminal to UTF-8 and type it again. "
            f"{nothing}"
        )
    user = session.scalar(select(User).where(User.username_key == username_key(name)))
    if user is None:
        why = "is no staff account"
    elif not user.active:
        why = "is a deactivated account"
    elif user.role != "admin":
        why = f"is a {user.role} account, not an admin"
    else:
        return str(user.username)
    raise PermissionDeniedError(
        f"--operator {name!r} {why}: {doing} is recorded under an active admin "
        f"account; give your console username (main.py create-user adds one). {nothing}"
    )


def enrol_folder(
    services: Any,
    folder: Path,
    *,
    operator: str,
    record_consent: bool,
    note: str,
    show_progress: bool = True,
) -> EnrolSummary:
    """Enrol every resident sub-folder of ``folder``; ``operator`` must be an active admin
    account (:func:`admin_operator`), checked before anything is read or written."""
    from services.faces import erasures_so_far

    with services.sessions() as session:
        operator = admin_operator(session, operator)
        # The office may erase a resident's face data (deletion request, consent withdrawn)
        # while the run goes on: their folder is then skipped, not enrolled after it.
        erased = erasures_so_far(session)
    faces = services.faces
    people = sorted(p for p in folder.iterdir() if p.is_dir())
    summary = EnrolSummary()
    # A photo beside the residents' folders (李四.jpg, meant for 李四) belongs to nobody: said,
    # not passed over as if the run had read everything it was given.
    for stray in sorted(p for p in folder.iterdir() if p.is_file()):
        if stray.suffix.lower() in PHOTO_SUFFIXES | UNREAD_PHOTO_SUFFIXES:
            summary.failures.append((
                stray.name,
                "a photo outside the residents' folders is not read: put it in "
                f"{folder}/<resident id or name>/",
            ))
    # Ctrl-C: each resident is one transaction, so those before ``interrupted_at`` are
    # whole. The caller must still learn which were enrolled: a re-run of the folder adds
    # their photos again.
    with contextlib.suppress(KeyboardInterrupt):
        _enrol_people(faces, services, people, summary, erased, operator=operator,
                      record_consent=record_consent, note=note, show_progress=show_progress)
    if show_progress:
        if summary.interrupted_at is None:
            _progress(len(people), len(people), "done")
        sys.stderr.write("\n")
    return summary


def _enrol_people(
    faces: Any, services: Any, people: list[Path], summary: EnrolSummary,
    erased: dict[int, ErasureMark], *,
    operator: str, record_consent: bool, note: str, show_progress: bool,
) -> None:
    from services.faces import ErasureMark

    for done, person in enumerate(people, start=1):
        summary.interrupted_at = person.name  # left set if Ctrl-C stops the run here
        if show_progress:
            _progress(done - 1, len(people), person.name)
        try:
            files = sorted(p for p in person.iterdir() if p.is_file())
        except OSError as err:
            # Gone since the run listed it (a USB stick pulled out), or not readable by the
            # account the command runs as: that resident's failure, as an unreadable photo
            # is. Raised, it ended the run as "cannot start", the summary of who had been
            # enrolled before it never said.
            summary.failures.append((person.name, f"cannot read the folder: {err.strerror}"))
            continue
        photos = [p for p in files if p.suffix.lower() in PHOTO_SUFFIXES]
        unread = [p for p in files if p.suffix.lower() in UNREAD_PHOTO_SUFFIXES]
        for photo in unread:
            summary.failures.append((
                f"{person.name}/{photo.name}",
                f"{photo.suffix[1:].upper()} photos are not read: save it as JPEG (or PNG) "
                "to enrol it",
            ))
        if not photos:
            summary.failures.append(
                (person.name, "no JPEG, PNG or BMP photo" if unread else "no photos"))
            continue
        try:
            with services.sessions() as session:
                resident_id = resolve_resident(session, person.name)
            # Their erasures when the run began: one since (the office, in the running
            # server) refuses the paper consent and the photos, however far the run is.
            since = erased.get(resident_id) or ErasureMark(None)
            if record_consent:
                faces.record_consent(resident_id, operator, note, since, over_withdrawal=False)
            # Before any of their photos is read.
            faces.require_consent(resident_id, since, over_deletion=False)
            embeddings = []
            for photo in photos:
                try:
                    data = photo.read_bytes()
                except OSError as err:
                    # One unreadable photo is that photo's failure, not the end of the run
                    # (and of everyone after it in the folder).
                    summary.failures.append(
                        (f"{person.name}/{photo.name}", f"cannot read: {err.strerror}"))
                    continue
                try:
                    embeddings += faces.embed_photos([data])
                except InvalidInputError as err:
                    # Embedded one at a time, each is the service's "photo 1": said after
                    # another file's name, that named a photo that had not failed.
                    why = str(err).removeprefix("photo 1: ")
                    summary.failures.append((f"{person.name}/{photo.name}", why))
            if not embeddings:
                summary.failures.append((person.name, "no usable photo"))
                continue
            added = faces.enrol(resident_id, embeddings, operator, since)
            if added:
                summary.enrolled[person.name] = added
            else:
                summary.already.append(person.name)
        except ParkgateError as err:
            summary.failures.append((person.name, str(err)))
    summary.interrupted_at = None


def cmd_enrol_faces(args: argparse.Namespace) -> int:
    from services.container import build_services
    from settings import load_settings

    folder = Path(args.folder)
    if not folder.is_dir():
        logger.error("%s is not a folder", folder)
        return 2
    if not any(p.is_dir() for p in folder.iterdir()):
        # Most often one level too deep (one person's photos) or the wrong folder: saying
        # "enrolled 0 residents; 0 failures" and exiting 0 read as done.
        photos = sum(1 for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        logger.error(
            "%s has no sub-folders%s: put each resident's photos in %s/<resident id or name>/",
            folder,
            f" ({photos} photos lie in it directly)" if photos else "",
            folder,
        )
        return 2
    if args.record_consent and not args.note:
        logger.error("--record-consent needs --note saying where the signed forms are kept")
        return 2
    if args.note and not _is_utf8(args.note):
        logger.error("--note is not UTF-8 text: set the terminal to UTF-8 and type it again")
        return 2
    # Beside a running controller: its database is that controller's to hold.
    services = build_services(load_settings(args.config), controller=False)
    try:
        # An operator who is no active admin raises before anything is written: main() says
        # it in one line and exits 2.
        summary = enrol_folder(
            services,
            folder,
            operator=args.operator,
            record_consent=args.record_consent,
            note=args.note or "",
        )
    finally:
        services.engine.dispose()
    templates = sum(summary.enrolled.values())
    logger.info(
        "enrolled %d residents (%d templates); %d already enrolled with these photos; "
        "%d failures",
        len(summary.enrolled),
        templates,
        len(summary.already),
        len(summary.failures),
    )
    for where, why in summary.failures:
        logger.warning("failed: %s: %s", where, why)
    if summary.enrolled:
        # This process wrote the database only: a running controller checks it for new
        # templates every faces.reload_check_s (services/faces.py reload_if_changed).
        logger.info(
            "a running parkgate recognises the %d resident(s) just enrolled at the pedestrian "
            "gates within about %g s (faces.reload_check_s); no restart needed",
            len(summary.enrolled),
            services.settings.faces.reload_check_s,
        )
    if summary.interrupted_at is not None:
        logger.warning(
            "interrupted (Ctrl-C) at %s (check it in the console): %s; those after it not "
            "started. Running the folder again enrols them; photos already enrolled are "
            "not stored twice",
            summary.interrupted_at,
            "enrolled before it: " + ", ".join(summary.enrolled) if summary.enrolled
            else "nobody enrolled",
        )
        return 130
    return 0 if not summary.failures else 1


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "enrol-faces", help="Enrol residents' faces from FOLDER/<resident id or name>/*.jpg."
    )
    parser.add_argument("folder", help="Folder with one sub-folder per resident.")
    parser.add_argument(
        "--operator",
        required=True,
        help="Your console username, an active admin account: recorded in the audit log.",
    )
    parser.add_argument(
        "--record-consent",
        action="store_true",
        help="Record face consent for each resident first (signed forms collected on paper).",
    )
    parser.add_argument("--note", help="Where the signed consent forms are kept.")
    parser.set_defaults(func=cmd_enrol_faces)
