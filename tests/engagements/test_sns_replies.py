"""Acknowledging a page by SMS reply through AWS: End User Messaging's two-way SMS reaches an
SNS topic, whose HTTPS subscription is ``POST /_aws/ssm-contacts/webhooks/sns/sms``.

SNS cannot be reached from tests, so the signing certificate is one made here (self-signed,
with a key of its own) and served by the fetcher the application is given in-process; the
messages are signed with its key, over a canonical string built here from AWS's description
(not by the code under test). The URL checks run before any fetch, so the certificate URLs
below are on SNS's real host name.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from incident_contacts.api.app import Application
from incident_contacts.api.replies import MAX_CODES
from incident_contacts.auth.sns_messages import (
    FETCH_BURST,
    FETCH_RATE,
    FETCHES_AT_ONCE,
    CertificateUnavailable,
    SnsMessageError,
    SnsMessageVerifier,
)
from incident_contacts.clock import ManualClock
from incident_contacts.config import Settings, from_environ
from incident_contacts.testing import mock_ssm_contacts
from tests.conftest import Backend
from tests.support.server import start_server

from .helpers import PHONE, Paging

HOOK = "/_aws/ssm-contacts/webhooks/sns/sms"
TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall-replies"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-elses"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
OUR_NUMBER = "+12065550100"


# -- a signing certificate of our own, and messages signed with it -------------------------

class Signer:
    def __init__(self, *, valid_days: tuple[int, int] = (-1, 30)) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=valid_days[0]))
            .not_valid_after(now + dt.timedelta(days=valid_days[1]))
            .sign(self.key, hashes.SHA256())
        )
        self.pem = certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        """``message`` with SignatureVersion, SigningCertURL (unless it has one) and
        Signature, computed as AWS's guide says."""
        message = {"SigningCertURL": CERT_URL, **message, "SignatureVersion": version}
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type"]
        canonical = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical.encode(), padding.PKCS1v15(), algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return message


def timestamp(seconds_ago: float = 0.0) -> str:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def inbound_sms(sender: str, body: str, **changes: Any) -> dict[str, Any]:
    """A Notification carrying an inbound SMS, as End User Messaging publishes it."""
    sms = {"originationNumber": sender, "destinationNumber": OUR_NUMBER,
           "messageKeyword": "KEYWORD_123456789012", "messageBody": body,
           "inboundMessageId": str(uuid.uuid4()), "previousPublishedMessageId": "abc"}
    return {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": TOPIC,
            "Message": orjson.dumps(sms).decode(), "Timestamp": timestamp(),
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
                              f"&SubscriptionArn={TOPIC}:1b2c", **changes}


def confirmation(kind: str = "SubscriptionConfirmation", topic: str = TOPIC,
                 **changes: Any) -> dict[str, Any]:
    token = "2336412f37fb687f5d51e6e2425dacbba"
    return {"Type": kind, "MessageId": str(uuid.uuid4()), "Token": token, "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the "
                       "subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                            f"&TopicArn={topic}&Token={token}",
            "Timestamp": timestamp(), **changes}


# -- the application, with SNS's side played here -----------------------------------------

class FakeSns:
    """What the application fetches from SNS and visits there."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.fetched: list[str] = []
        self.visited: list[str] = []
        self.down = False

    def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        if self.down:
            raise CertificateUnavailable("SNS answered HTTP 503 for its certificate")
        return self.signer.pem

    def visit(self, url: str) -> int:
        self.visited.append(url)
        return 200


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def sns(signer: Signer) -> FakeSns:
    return FakeSns(signer)


class Setup:
    def __init__(self, mock: Any, sns: FakeSns) -> None:
        self.paging = Paging(Backend("inprocess", mock=mock))
        self.http = TestClient(Application(mock.runtime, mock.dispatcher, []))
        self.sns = sns

    def post(self, message: dict[str, Any], **headers: str) -> Any:
        sent = {"x-amz-sns-message-type": message["Type"],
                "x-amz-sns-message-id": str(message["MessageId"]),
                "x-amz-sns-topic-arn": str(message["TopicArn"]),
                "content-type": "text/plain; charset=UTF-8", **headers}
        return self.http.post(HOOK, content=orjson.dumps(message), headers=sent)

    def engaged_page(self) -> tuple[str, str, str]:
        """A person paged by SMS at PHONE: (engagement, page ARN, accept code)."""
        paging = self.paging
        person = paging.person("akuam", [("SMS", PHONE)])
        paging.plan(person, [(5, person.channels)])
        engagement = paging.engage(person.arn)
        [page] = paging.pages(engagement, 1)
        code = paging.page_messages(engagement)[page["PageArn"]]["AcceptCode"]
        return engagement, page["PageArn"], code

    def read(self, page: str) -> bool:
        return "ReadTime" in self.paging.client.describe_page(PageId=page)


@pytest.fixture
def setup(sns: FakeSns) -> Iterator[Setup]:
    settings = Settings(sns_inbound_topics=(TOPIC,), extra={
        "sns_certificate_fetcher": sns.fetch, "sns_subscribe_visitor": sns.visit})
    with mock_ssm_contacts(settings=settings) as mock:
        yield Setup(mock, sns)


# -- acknowledging --------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
def test_a_reply_with_the_code_reads_the_page(setup: Setup, signer: Signer,
                                              version: str) -> None:
    engagement, page, code = setup.engaged_page()
    answer = setup.post(signer.sign(inbound_sms(PHONE, f"ack {code} thanks"), version))
    assert answer.status_code == 200 and answer.text == "Page acknowledged."
    assert setup.read(page)
    receipts = setup.paging.receipts(page)
    assert [r["ReceiptType"] for r in receipts] == ["SENT", "READ"]
    assert receipts[1]["ReceiptInfo"] == code
    setup.paging.wait_events(engagement, "ACKNOWLEDGED")
    assert setup.sns.fetched == [CERT_URL]

    again = setup.post(signer.sign(inbound_sms(PHONE, code), version))
    assert again.status_code == 200 and again.text == "No open page has that code."
    assert setup.paging.receipt_types(page) == ["SENT", "READ"]
    assert setup.sns.fetched == [CERT_URL]                 # the certificate was kept


def test_a_subject_is_signed_too(setup: Setup, signer: Signer) -> None:
    _engagement, page, code = setup.engaged_page()
    message = signer.sign(inbound_sms(PHONE, code, Subject="Inbound SMS"))
    assert setup.post(dict(message, Subject="Other")).status_code == 403
    assert not setup.read(page)
    assert setup.post(message).status_code == 200
    assert setup.read(page)


def test_replies_that_hold_no_code_of_the_sender_change_nothing(setup: Setup,
                                                                signer: Signer) -> None:
    _engagement, page, code = setup.engaged_page()
    for body in ["on my way", f"{code}9", "", "12345"]:
        answer = setup.post(signer.sign(inbound_sms(PHONE, body)))
        assert answer.status_code == 200 and "nothing done" in answer.text
    other = "+15005550100"
    answer = setup.post(signer.sign(inbound_sms(other, code)))
    assert answer.status_code == 200 and answer.text == "No open page has that code."
    not_sms = signer.sign(dict(inbound_sms(PHONE, code), Message=f"ack {code}"))
    assert setup.post(not_sms).status_code == 200
    assert not setup.read(page)
    assert setup.paging.receipt_types(page) == ["SENT"]


def test_a_reply_reads_only_the_page_of_its_code_across_accounts(
        setup: Setup, signer: Signer, sns: FakeSns) -> None:
    """Two accounts page the same number: a reply acknowledges the page whose code it
    holds, in its own account, and nothing of the other."""
    _first, first_page, first_code = setup.engaged_page()
    other = Setup.__new__(Setup)
    other.paging = Paging(Backend("inprocess", mock=setup.paging.backend.mock))
    other.http, other.sns = setup.http, sns
    assert other.paging.backend.account != setup.paging.backend.account
    _second, second_page, second_code = other.engaged_page()
    assert first_code != second_code
    answer = setup.post(signer.sign(inbound_sms(PHONE, second_code)))
    assert answer.text == "Page acknowledged."
    assert other.read(second_page) and not setup.read(first_page)
    assert setup.paging.receipt_types(first_page) == ["SENT"]
    assert setup.post(signer.sign(inbound_sms(PHONE, second_code))).text == \
        "No open page has that code."
    assert not setup.read(first_page)


def test_a_reply_cannot_guess_many_codes(setup: Setup, signer: Signer) -> None:
    """Only the first few codes of a reply count: one SMS (from a spoofed sender, or one
    SNS message of 256 KiB) cannot try thousands against the number's open pages."""
    _engagement, page, code = setup.engaged_page()
    guesses = [f"{n:06d}" for n in range(0, 1_000_000, 7919) if f"{n:06d}" != code][:200]
    answer = setup.post(signer.sign(inbound_sms(PHONE, " ".join([*guesses, code]))))
    assert answer.status_code == 200 and answer.text == "No open page has that code."
    assert not setup.read(page)
    wrong = [guesses[0]] * 5 + guesses[1:MAX_CODES - 1]
    answer = setup.post(signer.sign(inbound_sms(PHONE, " ".join([*wrong, code]))))
    assert answer.text == "Page acknowledged."
    assert setup.read(page)


# -- refusals -------------------------------------------------------------------------------

def test_a_wrong_signature_is_refused(setup: Setup, signer: Signer) -> None:
    _engagement, page, code = setup.engaged_page()
    genuine = signer.sign(inbound_sms(PHONE, "on my way"))
    tampered = dict(genuine, Message=genuine["Message"].replace("on my way", code))
    assert setup.post(tampered).status_code == 403
    forger = Signer()
    forged = forger.sign(inbound_sms(PHONE, code))
    assert setup.post(forged).status_code == 403
    as_version_1 = dict(signer.sign(inbound_sms(PHONE, code)), SignatureVersion="1")
    assert setup.post(as_version_1).status_code == 403
    for signature in ["", "not base64!", None]:
        bad = dict(signer.sign(inbound_sms(PHONE, code)), Signature=signature)
        assert setup.post(bad).status_code == 403
    unknown = signer.sign(inbound_sms(PHONE, code), version="3")
    assert setup.post(unknown).status_code == 403
    assert not setup.read(page)


@pytest.mark.parametrize("url", [
    "https://example.com/SimpleNotificationService-0123.pem",
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com.example.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com@example.com/SimpleNotificationService-0123.pem",
    "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123.pem",
    "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.txt",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem?x=.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem#x",
    "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://[sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem",
    # SNS signs from the topic's region, and only its certificates' files are fetched: one
    # who posts cannot have the server fetch elsewhere, nor one file under many names.
    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.xx-made-up-9.amazonaws.com/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/other/SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com//SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com/./SimpleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com/%53impleNotificationService-0123.pem",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123.pem/",
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-../x.pem",
])
def test_a_certificate_off_sns_host_is_refused_unfetched(setup: Setup, signer: Signer,
                                                         url: str) -> None:
    _engagement, page, code = setup.engaged_page()
    answer = setup.post(signer.sign(inbound_sms(PHONE, code, SigningCertURL=url)))
    assert answer.status_code == 403
    assert setup.sns.fetched == []
    assert not setup.read(page)


def test_china_regions_sign_from_their_own_domain(signer: Signer) -> None:
    fetched: list[str] = []
    verifier = SnsMessageVerifier(lambda url: fetched.append(url) or signer.pem)
    china = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0123.pem"
    topic = "arn:aws-cn:sns:cn-north-1:123456789012:oncall-replies"
    verifier.verify(signer.sign(inbound_sms(PHONE, "ok", SigningCertURL=china,
                                            TopicArn=topic)))
    assert fetched == [china]
    with pytest.raises(SnsMessageError, match="topic's region"):
        verifier.verify(signer.sign(inbound_sms(PHONE, "ok", SigningCertURL=china)))
    assert fetched == [china]


def test_certificate_fetches_are_bounded(signer: Signer) -> None:
    """A certificate is fetched before the signature can be checked, so whoever knows the
    topic could have the server fetch a new name with every post: fetches come in a burst,
    then at a rate, one or two at a time; kept certificates verify all along."""
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        if url == CERT_URL:
            return signer.pem
        raise CertificateUnavailable("SNS answered HTTP 404 for its certificate")

    clock = ManualClock()
    verifier = SnsMessageVerifier(fetch, clock=clock)
    genuine = signer.sign(inbound_sms(PHONE, "ok", Timestamp=timestamp(0)))
    verifier.verify(genuine)

    def elsewhere(n: int) -> dict[str, Any]:
        url = f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n:032x}.pem"
        return signer.sign(inbound_sms(PHONE, "ok", SigningCertURL=url))

    for n in range(3 * FETCH_BURST):
        with pytest.raises(CertificateUnavailable):
            verifier.verify(elsewhere(n))
    assert len(fetched) == FETCH_BURST            # the genuine one, then FETCH_BURST - 1
    verifier.verify(genuine)                      # kept: no fetch needed
    clock.advance(1 / FETCH_RATE)
    with pytest.raises(CertificateUnavailable, match="404"):
        verifier.verify(elsewhere(99))
    with pytest.raises(CertificateUnavailable, match="lately"):
        verifier.verify(elsewhere(100))
    assert len(fetched) == FETCH_BURST + 1


def test_no_thread_waits_on_a_certificate_being_fetched(signer: Signer) -> None:
    started, release = threading.Semaphore(0), threading.Event()
    fetched: list[str] = []

    def slow(url: str) -> bytes:
        fetched.append(url)
        started.release()
        release.wait(10)
        raise CertificateUnavailable("timed out")

    verifier = SnsMessageVerifier(slow)
    urls = [f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{n}.pem"
            for n in range(FETCHES_AT_ONCE + 1)]
    messages = [signer.sign(inbound_sms(PHONE, "ok", SigningCertURL=url)) for url in urls]
    outcomes: list[str] = []

    def verify(message: dict[str, Any]) -> None:
        try:
            verifier.verify(message)
        except CertificateUnavailable as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=verify, args=(m,)) for m in messages[:-1]]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=10)
    verify(messages[-1])                          # answered at once, without fetching
    assert outcomes == ["other certificates are being fetched"]
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(fetched) == FETCHES_AT_ONCE and outcomes.count("timed out") == FETCHES_AT_ONCE


def test_a_topic_not_accepted_is_refused(setup: Setup, signer: Signer) -> None:
    _engagement, page, code = setup.engaged_page()
    answer = setup.post(signer.sign(inbound_sms(PHONE, code, TopicArn=OTHER_TOPIC)))
    assert answer.status_code == 403
    assert setup.sns.fetched == []
    assert not setup.read(page)


@pytest.mark.parametrize(("seconds_ago", "status"), [
    (2 * 3600, 403), (3601, 403), (3540, 200), (-60, 200), (-600, 403),
])
def test_only_current_messages_are_taken(setup: Setup, signer: Signer, seconds_ago: float,
                                         status: int) -> None:
    """SNS stops retrying a delivery within an hour: an older message is a replay."""
    _engagement, page, code = setup.engaged_page()
    message = signer.sign(inbound_sms(PHONE, code, Timestamp=timestamp(seconds_ago)))
    assert setup.post(message).status_code == status
    assert setup.read(page) == (status == 200)


def test_timestamps_must_be_times(signer: Signer) -> None:
    verifier = SnsMessageVerifier(lambda url: signer.pem)
    for text in ["yesterday", "2026-11-27T10:00:00", "", None]:
        with pytest.raises(SnsMessageError):
            verifier.verify(signer.sign(inbound_sms(PHONE, "ok", Timestamp=text)))


def test_a_certificate_out_of_its_validity_is_refused() -> None:
    for days in [(-30, -1), (1, 30)]:
        signer = Signer(valid_days=days)
        verifier = SnsMessageVerifier(lambda url, signer=signer: signer.pem)
        with pytest.raises(SnsMessageError, match="not valid now"):
            verifier.verify(signer.sign(inbound_sms(PHONE, "ok")))


def test_something_else_than_a_certificate_is_refused(signer: Signer) -> None:
    verifier = SnsMessageVerifier(lambda url: b"<html>not found</html>")
    with pytest.raises(SnsMessageError, match="no certificate"):
        verifier.verify(signer.sign(inbound_sms(PHONE, "ok")))


def test_an_unavailable_certificate_asks_sns_to_retry(setup: Setup, signer: Signer) -> None:
    _engagement, page, code = setup.engaged_page()
    setup.sns.down = True
    assert setup.post(signer.sign(inbound_sms(PHONE, code))).status_code == 503
    assert not setup.read(page)
    setup.sns.down = False
    assert setup.post(signer.sign(inbound_sms(PHONE, code))).status_code == 200
    assert setup.read(page)


def test_bodies_that_are_not_sns_messages_are_refused(setup: Setup, signer: Signer) -> None:
    for body in [b"", b"not json", b"[1, 2]", b'{"Type": "Other"}', b'{"Type": null}',
                 b'{"Type": []}', b'{"Type": "Notification", "TopicArn": ["x"]}']:
        answer = setup.http.post(HOOK, content=body)
        assert answer.status_code == 400, body
    message = signer.sign(inbound_sms(PHONE, "ok"))
    assert setup.post(message, **{"x-amz-sns-message-type": "SubscriptionConfirmation"}
                      ).status_code == 400
    assert setup.post(message, **{"x-amz-sns-topic-arn": OTHER_TOPIC}).status_code == 400
    too_large = setup.http.post(HOOK, content=b" " * (512 * 1024 + 1))
    assert too_large.status_code == 413
    assert setup.sns.fetched == []


# -- subscriptions --------------------------------------------------------------------------

def test_a_subscription_is_confirmed_once_verified(setup: Setup, signer: Signer) -> None:
    message = confirmation()
    assert setup.post(dict(signer.sign(message), Token="other")).status_code == 403
    assert setup.sns.visited == []
    answer = setup.post(signer.sign(message, version="1"))
    assert answer.status_code == 200 and answer.text == "Subscription confirmed."
    assert setup.sns.visited == [message["SubscribeURL"]]


def test_a_subscription_of_another_topic_is_not_confirmed(setup: Setup,
                                                          signer: Signer) -> None:
    answer = setup.post(signer.sign(confirmation(topic=OTHER_TOPIC)))
    assert answer.status_code == 403
    assert setup.sns.visited == [] and setup.sns.fetched == []


@pytest.mark.parametrize("url", [
    "https://example.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=x",
    "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=x",
    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&TopicArn={topic}&Token=x",
    f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={OTHER_TOPIC}",
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
    f"&TopicArn={OTHER_TOPIC}",
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token=x",
])
def test_a_subscribe_url_off_sns_is_not_visited(setup: Setup, signer: Signer,
                                                url: str) -> None:
    message = confirmation(SubscribeURL=url.format(topic=TOPIC))
    assert setup.post(signer.sign(message)).status_code == 403
    assert setup.sns.visited == []


def test_an_unsubscribe_confirmation_is_logged(setup: Setup, signer: Signer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="incident_contacts.api.sns_webhook"):
        answer = setup.post(signer.sign(confirmation("UnsubscribeConfirmation")))
    assert answer.status_code == 200
    assert setup.sns.visited == []
    assert any("unsubscribed" in r.getMessage() and TOPIC in r.getMessage()
               for r in caplog.records)


# -- settings ---------------------------------------------------------------------------------

def test_the_endpoint_is_off_without_topics(signer: Signer, sns: FakeSns) -> None:
    settings = Settings(extra={"sns_certificate_fetcher": sns.fetch})
    with mock_ssm_contacts(settings=settings) as mock:
        http = TestClient(Application(mock.runtime, mock.dispatcher, []))
        answer = http.post(HOOK, content=orjson.dumps(signer.sign(inbound_sms(PHONE, "1"))))
        assert answer.status_code == 404
    assert sns.fetched == []


def test_topics_are_read_from_the_environment_and_checked() -> None:
    variable = "INCIDENT_CONTACTS_SNS_INBOUND_TOPICS"
    settings = from_environ({variable: f"{TOPIC}, arn:aws-cn:sns:cn-north-1:123456789012:x"})
    assert settings.sns_inbound_topics == (TOPIC, "arn:aws-cn:sns:cn-north-1:123456789012:x")
    for wrong in ["oncall-replies", "arn:aws:sqs:us-east-1:123456789012:q",
                  f"{TOPIC}:subscription-id", f"{TOPIC}.fifo"]:
        with pytest.raises(ValueError, match=variable):
            from_environ({variable: wrong})


def test_a_server_with_a_wrong_topic_does_not_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "incident_contacts", "serve"], capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
        env={**os.environ, "INCIDENT_CONTACTS_SNS_INBOUND_TOPICS": "oncall-replies"})
    assert result.returncode == 2, result.stderr
    assert "INCIDENT_CONTACTS_SNS_INBOUND_TOPICS: 'oncall-replies' is not an SNS topic ARN" \
        in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.db*"))


def test_a_server_refuses_what_it_cannot_trust(tmp_path: Path, signer: Signer) -> None:
    """Through a real server: off without topics; with them, a foreign certificate host or
    topic is refused before anything is fetched (nothing can be: tests have no AWS)."""
    import httpx

    server = start_server(tmp_path, env={"INCIDENT_CONTACTS_SNS_INBOUND_TOPICS": TOPIC})
    try:
        def post(message: dict[str, Any]) -> int:
            return httpx.post(server.url + HOOK, content=orjson.dumps(message),
                              timeout=10).status_code

        foreign = "https://example.com/SimpleNotificationService-0123.pem"
        assert post(signer.sign(inbound_sms(PHONE, "123456", SigningCertURL=foreign))) == 403
        assert post(signer.sign(inbound_sms(PHONE, "123456", TopicArn=OTHER_TOPIC))) == 403
        assert post({"Type": "Notification"}) == 403
        assert httpx.post(server.url + HOOK, content=b"{}", timeout=10).status_code == 400
    finally:
        server.stop()
    workdir = tmp_path / "off"
    workdir.mkdir()
    off = start_server(workdir)
    try:
        answer = httpx.post(off.url + HOOK, content=orjson.dumps(inbound_sms(PHONE, "1")),
                            timeout=10)
        assert answer.status_code == 404
    finally:
        off.stop()
