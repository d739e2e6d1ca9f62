"""Settings, built once (from the CLI and the environment) and passed in; never read at import."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from incident_contacts.api.forwarded import parse_networks

DEFAULT_DATABASE = "sqlite:///incident-contacts.db"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4575
    database: str = DEFAULT_DATABASE
    inspection: bool | None = None          # None: on unless authentication is enforced
    auth: str = "off"                       # "off" | "sigv4"
    credentials_file: str | None = None
    # HTTPS served by the server itself: a PEM certificate (its chain after it) and its key.
    tls_cert: str | None = None
    tls_key: str | None = None
    # Peers whose X-Forwarded-For/-Proto are believed (addresses, networks, or "*"): a reverse
    # proxy's. None by default: any process on the host could otherwise claim TLS or an address.
    forwarded_allow_ips: tuple[str, ...] = ()
    default_region: str = "us-east-1"
    default_account: str = "000000000000"
    # Activation codes (decisions §1).
    activation_send_limit: int = 5          # codes per channel per rolling hour
    activation_code_ttl: int = 15 * 60      # seconds
    activation_max_attempts: int = 5
    # Data keys (decisions §5).
    data_key: str | None = field(default=None, repr=False)
    data_key_file: str | None = None
    old_data_keys: tuple[str, ...] = ()
    # Throttling: requests per second per account and operation class; 0 turns it off.
    throttle_rate: float = 50.0
    throttle_burst: int = 200
    # Delivery.
    smtp_url: str | None = field(default=None, repr=False)
    email_from: str = "incident-contacts@localhost"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    public_url: str | None = None           # how providers reach our webhooks
    # Messages POSTed as JSON (delivery.webhook), signed with the secret.
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_types: str | None = None        # the channel types it takes; none: all left
    # SMS through Amazon SNS (delivery.sns) in this region; AWS credentials from their chain.
    sns_region: str | None = None
    sns_endpoint_url: str | None = None
    sns_sender_id: str | None = None
    sns_origination_number: str | None = None
    sns_sms_type: str | None = None         # Transactional when unset, or Promotional
    # SMS and calls through AWS End User Messaging SMS and voice (delivery.smsvoice).
    sms_voice_region: str | None = None
    sms_voice_endpoint_url: str | None = None
    sms_voice_origination_identity: str | None = None   # phone number, pool or sender id
    sms_voice_configuration_set: str | None = None
    sms_voice_message_type: str | None = None   # TRANSACTIONAL when unset, or PROMOTIONAL
    sms_voice_voice_id: str | None = None       # an Amazon Polly voice; MATTHEW when unset
    sms_voice_types: str | None = None          # the channel types it sends; SMS,VOICE when unset
    # SMS replies through SNS (api.sns_webhook): the topic ARNs whose messages are taken.
    sns_inbound_topics: tuple[str, ...] = ()
    delivery_max_attempts: int = 8          # a message is FAILED after this many attempts
    # Quotas (service.quotas), 0 for none: per account and region, and per plan.
    quota_contacts: int = 1000
    quota_rotations: int = 1000
    quota_stages: int = 100                 # stages per plan
    quota_targets: int = 100                # targets per stage
    outbox_retention_days: float = 30.0     # SENT and FAILED messages are deleted after; 0 keeps
    # History (engine.housekeeping): stopped engagements with their pages, receipts and log,
    # and rotation overrides that ended, are deleted this many days later; 0 keeps them (AWS).
    engagement_retention_days: float = 0.0
    override_retention_days: float = 0.0
    # Background work: the delivery worker and the engagement engine.
    workers: bool = True
    metrics: bool = True                    # GET /metrics, Prometheus' text format
    console: bool = True                    # the web console at /console
    read_cache: int = 4096                  # answers of repeated reads kept; 0 turns it off
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def inspection_enabled(self) -> bool:
        return self.auth == "off" if self.inspection is None else self.inspection

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


_ENV_PREFIX = "INCIDENT_CONTACTS_"


def _cast(name: str, raw: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    text = str(kind)
    if "bool" in text:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise ValueError(f"{raw!r} is not true or false (1/0, yes/no, on/off)")
        return word in _TRUE
    if "tuple" in text:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if text.startswith("int"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
    if text.startswith("float"):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    return raw


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

# The settings with a range, and what it is: a value outside it would not fail at once, but
# quietly do the wrong thing (a port that wraps round, codes that expire at once).
_RANGES: dict[str, tuple[float, float | None]] = {
    "port": (0, 65535),                 # 0: a free port, named in the start-up line
    "activation_send_limit": (1, None),
    "activation_code_ttl": (1, None),
    "activation_max_attempts": (1, None),
    "throttle_rate": (0, None),
    "throttle_burst": (1, None),
    "delivery_max_attempts": (1, None),
    "outbox_retention_days": (0, None),
    "engagement_retention_days": (0, None),
    "override_retention_days": (0, None),
    "quota_contacts": (0, None),
    "quota_rotations": (0, None),
    "quota_stages": (0, None),
    "quota_targets": (0, None),
    "read_cache": (0, None),
}


# A standard SNS topic's ARN, in any partition (aws, aws-cn, aws-us-gov); FIFO topics take
# no HTTPS subscriptions.
_SNS_TOPIC_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:sns:[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}:"
                            r"[0-9]{12}:[A-Za-z0-9_-]{1,256}")
# What every ARN we make holds: the API refuses ARNs with another account or region
# (service.arns.REGION), so a default outside these would name what nothing can find again.
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z0-9-]{1,32}")
# A URL's user and password, up to the last "@" of its authority.
_URL_USER = re.compile(r"(?<=//)[^/?#]*@|^[^/?#:]*:[^/?#]*@")


def check(settings: Settings) -> None:
    """``ValueError`` naming the variable of the first setting out of its range, or that
    cannot work (an SNS topic that is not a topic's ARN, a default account or region no ARN
    can hold, a public URL that is not one, a data key given two ways)."""
    for name, (low, high) in _RANGES.items():
        value = getattr(settings, name)
        # NaN passes every comparison below, and on PostgreSQL a horizon of NaN is later
        # than any time: a retention of "nan" days would delete all history at once.
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            bound = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise ValueError(f"{_ENV_PREFIX}{_ENV_NAMES.get(name, name.upper())} must be "
                             f"{bound}, not {value!r}")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        given, missing = (("TLS_CERT", "TLS_KEY") if settings.tls_key is None
                          else ("TLS_KEY", "TLS_CERT"))
        raise ValueError(f"{_ENV_PREFIX}{given} needs {_ENV_PREFIX}{missing} too (a "
                         "certificate and its private key)")
    try:
        parse_networks(settings.forwarded_allow_ips)
    except ValueError as exc:
        raise ValueError(f"{_ENV_PREFIX}FORWARDED_ALLOW_IPS: {exc}") from None
    for topic in settings.sns_inbound_topics:
        if not _SNS_TOPIC_ARN.fullmatch(topic):
            raise ValueError(f"{_ENV_PREFIX}SNS_INBOUND_TOPICS: {topic[:300]!r} is not an SNS "
                             "topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    if settings.data_key and settings.data_key_file:
        # One would be ignored, silently: a key file put in place would change nothing.
        raise ValueError(f"{_ENV_PREFIX}DATA_KEY and {_ENV_PREFIX}DATA_KEY_FILE are both set: "
                         "give the data key one way")
    # --auth is checked by click; a value that gets here came from the environment.
    if settings.auth not in ("off", "sigv4"):
        raise ValueError(f"{_ENV_PREFIX}AUTH must be off or sigv4, not {settings.auth[:100]!r}")
    if not _ACCOUNT.fullmatch(settings.default_account):
        raise ValueError(f"{_ENV_PREFIX}DEFAULT_ACCOUNT must be 12 digits, not "
                         f"{settings.default_account[:100]!r}")
    if not _REGION.fullmatch(settings.default_region):
        raise ValueError(f"{_ENV_PREFIX}DEFAULT_REGION must be a region's name (such as "
                         f"us-east-1), not {settings.default_region[:100]!r}")
    if settings.public_url is not None:
        try:
            parts = urlsplit(settings.public_url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:      # "http://[::1" and the like
            usable = False
        if not usable:
            # without the user and password a URL may carry (basic authentication of webhooks)
            shown = _URL_USER.sub("***@", settings.public_url[:300])
            raise ValueError(f"{_ENV_PREFIX}PUBLIC_URL must be an http:// or https:// URL (the "
                             f"address providers reach), not {shown!r}")


_ENV_NAMES = {
    "credentials_file": "CREDENTIALS",
}


def from_environ(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from ``INCIDENT_CONTACTS_*`` variables, then explicit overrides on top."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        key = _ENV_PREFIX + _ENV_NAMES.get(f.name, f.name.upper())
        if key in env and env[key] != "":
            try:
                values[f.name] = _cast(f.name, env[key])
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from exc
    settings = Settings(**values).with_overrides(**overrides)
    check(settings)
    return settings


__all__ = ["DEFAULT_DATABASE", "Settings", "check", "from_environ"]
