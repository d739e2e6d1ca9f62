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

The files the server reads itself (the credentials file, the data key file) are checked on the
descriptor they are read from (:func:`read`), so a file swapped in after the check (a
folder others may write to, a symlink repointed) is never the one used. The TLS key is read by
OpenSSL from its path (:func:`check`); swapping it needs a matching certificate to matter.

The owner, the mode bits and, on Linux, the POSIX ACL are read. An ACL entry shows in the
mode as group bits (its mask), so on a file of the server's user it is refused by the mode;
on root's file, where group read is allowed, an entry letting a user other than the server's
read it is refused too (systemd's entry names the service user). Windows has no such modes:
nothing is checked.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Collection

_OWN_ALLOWED = 0o700        # a file of the server's user: nothing for group or others
_ROOT_ALLOWED = 0o740       # a file of root's: its group may read it
_ACL = "system.posix_acl_access"
_ACL_USER, _ACL_MASK = 0x02, 0x10   # tags of a named user's entry and of the mask
_READ_WRITE = 0o6


def problem(info: os.stat_result, path: str, what: str, *, euid: int, egid: int,
            groups: Collection[int], acl: bytes | None = None) -> str | None:
    """Why ``path`` (``what`` it holds, e.g. "the TLS private key") may not be used, or None.

    ``info`` is its ``os.stat``; ``euid``/``egid``/``groups`` the server's user, group and
    supplementary groups, which decide the fix named; ``acl`` its ``system.posix_acl_access``
    attribute (None: no ACL)."""
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
        if info.st_uid == 0 and acl is not None:
            for uid in _acl_readers(acl):
                if uid not in (euid, 0):
                    return (f"{what} {path} can be read by {_user(uid)} through an ACL entry; "
                            "a file holding a secret must not be: setfacl -x "
                            f"u:{_user(uid)} {quoted}")
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


def _acl_readers(acl: bytes) -> list[int]:
    """The users named in an ACL (Linux's xattr form: a version word, then entries of tag,
    permissions and id) whose entry, under the mask, reads or writes."""
    entries = [(int.from_bytes(acl[at:at + 2], "little"),
                int.from_bytes(acl[at + 2:at + 4], "little"),
                int.from_bytes(acl[at + 4:at + 8], "little"))
               for at in range(4, len(acl) - 7, 8)]
    mask = next((perm for tag, perm, _ in entries if tag == _ACL_MASK), _READ_WRITE)
    return [uid for tag, perm, uid in entries if tag == _ACL_USER and perm & mask & _READ_WRITE]


def _acl_of(target: int | str) -> bytes | None:
    """The access ACL of a descriptor or path; None without one (or without ACLs at all)."""
    try:
        return os.getxattr(target, _ACL)
    except (AttributeError, OSError):
        return None


def read(path: str, what: str) -> bytes:
    """The contents of ``path`` (holding ``what``), read from the descriptor whose owner and
    mode were checked. ``ValueError`` as :func:`check` says; ``OSError`` when it cannot be
    opened or read (the caller words it)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        if hasattr(os, "geteuid"):
            found = problem(os.fstat(fd), path, what, euid=os.geteuid(), egid=os.getegid(),
                            groups=os.getgroups(), acl=_acl_of(fd))
            if found is not None:
                raise ValueError(found)
        return handle.read()


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
                    groups=os.getgroups(), acl=_acl_of(path))
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


__all__ = ["check", "problem", "read"]
