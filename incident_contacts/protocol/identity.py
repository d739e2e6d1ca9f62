"""Who is calling, in the development mode (decisions §3).

The region is the one in the SigV4 credential scope (``.../<region>/ssm-contacts/aws4_request``).
The account is the access key id itself when it is 12 digits, the convention LocalStack users
know, else ``000000000000``. Signatures are not checked in this mode, but a region that is not
spelled as AWS spells them (``[a-z0-9-]``, at most 32 characters) is refused, as in the SigV4
mode, with IncompleteSignatureException.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from incident_contacts.errors import IncompleteSignatureException
from incident_contacts.service import arns
from incident_contacts.service.context import Caller

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]+)/")
_ACCOUNT = re.compile(r"^[0-9]{12}$")


def credential_scope(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The access key id and region named by the Authorization header, if any."""
    authorization = headers.get("authorization", "")
    # The signature changes with every request, the credential scope hardly ever: the scope
    # is cut out and read once.
    start = authorization.find("Credential=")
    if start < 0:
        return None
    end = authorization.find(",", start)
    credential = authorization[start:] if end < 0 else authorization[start:end]
    # one of megabytes (a client may send that) is read each time rather than kept
    return (_scope if len(credential) <= _MAX_CACHED else _scope.__wrapped__)(credential)


_MAX_CACHED = 256
"""The longest ``Credential=...`` whose reading is kept (an SDK's is under 100 characters)."""


@functools.lru_cache(maxsize=1024)
def _scope(credential: str) -> tuple[str, str] | None:
    match = _CREDENTIAL.match(credential)
    return (match.group(1), match.group(2)) if match else None


def development_caller(headers: Mapping[str, str], default_account: str,
                       default_region: str) -> Caller:
    scope = credential_scope(headers)
    if scope is None:
        return Caller(default_account, default_region)
    access_key, region = scope
    if not arns.REGION.fullmatch(region):
        # As the SigV4 mode refuses it: resources made in such a region would have ARNs no
        # request could name, and a name too long for the tables was a 500 on PostgreSQL.
        raise IncompleteSignatureException(
            f"Credential should be scoped to a valid region, not '{region}'.")
    account = access_key if _ACCOUNT.match(access_key) else default_account
    return Caller(account, region)


__all__ = ["credential_scope", "development_caller"]
