"""The decision core stays pure: importing it pulls in no camera, web, database or hardware
library (STYLE.md, practice 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("cv2", "numpy", "sqlalchemy", "fastapi", "starlette", "paho", "pymodbus",
             "gpiozero", "onnxruntime", "face_recognition", "hardware", "models", "api", "vision")


def test_controllers_import_no_io_libraries() -> None:
    modules = sorted(p.stem for p in (ROOT / "controllers").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import controllers.{m}\n" for m in modules)
        + f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"controllers pulled in: {result.stdout.strip()}"
