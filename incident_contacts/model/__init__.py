"""The ssm-contacts service model, loaded from botocore with our corrections.

botocore ships the model as data under ``botocore/data/ssm-contacts/2021-05-03/``. We load it
with botocore's own :class:`~botocore.loaders.Loader`, adding one extras type,
``ssmcontacts``, whose file lives beside this module::

    extras/ssm-contacts/2021-05-03/service-2.ssmcontacts-extras.json

The extras file is the only place where we correct the model. It holds

* the HTTP status of each error shape (the botocore JSON model has none; the values are the
  Smithy model's ``httpError`` traits), and
* patterns anchored as AWS's Smithy model anchors them (the botocore copy lost the anchors of
  ``SsmContactsArn`` and ``Uuid``), with the nested quantifier of the ARN pattern flattened
  so that a long invalid value cannot backtrack for ever, and
* ``Key`` and ``Value`` of a ``Tag`` as required: the model leaves them optional, and a tag
  without either is refused as "Member must not be null" rather than stored half.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

SERVICE_NAME = "ssm-contacts"
API_VERSION = "2021-05-03"
_EXTRAS_DIR = Path(__file__).parent / "extras"


class _Loader(Loader):  # type: ignore[misc]
    BUILTIN_EXTRAS_TYPES: ClassVar[list[str]] = ["sdk", "ssmcontacts"]


@functools.cache
def service_model() -> ServiceModel:
    """The service model with our extras merged in; loaded once per process."""
    loader = _Loader(extra_search_paths=[str(_EXTRAS_DIR)])
    raw = loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(raw, service_name=SERVICE_NAME)


@functools.cache
def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def operation_names() -> list[str]:
    return list(service_model().operation_names)


def error_status(code: str) -> int:
    """HTTP status of a modeled error, from the extras file."""
    shape = service_model().shape_for(code)
    status: int = shape.metadata["error"]["httpStatusCode"]
    return status


def target_prefix() -> str:
    prefix: str = service_model().metadata["targetPrefix"]
    return prefix


def paginators() -> dict[str, Any]:
    loader = _Loader(extra_search_paths=[str(_EXTRAS_DIR)])
    data: dict[str, Any] = loader.load_service_model(SERVICE_NAME, "paginators-1", API_VERSION)
    pagination: dict[str, Any] = data["pagination"]
    return pagination
