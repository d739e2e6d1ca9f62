"""Authentication, authorization and throttling: pure building blocks, no I/O.

* :mod:`.credentials`: access keys → IAM users (:class:`Principal`), from a TOML file;
* :mod:`.sigv4`: SigV4 verification with botocore's signer (its parts in
  :mod:`.sigv4_header` and :mod:`.sigv4_canonical`);
* :mod:`.policy`: IAM identity and contact (resource) policy evaluation;
* :mod:`.resources`: the resource each operation is authorized against;
* :mod:`.throttle`: token buckets per account and operation class.
"""

from incident_contacts.auth.credentials import CredentialStore, Principal
from incident_contacts.auth.policy import Decision, Policy, access_denied, evaluate
from incident_contacts.auth.resources import RESOURCE_RULES, resource_for
from incident_contacts.auth.sigv4 import VerifiedRequest, scope_of, verify
from incident_contacts.auth.throttle import Throttle, operation_class

__all__ = [
    "RESOURCE_RULES",
    "CredentialStore",
    "Decision",
    "Policy",
    "Principal",
    "Throttle",
    "VerifiedRequest",
    "access_denied",
    "evaluate",
    "operation_class",
    "resource_for",
    "scope_of",
    "verify",
]
