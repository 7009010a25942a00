"""Running the command line as a process that file permissions bind.

Permission tests need a child that ``chmod`` stops. As a normal user, any child is. As root (CI
containers, this machine), ``chmod 000`` stops nothing, and dropping to ``nobody`` does not work
either when the interpreter itself lives in root's private home (pyenv under ``/root``). So the
child stays root but loses the two capabilities that let root ignore permission bits
(``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``): it drops them from its capability bounding set
before ``exec`` (``prctl(PR_CAPBSET_DROP)``), and from then on the kernel applies the owner's
permission bits to it like to anyone else. ``chattr +i`` binds root anyway and needs none of this.
"""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2


def _drop_permission_overrides() -> None:
    """In the child, before exec: keep root, lose its power over permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def bound_kwargs() -> dict[str, Any]:
    """``subprocess`` arguments for a child that permissions bind (empty when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"preexec_fn": _drop_permission_overrides}


@functools.cache
def _children_are_bound() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "locked"
        probe.write_text("secret")
        probe.chmod(0)
        proc = subprocess.run(
            [sys.executable, "-c", f"open({str(probe)!r}).read()"],
            capture_output=True,
            **bound_kwargs(),
        )
    return proc.returncode != 0 and b"PermissionError" in proc.stderr


def children_are_bound() -> bool:
    """Whether a child process can be made here that ``chmod`` binds."""
    try:
        return _children_are_bound()
    except (OSError, subprocess.SubprocessError):
        return False


def require_bound_children() -> None:
    """Skip (with the reason) where no child process can be made that ``chmod`` binds."""
    if not children_are_bound():
        pytest.skip(
            "no child process here is bound by file permissions (root, and its capabilities "
            "cannot be dropped), so unreadable files cannot be made"
        )


def run_cli(
    *args: str, bound: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m facenet_core ARGS`` in a child process; ``bound``: one that file permissions
    bind even when we are root."""
    return subprocess.run(
        [sys.executable, "-m", "facenet_core", *args],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        **(bound_kwargs() if bound else {}),
    )


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command (stderr must hold nothing else)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]
