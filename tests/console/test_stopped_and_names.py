"""A stopped engagement offers no acknowledgement; the delivery page names channels."""

from __future__ import annotations

import re

from incident_contacts.console import routes
from tests.console.test_console import api, csrf, paged


def test_a_stopped_engagement_offers_no_acknowledgement(app, client):
    engagement, message = paged(app)
    api(app, "StopEngagement", EngagementId=engagement, Reason="fixed")
    page = client.get("/console/engagement", params={"arn": engagement}).text
    assert 'action="/console/act/acknowledge"' not in page
    assert "not acknowledged: this engagement has stopped" in page
    # A form kept open from before the stop is refused, and nothing is recorded.
    refused = client.post("/console/act/acknowledge", data={
        "arn": message["PageArn"], "code": message["AcceptCode"], "csrf": csrf(page),
        "back": f"/console/engagement?arn={engagement}"})
    assert refused.status_code == 200
    assert routes.STOPPED in refused.text
    assert "The page is acknowledged." not in refused.text
    (described,) = api(app, "ListPagesByEngagement", EngagementId=engagement)["Pages"]
    assert "ReadTime" not in described


def test_an_open_engagement_still_offers_acknowledgement(app, client):
    engagement, message = paged(app)
    page = client.get("/console/engagement", params={"arn": engagement}).text
    assert 'action="/console/act/acknowledge"' in page
    assert "this engagement has stopped" not in page
    done = client.post("/console/act/acknowledge", data={
        "arn": message["PageArn"], "code": message["AcceptCode"], "csrf": csrf(page),
        "back": f"/console/engagement?arn={engagement}"})
    assert "The page is acknowledged." in done.text


def person(app, alias: str, *names: str) -> list[str]:
    contact = api(app, "CreateContact", Alias=alias, Type="PERSONAL",
                  Plan={"Stages": []})["ContactArn"]
    channels = []
    for name in names:
        channel = api(app, "CreateContactChannel", ContactId=contact, Name=name, Type="EMAIL",
                      DeliveryAddress={"SimpleAddress": f"{alias}.{name}@example.com"},
                      DeferActivation=True)["ContactChannelArn"]
        api(app, "SendActivationCode", ContactChannelId=channel)
        channels.append(channel)
    return channels


def channel_cells(page: str) -> list[str]:
    return re.findall(r"<tr class=[^>]*><td>[^<]*</td><td[^>]*>([^<]*)</td>", page)


def test_the_delivery_page_names_channels_by_contact(app, client, monkeypatch):
    person(app, "ama", "work", "home")
    person(app, "kofi", "pager")
    calls: list[str] = []
    call = app.dispatcher.call

    def counted(caller, operation, params):
        calls.append(operation)
        return call(caller, operation, params)

    monkeypatch.setattr(app.dispatcher, "call", counted)
    page = client.get("/console/delivery").text
    assert sorted(channel_cells(page)) == ["ama: home", "ama: work", "kofi: pager"]
    # One call a contact, however many of its messages are shown.
    assert calls.count("ListContactChannels") == 2


def test_the_delivery_page_names_the_channels_of_a_bounded_number_of_contacts(
        app, client, monkeypatch):
    monkeypatch.setattr(routes, "NAMED_CONTACTS", 2)
    for alias in ("ama", "kofi", "yaw", "esi"):
        person(app, alias, "mail", "mail2")
    calls: list[str] = []
    call = app.dispatcher.call

    def counted(caller, operation, params):
        calls.append(operation)
        return call(caller, operation, params)

    monkeypatch.setattr(app.dispatcher, "call", counted)
    cells = channel_cells(client.get("/console/delivery").text)
    assert len(cells) == 8
    assert calls.count("ListContactChannels") == 2
    # The newest messages' contacts are named; the others' channels show their ARN's end.
    assert sorted(c for c in cells if ": " in c) == ["esi: mail", "esi: mail2",
                                                     "yaw: mail", "yaw: mail2"]
    assert all(c.startswith(("ama/", "kofi/")) for c in cells if ": " not in c)


def test_a_channel_that_is_gone_is_shown_by_its_arn(app, client):
    _work, gone = person(app, "ama", "work", "home")
    api(app, "DeleteContactChannel", ContactChannelId=gone)
    cells = channel_cells(client.get("/console/delivery").text)
    assert "ama: work" in cells
    assert gone.split("/", 1)[1] in cells
