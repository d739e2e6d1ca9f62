"""Which requests the mock answers: those sent to AWS's own ssm-contacts endpoints.

moto's ``mock_aws`` decides by URL: a request to a host it knows is answered, an unknown
``amazonaws.com`` host gets a 404, and any other host (a custom ``endpoint_url``: a local
server, LocalStack) is left alone and goes to the network. The mock does the same for its
one service: an ssm-contacts request is answered only when its host is one botocore would
choose for ssm-contacts itself, so a test suite can talk to the mock and to a real server
(``endpoint_url="http://127.0.0.1:8080"``) side by side.

The host forms are read from botocore's data, not written here: the URL templates of the
service's endpoint rules (standard, FIPS, dual-stack, FIPS and dual-stack) with each
partition's DNS suffixes filled in (``amazonaws.com``, ``api.aws``, ``amazonaws.com.cn``, the
ISO partitions' ...), and any region name. A partition or form that a later botocore adds is
answered without a change here. Any other host in those DNS domains (a VPC endpoint's, a host
written with the root's trailing dot) is AWS's too and is answered: left alone it would reach
AWS itself.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.loaders import create_loader

from incident_contacts import model

# A region as botocore puts it in a host name: one DNS label (botocore refuses others).
_REGION = "[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SCHEMES = frozenset({"http", "https"})
_KEPT = 1024             # verdicts kept, by URL (a client's URL is the same on every call)

_verdicts: dict[str, bool] = {}
_lock = threading.Lock()


def is_aws_endpoint(url: str) -> bool:
    """Whether ``url`` (a botocore request's) is on one of AWS's ssm-contacts endpoints."""
    known = _verdicts.get(url)
    if known is None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host.endswith("."):           # the root's dot: the same host in DNS
            host = host[:-1]
        known = parts.scheme in _SCHEMES and _aws_host().fullmatch(host) is not None
        with _lock:
            if len(_verdicts) >= _KEPT:   # URLs of many servers (a port each): start over
                _verdicts.clear()
            _verdicts[url] = known
    return known


@functools.cache
def host_pattern() -> re.Pattern[str]:
    """AWS's ssm-contacts host names (lower case), from botocore's endpoint rules and
    partitions. Raises RuntimeError when botocore's data has no template it can read (the
    mock would then answer nothing, silently)."""
    loader = create_loader()
    rules = loader.load_service_model(model.SERVICE_NAME, "endpoint-rule-set-1",
                                      model.API_VERSION)
    values = _partition_values(loader.load_data("partitions"))
    regions = {name for name, parameter in rules.get("parameters", {}).items()
               if parameter.get("builtIn") == "AWS::Region"}
    forms = sorted({form for template in _url_templates(rules)
                    if (form := _host_form(template, regions, values)) is not None})
    if not forms:
        raise RuntimeError("botocore's endpoint rules for ssm-contacts name no host the "
                           "in-process mock can recognise")
    return re.compile("(?:" + "|".join(forms) + ")")


@functools.cache
def _aws_host() -> re.Pattern[str]:
    """The hosts the mock answers: those of :func:`host_pattern`, and any other host in a
    partition's own DNS domains (``*.amazonaws.com``, ``*.api.aws``, ...), such as a VPC
    endpoint's (``vpce-....ssm-contacts.<region>.vpce.amazonaws.com``). Those are AWS's:
    left alone, a request would reach AWS itself (with whatever keys the environment
    holds), where moto's ``mock_aws`` answers any ``amazonaws.com`` host it does not know
    with a 404 rather than let it go."""
    values = _partition_values(create_loader().load_data("partitions"))
    suffixes = sorted({value for name, found in values.items()
                       if name.lower().endswith("dnssuffix") for value in found})
    domains = "|".join(re.escape(suffix) for suffix in suffixes)
    return re.compile(f"(?:{host_pattern().pattern})|(?:[^/]*\\.)?(?:{domains})")


def _partition_values(partitions: Mapping[str, Any]) -> dict[str, set[str]]:
    """Each attribute of a partition (``dnsSuffix``, ``dualStackDnsSuffix``, ...) with its
    values in every partition, a region's own values included."""
    values: dict[str, set[str]] = {}
    for partition in partitions.get("partitions", []):
        scopes = [partition.get("outputs", {}), *partition.get("regions", {}).values()]
        for scope in scopes:
            for name, value in scope.items():
                if isinstance(value, str):
                    values.setdefault(name, set()).add(value.lower())
    return values


def _url_templates(node: Any) -> Iterator[str]:
    """The endpoint URLs of a rule set: ``"url"`` members that are templates (the one that
    is the ``Endpoint`` parameter, a custom endpoint, is a reference, not text)."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            if name == "url" and isinstance(value, str):
                yield value
            else:
                yield from _url_templates(value)
    elif isinstance(node, list):
        for value in node:
            yield from _url_templates(value)


def _host_form(template: str, regions: set[str],
               values: Mapping[str, set[str]]) -> str | None:
    """A template's host as a regular expression: the region any label, a partition's
    attribute (``{PartitionResult#dnsSuffix}``) any of its values. None for a template
    with a part that cannot be filled in, or a path."""
    if "://" not in template:
        return None
    host = template.split("://", 1)[1]
    if "/" in host:
        return None
    pieces: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(host):
        pieces.append(re.escape(host[position:placeholder.start()].lower()))
        name = placeholder.group(1)
        if name in regions:
            pieces.append(_REGION)
        elif "#" in name and values.get(name.split("#", 1)[1]):
            attribute = name.split("#", 1)[1]
            pieces.append("(?:" + "|".join(re.escape(v) for v in sorted(values[attribute]))
                          + ")")
        else:
            return None
        position = placeholder.end()
    pieces.append(re.escape(host[position:].lower()))
    return "".join(pieces)


__all__ = ["host_pattern", "is_aws_endpoint"]
