"""The systemd units in deploy/ are valid and start parkgate with options it accepts."""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from main import build_parser
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted(DEPLOY.glob("parkgate*.service")) + sorted(DEPLOY.glob("parkgate*.timer"))


def exec_start(unit: Path) -> list[str]:
    lines = [line for line in unit.read_text(encoding="utf-8").splitlines()
             if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit.name
    return shlex.split(lines[0].removeprefix("ExecStart="))


@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("*.service")), ids=lambda p: p.name)
def test_each_service_runs_a_parkgate_command_with_options_it_accepts(unit: Path) -> None:
    argv = exec_start(unit)
    assert argv[:2] == ["/opt/parkgate/.venv/bin/python", "main.py"]
    args = build_parser().parse_args(argv[2:])  # exits (SystemExit) on an unknown option
    assert args.command in {"serve", "backup"}


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS:  # as installed: the checkout where the units expect it
        text = unit.read_text(encoding="utf-8").replace("/opt/parkgate", str(ROOT))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys too, and only warns: any warning is a mistake here.
    assert (done.returncode, done.stderr.strip()) == (0, "")


@pytest.mark.parametrize("unit", sorted(DEPLOY.glob("*.service")), ids=lambda p: p.name)
def test_every_writable_path_of_a_unit_is_there_when_it_starts(unit: Path) -> None:
    """systemd refuses to start a unit whose ReadWritePaths= does not exist (226/NAMESPACE):
    each is created by the unit itself (StateDirectory=) or by the README's install steps."""
    lines = unit.read_text(encoding="utf-8").splitlines()
    created = {f"/var/lib/{name}" for line in lines if line.startswith("StateDirectory=")
               for name in line.removeprefix("StateDirectory=").split()}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in lines:
        if line.startswith("ReadWritePaths="):
            for path in line.removeprefix("ReadWritePaths=").split():
                made = path in created or f"-g parkgate -m 700 {path}`" in readme
                assert path.startswith("-") or made, (unit.name, path)


# A fresh interpreter with only the given MALLOC_* variables: mallocs a 6 MiB block (the plate
# detector's input), frees it and mallocs it again (how many blocks glibc then holds as
# mappings of their own), then 4 threads malloc at once as the frame readers do (how many
# arenas malloc_stats lists).
MALLOC_PROBE = """
import ctypes, os, sys, threading

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
size = 6 << 20
libc.free(libc.malloc(size))
before = libc.mallinfo2().hblks
block = libc.malloc(size)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
together = threading.Barrier(4)

def read():
    block = libc.malloc(1 << 16)
    together.wait()
    libc.free(block)

threads = [threading.Thread(target=read) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(mapped, flush=True)
os.dup2(sys.stdout.fileno(), 2)  # malloc_stats writes to fd 2
libc.malloc_stats()
"""


def _malloc_probe(env: dict[str, str]) -> tuple[int, int]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    done = subprocess.run([sys.executable, "-c", MALLOC_PROBE], capture_output=True,
                          text=True, timeout=60, env=base | env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    return int(lines[0]), sum(line.startswith("Arena ") for line in lines)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings")
def test_the_service_gives_frame_buffers_back_and_caps_the_heaps() -> None:
    """The service's MALLOC_* lines are spelt as glibc reads them and do what README measured:
    a detector-sized block gets a mapping of its own (given back at free) instead of staying
    in a heap, and four reading threads share two heaps instead of one each. A misspelt name
    would be ignored without a word."""
    lines = (DEPLOY / "parkgate.service").read_text(encoding="utf-8").splitlines()
    env = dict(line.removeprefix("Environment=").split("=", 1) for line in lines
               if line.startswith("Environment=MALLOC_"))
    assert set(env) == {"MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX"}
    assert _malloc_probe({}) == (0, 5)  # glibc's own: the block in a heap, a heap per thread
    assert _malloc_probe(env) == (1, 2)
