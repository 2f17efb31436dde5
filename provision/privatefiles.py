"""Files and directories only their owner can read, whatever the umask (issue 13, item 5).

The state directory is 0700 (an operator may give a group read access, 0750: other bits
and group write are removed at every start); the SQLite database with its WAL and SHM
files, reports, exports and copies are 0600 (0640 is kept when an operator chose it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

#: Bits a private file or directory never keeps: group write and everything for others.
LOOSE = 0o027


def private_dir(path: Path) -> Path:
    """Create `path` (and its missing parents) 0700; tighten it to at most 0750 when it is
    ours and others could read or group could write it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path, 0o750)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty 0600 when it does not exist; tighten an existing one (ours) to
    at most 0640."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _tighten(path, 0o640)
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
            _tighten(side, 0o640)


def _tighten(path: Path, most: int) -> None:
    try:
        st = path.stat()
    except OSError:
        return
    mode = st.st_mode & 0o777
    if mode & ~most and st.st_uid == os.geteuid():
        os.chmod(path, mode & most)
