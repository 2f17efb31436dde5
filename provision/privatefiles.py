"""Files and directories only their owner can read, whatever the umask (issue 13, item 5).

The state directory is 0700 and the SQLite database with its WAL and SHM files, reports,
exports and copies 0600. An operator may give a group read access (directory 0750, files
0640): that is kept; a mode with any bit for others or group write (what umask 022 or 002
leaves) is reset to owner-only at every start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

#: Bits a private file or directory never keeps: group write and everything for others.
LOOSE = 0o027


def private_dir(path: Path) -> Path:
    """Create `path` (and its missing parents) 0700; reset it to owner-only when it is ours
    and others have any access or group may write."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty 0600 when it does not exist; reset an existing one (ours) to
    owner-only when others have any access or group may write."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _tighten(path)
    return path


def open_private(path: str | Path, mode: str = "w") -> IO[str]:
    """Open a text file for writing, created (or truncated) with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o177 and st.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, mode, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def sqlite_files(db: Path) -> None:
    """The database file created 0600 before SQLite opens it; it and its -wal and -shm
    files (which SQLite makes with the database's mode) tightened if looser."""
    private_file(db)
    for suffix in ("-wal", "-shm", "-journal"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            _tighten(side)


def _tighten(path: Path) -> None:
    try:
        st = path.stat()
    except OSError:
        return
    mode = st.st_mode & 0o777
    if mode & LOOSE and st.st_uid == os.geteuid():
        os.chmod(path, mode & 0o700)
