"""Secret files other users could read or change stop the server at start (secret_files).

The rule is tested on ``stat`` results for every owner the server may meet (its own user,
root, systemd's credential layouts, another user), then through the command on real files:
the TLS private key, the credentials file, the data key file given or generated.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from incident_contacts.secret_files import problem
from tests.support.certs import pem_key, self_signed
from tests.support.server import free_port, start_server, trusting

SERVICE = 61234         # a user the server runs as (systemd's DynamicUser picks such ids)
OTHER = 61235
SSL_CERT = 110          # Debian's ssl-cert group
ROOT = 0
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX file modes")


def _stat(mode: int, uid: int, gid: int = 0) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode, 1, 1, 1, uid, gid, 100, 0, 0, 0))


def _problem(mode: int, uid: int, gid: int = 0, *, euid: int = SERVICE, egid: int = SERVICE,
             groups: tuple[int, ...] = ()) -> str | None:
    return problem(_stat(mode, uid, gid), "/etc/ic/key.pem", "the TLS private key",
                   euid=euid, egid=egid, groups=groups)


@pytest.mark.parametrize(("mode", "uid", "gid", "groups"), [
    (0o600, SERVICE, SERVICE, ()),          # the server's own, owner-only
    (0o400, SERVICE, SERVICE, ()),          # LoadCredential= on a file system without ACLs
    (0o440, ROOT, ROOT, ()),                # LoadCredential= with an ACL (the mask is group r)
    (0o640, ROOT, SSL_CERT, (SSL_CERT,)),   # Debian: root:ssl-cert, the server in ssl-cert
    (0o600, ROOT, ROOT, ()),
    (0o700, SERVICE, SERVICE, ()),          # an execute bit of the owner's is harmless
])
def test_files_only_their_owner_or_roots_group_can_read_are_taken(mode, uid, gid, groups):
    assert _problem(mode, uid, gid, groups=groups) is None


@pytest.mark.parametrize(("mode", "uid", "fix"), [
    (0o644, SERVICE, "chmod 600 /etc/ic/key.pem"),
    (0o640, SERVICE, "chmod 600 /etc/ic/key.pem"),     # group read: only root's may have it
    (0o604, SERVICE, "chmod 600 /etc/ic/key.pem"),
    (0o620, SERVICE, "chmod 600 /etc/ic/key.pem"),     # changed by the group
    (0o644, ROOT, "chmod 640 /etc/ic/key.pem"),
    (0o660, ROOT, "chmod 640 /etc/ic/key.pem"),        # root's group could replace the key
    (0o650, ROOT, "chmod 640 /etc/ic/key.pem"),
])
def test_files_open_to_others_are_refused_naming_the_file_and_the_fix(mode, uid, fix):
    said = _problem(mode, uid, SSL_CERT, groups=(SSL_CERT,))
    assert said is not None
    assert said.startswith("the TLS private key /etc/ic/key.pem can be read or changed by "
                           f"other users (mode {mode:04o})")
    assert said.endswith(fix)
    assert "\n" not in said


def test_a_root_file_read_through_a_group_the_server_is_not_in_names_chgrp_too():
    said = _problem(0o644, ROOT, SSL_CERT, egid=SERVICE, groups=())
    assert said is not None and said.endswith(
        f"chmod 640 /etc/ic/key.pem && chgrp {SERVICE} /etc/ic/key.pem")


def test_root_is_told_owner_only_for_its_own_files():
    said = _problem(0o644, ROOT, euid=ROOT, egid=ROOT)
    assert said is not None and said.endswith("chmod 600 /etc/ic/key.pem")
    assert _problem(0o640, ROOT, SSL_CERT, euid=ROOT, egid=ROOT) is None


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o644])
def test_a_file_of_another_user_is_refused_whatever_its_mode(mode):
    """That user could open it up at any time (PostgreSQL's rule for its key)."""
    said = _problem(mode, OTHER)
    assert said is not None
    assert said.startswith(f"the TLS private key /etc/ic/key.pem belongs to {OTHER}, not to "
                           f"the user the server runs as ({SERVICE}) or root: ")
    assert said.endswith(f"chown {SERVICE} /etc/ic/key.pem && chmod 600 /etc/ic/key.pem")


def test_the_fix_quotes_a_path_a_shell_would_split():
    said = problem(_stat(0o644, SERVICE), "/etc/my keys/key.pem", "the TLS private key",
                   euid=SERVICE, egid=SERVICE, groups=())
    assert said is not None and said.endswith("chmod 600 '/etc/my keys/key.pem'")


# --- through the command, on real files -----------------------------------------------------

@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A self-signed certificate for 127.0.0.1 and its key's PEM."""
    folder = tmp_path_factory.mktemp("pair")
    cert, key = self_signed("secret files test")
    cert_path = folder / "cert.pem"
    cert_path.write_bytes(cert)
    return cert_path, pem_key(key)


def _key_file(tmp_path: Path, pem: bytes, mode: int) -> Path:
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    path.chmod(mode)
    return path


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
           command: str = "serve") -> subprocess.CompletedProcess[str]:
    port = ["--port", str(free_port())] if command == "serve" else []
    return subprocess.run(
        [sys.executable, "-m", "incident_contacts", command, *port,
         "--database", f"sqlite:///{tmp_path / 'contacts.db'}", *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})})


def _refused(result: subprocess.CompletedProcess[str], path: Path, fix: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incident-contacts: "), result.stderr
    assert str(path) in lines[0] and lines[0].endswith(fix), result.stderr


@pytest.mark.parametrize("through", ["options", "environment"])
def test_a_tls_key_readable_by_others_stops_the_server_before_anything_is_made(
        tmp_path, tls_pair, through):
    cert, pem = tls_pair
    key = _key_file(tmp_path, pem, 0o644)
    if through == "options":
        result = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    else:
        result = _serve(tmp_path, env={"INCIDENT_CONTACTS_TLS_CERT": str(cert),
                                       "INCIDENT_CONTACTS_TLS_KEY": str(key)})
    _refused(result, key, f"chmod 600 {key}")
    assert "the TLS private key" in result.stderr and "(mode 0644)" in result.stderr
    assert not list(tmp_path.glob("contacts.db*"))


def test_a_group_readable_tls_key_is_taken_only_from_root(tmp_path, tls_pair):
    """0640 is PostgreSQL's allowance for root's keys (read through a group such as
    ssl-cert); a key of the server's own user must be owner-only. Run as root, the test's
    files are root's."""
    cert, pem = tls_pair
    key = _key_file(tmp_path, pem, 0o640)
    if not IS_ROOT:
        result = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
        _refused(result, key, f"chmod 600 {key}")
        return
    server = start_server(tmp_path, args=["--tls-cert", str(cert), "--tls-key", str(key)],
                          https_trusting=cert)
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health",
                         verify=trusting(cert)).status_code == 200
    finally:
        server.stop()


def test_an_owner_only_tls_key_serves(tmp_path, tls_pair):
    """0400, as systemd's LoadCredential= gives it, and 0600."""
    cert, pem = tls_pair
    key = _key_file(tmp_path, pem, 0o400)
    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_TLS_CERT": str(cert),
                                         "INCIDENT_CONTACTS_TLS_KEY": str(key)},
                          https_trusting=cert)
    try:
        assert httpx.get(f"{server.url}/_aws/ssm-contacts/health",
                         verify=trusting(cert)).status_code == 200
    finally:
        server.stop()


@pytest.mark.skipif(not IS_ROOT, reason="only root can give a file to another user")
def test_a_tls_key_of_another_user_is_refused(tmp_path, tls_pair):
    cert, pem = tls_pair
    key = _key_file(tmp_path, pem, 0o600)
    os.chown(key, 65534, -1)
    result = _serve(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    _refused(result, key, f"chmod 600 {key}")
    assert "belongs to" in result.stderr


def test_a_credentials_file_readable_by_others_stops_sigv4(tmp_path):
    credentials = tmp_path / "credentials.toml"
    credentials.write_text('[[credentials]]\naccess_key_id = "AKIAEXAMPLE00000001"\n'
                           'secret_access_key = "s"\naccount_id = "111122223333"\n'
                           'user = "alice"\n')
    credentials.chmod(0o644)
    result = _serve(tmp_path, "--auth", "sigv4", "--credentials", str(credentials))
    _refused(result, credentials, f"chmod 600 {credentials}")
    assert "the credentials file" in result.stderr
    assert not list(tmp_path.glob("contacts.db*"))


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_data_key_file_readable_by_others_is_refused(tmp_path, command):
    key = tmp_path / "data.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o644)
    result = _serve(tmp_path, env={"INCIDENT_CONTACTS_DATA_KEY_FILE": str(key)},
                    command=command)
    _refused(result, key, f"chmod 600 {key}")
    assert "the data key file" in result.stderr
    assert not list(tmp_path.glob("contacts.db*"))


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_generated_data_key_opened_up_later_is_refused(tmp_path, command):
    """The key made beside a SQLite database is 0600; one restored or copied with looser
    modes is a secret open to everyone, refused as a given key file is."""
    server = start_server(tmp_path, database=f"sqlite:///{tmp_path / 'contacts.db'}")
    server.stop()
    key = tmp_path / "contacts.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.chmod(0o644)
    result = _serve(tmp_path, command=command)
    _refused(result, key, f"chmod 600 {key}")


# --- the file checked is the file used (review of the first version) -----------------------

def _serve_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, swap, *args: str):
    """The application ``serve`` would run, with ``swap()`` called after the start-up checks
    (where the transports are built) and uvicorn not started."""
    import uvicorn
    from click.testing import CliRunner

    from incident_contacts import cli, delivery

    built = delivery.build_transports
    made: list[object] = []

    def transports_then_swap(settings: object) -> object:
        swap()
        return built(settings)  # type: ignore[arg-type]

    def run(self: uvicorn.Server, sockets: list[object]) -> None:
        made.append(self.config.app)
        self.started = True
        for sock in sockets:
            sock.close()  # type: ignore[attr-defined]

    monkeypatch.setattr(delivery, "build_transports", transports_then_swap)
    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr(cli.signal, "signal", lambda *_: None)
    monkeypatch.delenv("INCIDENT_CONTACTS_DATA_KEY", raising=False)
    result = CliRunner().invoke(cli.main, [
        "serve", "--port", "0", "--database", f"sqlite:///{tmp_path / 'contacts.db'}", *args])
    assert result.exit_code == 0, result.output
    (app,) = made
    return app


def _swapped_in(tmp_path: Path, path: Path, text: str):
    """Replaces ``path`` (in a folder others could write to) with a file of other modes,
    as an attacker would between the check and the read."""
    def swap() -> None:
        other = tmp_path / "swapped-in"
        other.write_text(text)
        other.chmod(0o644)
        os.replace(other, path)
    return swap


def test_the_credentials_checked_are_the_ones_the_server_uses(monkeypatch, tmp_path):
    credentials = tmp_path / "credentials.toml"
    entry = ('[[credentials]]\naccess_key_id = "{}"\nsecret_access_key = "s"\n'
             'account_id = "111122223333"\nuser = "{}"\n')
    credentials.write_text(entry.format("AKIAGOODKEY000000001", "alice"))
    credentials.chmod(0o600)
    app = _serve_in_process(
        monkeypatch, tmp_path,
        _swapped_in(tmp_path, credentials, entry.format("AKIAEVILKEY000000001", "mallory")),
        "--auth", "sigv4", "--credentials", str(credentials))
    try:
        store = app.dispatcher.authenticate.credentials
        assert store.get("AKIAGOODKEY000000001") is not None
        assert store.get("AKIAEVILKEY000000001") is None
    finally:
        app.runtime.close()


@pytest.mark.parametrize("given", [True, False])
def test_the_data_key_checked_is_the_one_the_server_seals_with(monkeypatch, tmp_path, given):
    from incident_contacts import crypto

    good, evil = crypto.new_key(), crypto.new_key()
    key = tmp_path / ("data.key" if given else "contacts.db.key")
    key.write_text(crypto.encode_key(good) + "\n")
    key.chmod(0o600)
    if given:
        monkeypatch.setenv("INCIDENT_CONTACTS_DATA_KEY_FILE", str(key))
    else:
        monkeypatch.delenv("INCIDENT_CONTACTS_DATA_KEY_FILE", raising=False)
    app = _serve_in_process(monkeypatch, tmp_path,
                            _swapped_in(tmp_path, key, crypto.encode_key(evil) + "\n"))
    try:
        assert app.runtime.keyring.primary_id == crypto.KeyRing(good, []).primary_id
    finally:
        app.runtime.close()


def test_a_data_key_file_that_is_not_a_key_is_one_line(tmp_path):
    key = tmp_path / "data.key"
    key.write_bytes(b"\xff\xfe not base64\n")
    key.chmod(0o600)
    result = _serve(tmp_path, env={"INCIDENT_CONTACTS_DATA_KEY_FILE": str(key)})
    _refused(result, key, "a data key must be 32 bytes in standard base64")
    missing = tmp_path / "missing.key"
    result = _serve(tmp_path, env={"INCIDENT_CONTACTS_DATA_KEY_FILE": str(missing)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot read the data key file {missing}" in result.stderr


# --- ACLs (review of the first version) ----------------------------------------------------

def _acl(*named: tuple[int, int], mask: int = 0o4) -> bytes:
    """Linux's xattr form of an ACL: owner rw, named users (uid, permissions), mask."""
    import struct

    nobody = 0xFFFFFFFF
    entries = [(0x01, 0o6, nobody), *((0x02, perm, uid) for uid, perm in named),
               (0x04, 0, nobody), (0x10, mask, nobody), (0x20, 0, nobody)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def test_roots_file_with_an_acl_entry_for_the_service_user_alone_is_taken():
    """systemd's LoadCredential= on a file system with ACLs: root's, 0440, the service user
    named."""
    assert problem(_stat(0o440, ROOT), "/run/credentials/ic.service/key", "the TLS private key",
                   euid=SERVICE, egid=SERVICE, groups=(), acl=_acl((SERVICE, 0o4))) is None


@pytest.mark.parametrize("named", [((OTHER, 0o4),), ((SERVICE, 0o4), (OTHER, 0o6))])
def test_roots_file_an_acl_lets_another_user_read_is_refused(named):
    said = problem(_stat(0o640, ROOT, SSL_CERT), "/etc/ic/key.pem", "the TLS private key",
                   euid=SERVICE, egid=SERVICE, groups=(SSL_CERT,), acl=_acl(*named))
    assert said == (f"the TLS private key /etc/ic/key.pem can be read by {OTHER} through an "
                    f"ACL entry; a file holding a secret must not be: setfacl -x u:{OTHER} "
                    "/etc/ic/key.pem")


def test_an_acl_entry_the_mask_leaves_nothing_is_harmless():
    assert problem(_stat(0o600, ROOT), "/etc/ic/key.pem", "the TLS private key",
                   euid=SERVICE, egid=SERVICE, groups=(), acl=_acl((OTHER, 0o4), mask=0)) is None


@pytest.mark.skipif(not IS_ROOT, reason="a file of the server's user with an ACL entry has "
                                        "group bits and is refused by its mode already")
def test_a_credentials_file_an_acl_opens_to_another_user_stops_sigv4(tmp_path):
    credentials = tmp_path / "credentials.toml"
    credentials.write_text('[[credentials]]\naccess_key_id = "AKIAEXAMPLE00000001"\n'
                           'secret_access_key = "s"\naccount_id = "111122223333"\n'
                           'user = "alice"\n')
    credentials.chmod(0o600)
    try:
        os.setxattr(credentials, "system.posix_acl_access", _acl((OTHER, 0o4)))
    except OSError:
        pytest.skip("no POSIX ACLs on this file system")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o640
    result = _serve(tmp_path, "--auth", "sigv4", "--credentials", str(credentials))
    _refused(result, credentials, f"setfacl -x u:{OTHER} {credentials}")
    assert not list(tmp_path.glob("contacts.db*"))
