"""var/ holds sessions, key digests and encrypted master keys: only the
console's own user may read it.

`make_private(var_dir)` runs as settings load, so in every process of the
console (manage.py, gunicorn's workers, Celery, the data plane): it sets the
umask to 077, so whatever the process creates afterwards (the SQLite file and
its journal, the broker's folders, the data plane's shards) is 0600 or 0700,
and it makes var/ itself 0700 and its existing entries owner-only (installs
from before this rule had 0644 files there).
"""

import os
import stat
from pathlib import Path

UMASK = 0o077


def make_private(var_dir: Path) -> None:
    os.umask(UMASK)
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = var_dir.stat()
    # Never narrow a directory that is not ours alone (VAR_DIR=/tmp, say).
    if info.st_uid != os.geteuid() or info.st_mode & stat.S_ISVTX:
        return
    _owner_only(var_dir, info)
    for entry in var_dir.iterdir():
        try:
            entry_info = entry.lstat()
        except FileNotFoundError:
            continue
        if entry_info.st_uid == os.geteuid() and not stat.S_ISLNK(entry_info.st_mode):
            _owner_only(entry, entry_info)


def _owner_only(path: Path, info: os.stat_result) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)
