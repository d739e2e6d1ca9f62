"""The request pipeline, as one explicit list of steps, free of any HTTP server.

1. name the operation (``X-Amz-Target``)       5. check the model's constraints
2. identify the caller (account, region)       6. replay an idempotent retry, or
3. throttle and authorize                         run the operation in one transaction
4. parse the JSON body                         7. shape the output by the model

A guard that cannot decide without the database (authorization under a contact policy or a
resource's tags) returns a :data:`Check` instead: it runs first in the call's transaction, so
the decision and the answer come from one state of the database (on PostgreSQL a read's
snapshot; a write's transaction, which may lock what the decision read), and the model's
constraints are checked after it, so a refusal still comes before a validation error.

The server and the in-process mock both call :meth:`Dispatcher.handle`, so they cannot
differ. Any error becomes its AWS JSON form here; anything unexpected becomes
InternalServerException with the traceback in the log and never in the response.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from incident_contacts import crypto, model
from incident_contacts.api.operations import OPERATIONS, Operation
from incident_contacts.api.readcache import ReadCache
from incident_contacts.errors import (
    ConflictException,
    InternalServerException,
    ServiceError,
    ValidationException,
)
from incident_contacts.ids import new_id
from incident_contacts.metrics import UNKNOWN_OPERATION, Metrics
from incident_contacts.model.serialize import serialize
from incident_contacts.model.validate import FieldError, checker
from incident_contacts.protocol import awsjson
from incident_contacts.protocol.identity import development_caller
from incident_contacts.runtime import Runtime
from incident_contacts.service.context import Caller, RequestContext
from incident_contacts.store.prepared import Prepared, insert_of
from incident_contacts.store.schema.core import idempotency

log = logging.getLogger(__name__)

# Identifies the caller of a request: (method, path, headers, body) -> Caller.
Authenticator = Callable[[str, str, Mapping[str, str], bytes], Caller]
# A guard's decision that needs the database: run first in the call's transaction, with its
# connection and whether the transaction writes; it raises a ServiceError to refuse the call.
Check = Callable[[Connection, bool], None]
# Runs before the operation, e.g. throttling and authorization: (caller, operation, params).
# It raises to refuse, returns None to let the call go on, or a Check to decide in the call's
# transaction.
Guard = Callable[[Caller, str, dict[str, Any]], Check | None]

IDEMPOTENCY_WINDOW = 24 * 3600.0

# Built once, run with parameters: a statement's construction costs more than running it on
# SQLite, and every call with an IdempotencyToken runs the first two.
_REMEMBERED = Prepared(sa.select(idempotency).where(
    idempotency.c.account == sa.bindparam("account"),
    idempotency.c.region == sa.bindparam("region"),
    idempotency.c.operation == sa.bindparam("operation"),
    idempotency.c.token == sa.bindparam("token"),
))
_REMEMBER = insert_of(idempotency, "account", "region", "operation", "token", "fingerprint",
                      "result", "created_at")
_FORGET = Prepared(idempotency.delete().where(idempotency.c.id == sa.bindparam("row_id")))


@functools.cache
def _input_check(name: str) -> Callable[[Any], list[FieldError]] | None:
    """The check of an operation's input against its model, made once per process."""
    shape = model.operation_model(name).input_shape
    return checker(shape) if shape is not None else None


class _Plan:
    """What the pipeline needs of one operation, looked up once rather than on each call."""

    __slots__ = ("cached", "check", "handler", "idempotent", "output_shape", "readonly")

    def __init__(self, name: str, operation: Operation) -> None:
        operation_model = model.operation_model(name)
        self.handler = operation.handler
        self.readonly = operation.readonly
        self.cached = operation.cached
        input_shape = operation_model.input_shape
        self.output_shape = operation_model.output_shape
        self.check = _input_check(name)
        self.idempotent = input_shape is not None \
            and "IdempotencyToken" in input_shape.members


MAX_DEVELOPMENT_CALLERS = 1024
"""Callers kept by the development authenticator, one per distinct credential scope."""


class _DevelopmentCallers:
    """The caller of a request when signatures are not checked (``--auth off``, the mock):
    ``protocol.identity.development_caller``, made once per distinct ``Credential=`` part of
    the Authorization header (a client sends the same one with every request) and kept, as
    the SigV4 authenticator keeps its callers. Callers are never changed; refusals (a region
    AWS would not spell so) are not kept, and long scopes are read each time."""

    __slots__ = ("_account", "_callers", "_region")

    def __init__(self, default_account: str, default_region: str) -> None:
        self._account = default_account
        self._region = default_region
        self._callers: dict[str, Caller] = {}

    def __call__(self, _method: str, _path: str, headers: Mapping[str, str],
                 _body: bytes) -> Caller:
        authorization = headers.get("authorization", "")
        # The part development_caller reads (credential_scope): nothing else of the header
        # names the caller.
        start = authorization.find("Credential=")
        if start < 0:
            scope = ""
        else:
            end = authorization.find(",", start)
            scope = authorization[start:end] if end >= 0 else authorization[start:]
        caller = self._callers.get(scope)
        if caller is None:
            caller = development_caller(headers, self._account, self._region)
            if len(scope) <= 256:
                if len(self._callers) >= MAX_DEVELOPMENT_CALLERS:
                    self._callers.clear()
                self._callers[scope] = caller
        return caller


class Dispatcher:
    def __init__(self, runtime: Runtime, *, authenticator: Authenticator | None = None,
                 guards: list[Guard] | None = None,
                 operations: Mapping[str, Operation] = OPERATIONS,
                 metrics: Metrics | None = None,
                 read_cache: ReadCache | None = None) -> None:
        self.runtime = runtime
        self.metrics = metrics
        # Only where the store can tell when the database changed (readcache).
        self.read_cache = read_cache if runtime.store.marks_changes else None
        self.operations = operations
        settings = runtime.settings
        self.authenticate: Authenticator = authenticator or _DevelopmentCallers(
            settings.default_account, settings.default_region)
        self.guards = guards or []
        self._plans = {name: _Plan(name, operation) for name, operation in operations.items()}
        prefix = model.target_prefix()
        # X-Amz-Target -> operation name, for the targets this dispatcher serves.
        self._targets = {f"{prefix}.{name}": name for name in self._plans}
        self._writing_targets = frozenset(
            f"{prefix}.{name}" for name, plan in self._plans.items() if not plan.readonly)

    def writes(self, headers: Mapping[str, str]) -> bool:
        """Whether the request names an operation that writes: such requests may be served
        together by :meth:`handle_group`."""
        return headers.get("x-amz-target") in self._writing_targets

    def handle_group(self, requests: list[tuple[str, str, Mapping[str, str], bytes]]
                     ) -> list[awsjson.HttpResponse]:
        """Serve several requests as :meth:`handle` does, in turn, with one commit for all of
        them (``Store.begin_group``): on SQLite the commit and the pages it writes are most of
        a small write's cost, and requests that arrive together share them.

        Each request still succeeds or fails alone (a savepoint each), sees the writes of those
        before it, and is answered only after the commit, so an answer never tells of writes
        that could still be lost. If the commit fails, every request whose writes were waiting
        for it is answered InternalServerException instead.
        """
        store = self.runtime.store
        group = store.begin_group()
        if group is None:
            return [self.handle(*request) for request in requests]
        responses: list[awsjson.HttpResponse] = []
        waiting: list[bool] = []
        committed = False
        try:
            for request in requests:
                before = group.released
                responses.append(self.handle(*request))
                waiting.append(group.released != before)
            committed = True
        finally:
            lost = store.end_group(group, commit=committed)
        if lost is not None:
            log.error("a group of %d requests could not commit: %s", len(requests), lost)
            for index, was_waiting in enumerate(waiting):
                if was_waiting:
                    request_id = dict(responses[index].headers).get(
                        awsjson.REQUEST_ID_HEADER, new_id())
                    responses[index] = awsjson.error(request_id, InternalServerException())
            return responses
        _run_hooks(group.after_commit, "a group of requests")
        return responses

    def handle(self, method: str, path: str, headers: Mapping[str, str],
               body: bytes) -> awsjson.HttpResponse:
        """Serve one request; ``headers`` has lower-case names."""
        metrics = self.metrics
        started = time.perf_counter() if metrics is not None else 0.0
        request_id = new_id()
        name = UNKNOWN_OPERATION
        outcome = "OK"
        try:
            known = self._targets.get(headers.get("x-amz-target", ""))
            # A target of no operation here: the error, as operation_of words it.
            name = known if known is not None else awsjson.operation_of(headers, self.operations)
            caller = self.authenticate(method, path, headers, body)
            params = awsjson.parse_body(body)
            checks = None
            for guard in self.guards:
                check = guard(caller, name, params)
                if check is not None:
                    checks = [check] if checks is None else [*checks, check]
            plan = self._plans[name]
            if plan.cached and self.read_cache is not None and checks is None:
                response = self._cached_read(name, plan, caller, params, request_id, body)
            else:
                # A call whose authorization reads the database is never answered from the
                # cache: its decision is made again, in the transaction of its answer.
                response = awsjson.success(
                    request_id, self._serve(name, plan, caller, params, request_id, checks))
        except ServiceError as exc:
            outcome = exc.code
            response = awsjson.error(request_id, exc)
        except Exception:
            log.exception("request %s failed", request_id)
            error = InternalServerException()
            outcome = error.code
            response = awsjson.error(request_id, error)
        if metrics is not None:
            metrics.observe_request(name, outcome, time.perf_counter() - started)
        return response

    def call(self, caller: Caller, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """An operation for a caller the server has already identified (the console): the
        same guards, validation, transaction and output shape as a request. Returns the
        output as the wire carries it; raises the ServiceError a request would answer."""
        started = time.perf_counter()
        outcome = "OK"
        try:
            plan = self._plans.get(name)
            if plan is None:
                unknown, name = name, UNKNOWN_OPERATION   # no label set per name given
                raise ValidationException(f"Unknown operation {unknown}.",
                                          reason="UNKNOWN_OPERATION")
            params = {key: value for key, value in params.items() if value is not None}
            checks = None
            for guard in self.guards:
                check = guard(caller, name, params)
                if check is not None:
                    checks = [check] if checks is None else [*checks, check]
            return self._serve(name, plan, caller, params, new_id(), checks)
        except ServiceError as exc:
            outcome = exc.code
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe_request(name, outcome, time.perf_counter() - started)

    def _cached_read(self, name: str, plan: _Plan, caller: Caller, params: dict[str, Any],
                     request_id: str, body: bytes) -> awsjson.HttpResponse:
        """A read answered from the cache when the database has not changed since the same
        caller sent the same body; a kept answer passed validation when it was made."""
        cache = self.read_cache
        assert cache is not None
        mark = self.runtime.store.change_mark()
        if mark is None:  # inside another transaction of this thread
            return awsjson.success(request_id,
                                   self._serve(name, plan, caller, params, request_id))
        key = (name, caller.account, caller.region, caller.principal_arn, body)
        answer = cache.get(mark, key)
        if answer is None:
            answer = orjson.dumps(self._serve(name, plan, caller, params, request_id))
            cache.put(mark, key, answer, key_size=len(body))
        return awsjson.answer(request_id, answer)

    def _serve(self, name: str, plan: _Plan, caller: Caller, params: dict[str, Any],
               request_id: str, checks: list[Check] | None = None) -> dict[str, Any]:
        """Validate, run in one transaction, and shape the output by the model. ``checks``
        (guards' decisions that read the database) run first in the transaction, and the
        validation after them."""
        if checks is None:
            _check(plan, params)
        idempotent = plan.idempotent and "IdempotencyToken" in params
        result = self._run(name, plan, caller, params, request_id, idempotent, checks)
        shaped: dict[str, Any] = serialize(plan.output_shape, result)
        return shaped

    def _run(self, name: str, plan: _Plan, caller: Caller, params: dict[str, Any],
             request_id: str, idempotent: bool,
             checks: list[Check] | None = None) -> dict[str, Any]:
        # A lost race (a unique key taken by a concurrent call) is retried once: the retry
        # sees the winner's row and answers as if it had come second. With an idempotency
        # token, a conflict is such a race too when the winner was the same call sent again
        # (an SDK's retry, on PostgreSQL where the two run side by side): the retry finds the
        # winner's token and answers with its result.
        for attempt in range(3):
            try:
                with self.runtime.store.transaction(write=not plan.readonly) as conn:
                    if checks is not None:
                        for check in checks:
                            check(conn, not plan.readonly)
                        _check(plan, params)
                    ctx = RequestContext(caller, conn, self.runtime, name, request_id)
                    result = self._replay(ctx, params) if idempotent else None
                    if result is None:
                        result = plan.handler(ctx, params)
                        if idempotent and ctx.deferred_error is None:
                            self._remember(ctx, params, result)
                break
            except (IntegrityError, OperationalError):
                if attempt == 2:
                    raise
                log.info("request %s: retrying after a lost race", request_id)
            except ConflictException:
                if not idempotent or attempt > 0:     # once: the winner has committed
                    raise
                log.info("request %s: a conflict with a token; looking for its first answer",
                         request_id)
        assert result is not None
        if ctx.after_commit:
            group = self.runtime.store.open_group()
            if group is not None:
                group.defer(ctx.after_commit)
            else:
                _run_hooks(ctx.after_commit, f"request {request_id}")
        if ctx.deferred_error is not None:
            raise ctx.deferred_error
        return result

    def _fingerprint(self, params: dict[str, Any]) -> str:
        """A keyed hash of the parameters: they may hold personal data (a delivery address),
        which a plain hash would let anyone holding the database guess back."""
        rest = {k: v for k, v in params.items() if k != "IdempotencyToken"}
        return crypto.keyed_hash(self.runtime.secret("blind-index"), "idempotency",
                                 orjson.dumps(rest, option=orjson.OPT_SORT_KEYS).decode())

    def _replay(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first answer to a retried call with the same token and parameters."""
        row = _REMEMBERED.first(ctx.conn, {
            "account": ctx.account, "region": ctx.region, "operation": ctx.operation,
            "token": params["IdempotencyToken"],
        })
        if row is None:
            return None
        if row.created_at < ctx.now() - IDEMPOTENCY_WINDOW:
            _FORGET.execute(ctx.conn, {"row_id": row.id})
            return None
        if row.fingerprint != self._fingerprint(params):
            raise ValidationException.field(
                "IdempotencyToken",
                "The idempotency token was already used with different parameters.",
            )
        stored: dict[str, Any] = orjson.loads(row.result)
        return stored

    def _remember(self, ctx: RequestContext, params: dict[str, Any],
                  result: dict[str, Any]) -> None:
        _REMEMBER.execute(ctx.conn, {
            "account": ctx.account,
            "region": ctx.region,
            "operation": ctx.operation,
            "token": params["IdempotencyToken"],
            "fingerprint": self._fingerprint(params),
            "result": orjson.dumps(result).decode(),
            "created_at": ctx.now(),
        })


def _run_hooks(hooks: list[Callable[[], None]], whose: str) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook of %s failed", whose)


def _check(plan: _Plan, params: dict[str, Any]) -> None:
    errors = plan.check(params) if plan.check is not None else None
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(
            f"{count} validation {noun} detected: " + "; ".join(e.message for e in errors),
            fields=[{"Name": e.name, "Message": e.message} for e in errors],
        )


__all__ = ["Authenticator", "Check", "Dispatcher", "Guard"]
