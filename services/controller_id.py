"""This controller's own id: 12 hex digits made once and kept in ``<data_dir>/controller_id``.

It goes into every message to the city platform (``controller``) and into the MQTT client id,
so a city hub can tell two controllers that publish under one community name apart (a name
such as 阳光花园 is common: two installers picking it in one city merged both communities'
free spaces and passages on the hub, and their shared client id had the broker disconnect
each in turn). A backup restored onto a new box brings the file, so the community keeps its
id; a box set up afresh gets a new one, which the hub takes once the old one has gone quiet.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)

FILE = "controller_id"
_FORM = re.compile(r"[0-9a-f]{12}")


def controller_id(data_dir: Path) -> str:
    """The id kept in ``data_dir``, made there on first use."""
    path = data_dir / FILE
    for _ in range(2):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as err:
            raise OSError(f"controller id file {path} unreadable: {err}") from err
        if text is not None:
            if _FORM.fullmatch(text):
                return text
            logger.warning("controller id file %s holds %r, not an id: a new one is made",
                           path, text[:20])
            path.unlink(missing_ok=True)
        made = secrets.token_hex(6)
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: a command started beside the controller at the same moment must not
            # make a second id; the loser reads the winner's.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(made + "\n")
            f.flush()
            os.fsync(f.fileno())
        logger.info("this controller's id is %s (kept in %s)", made, path)
        return made
    raise OSError(f"controller id file {path} keeps changing")
