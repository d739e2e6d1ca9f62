"""Files holding secrets that other users could read or change are refused at start.

The TLS private key, the credentials file (secret access keys in plain, as SigV4 needs them)
and the data key file each give whoever reads them the server's identity, every account, or
every sealed record. The rule is PostgreSQL's for its server key: the file belongs to the
user the server runs as, with no access for group or others (0600 or less), or to root, with
at most read access for its group (0640 or less), so that an administrator can keep keys
root's and let the service read them through a group (Debian's ``ssl-cert``). A file of any
other user is refused whatever its mode: that user could open it up at any time.

systemd's ``LoadCredential=`` passes both: the file it puts in ``$CREDENTIALS_DIRECTORY`` is
0400 and either the service user's (file systems without ACLs) or root's with an ACL entry
that lets the service user read it, which ``stat`` shows as group read (0440).

Only the mode bits and owner are read (an ACL entry for another user shows as group bits, so
it is refused too unless the file is root's). Windows has no such modes: nothing is checked.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Collection

_OWN_ALLOWED = 0o700        # a file of the server's user: nothing for group or others
_ROOT_ALLOWED = 0o740       # a file of root's: its group may read it


def problem(info: os.stat_result, path: str, what: str, *, euid: int, egid: int,
            groups: Collection[int]) -> str | None:
    """Why ``path`` (``what`` it holds, e.g. "the TLS private key") may not be used, or None.

    ``info`` is its ``os.stat``; ``euid``/``egid``/``groups`` the server's user, group and
    supplementary groups, which decide the fix named."""
    mode = stat.S_IMODE(info.st_mode)
    quoted = shlex.quote(path)
    if info.st_uid == 0:
        open_bits = mode & ~_ROOT_ALLOWED
    elif info.st_uid == euid:
        open_bits = mode & ~_OWN_ALLOWED
    else:
        owners = f"the user the server runs as ({_user(euid)})" + (" or root" if euid else "")
        return (f"{what} {path} belongs to {_user(info.st_uid)}, not to {owners}: that user "
                f"could open it up to others at any time: chown {_user(euid)} {quoted} && "
                f"chmod 600 {quoted}")
    if not open_bits:
        return None
    if info.st_uid == 0 and euid != 0:
        # Read through a group: the server's user must be in it.
        fix = f"chmod 640 {quoted}"
        if info.st_gid != egid and info.st_gid not in groups:
            fix += f" && chgrp {_group(egid)} {quoted}"
    else:
        fix = f"chmod 600 {quoted}"
    return (f"{what} {path} can be read or changed by other users (mode {mode:04o}); a file "
            f"holding a secret must not be: {fix}")


def check(path: str, what: str) -> None:
    """``ValueError`` (one line, naming the file and the fix) when ``path`` holding ``what``
    is open to other users. A file that cannot be looked at is left to whatever reads it,
    which says why in its own words."""
    if not hasattr(os, "geteuid"):
        return
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return
    found = problem(info, path, what, euid=os.geteuid(), egid=os.getegid(),
                    groups=os.getgroups())
    if found is not None:
        raise ValueError(found)


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)     # a user without a name (systemd's DynamicUser has one)


def _group(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


__all__ = ["check", "problem"]
