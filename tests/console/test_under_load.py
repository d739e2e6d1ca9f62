"""The console when there is a lot of it: an engagement that sent many pages costs a bounded
number of API calls a view, and the overview says when open engagements may be missing."""

from __future__ import annotations

from collections import Counter

from starlette.testclient import TestClient

from incident_contacts.console import routes
from incident_contacts.engine.runner import run_all_due
from tests.console.test_console import ACCOUNT, REGION, api, make_app, messages, sign_in
from tests.console.test_incident_flow import active_person, page_and_deliver, rows_of, walk


def counted(app, monkeypatch) -> Counter[str]:
    """The API operations the console calls from now on, by name."""
    calls: Counter[str] = Counter()
    real = app.dispatcher.call

    def call(caller, operation, params, *args, **kwargs):
        calls[operation] += 1
        return real(caller, operation, params, *args, **kwargs)

    monkeypatch.setattr(app.dispatcher, "call", call)
    return calls


def people_paged(app, count: int) -> str:
    """An escalation plan whose one stage engages ``count`` people, each with one activated
    email channel; the engagement of it, with its pages sent. The clock moves a tenth of a
    second a person, so that the account's requests stay within the API's throttle."""
    people = []
    for at in range(count):
        app.runtime.clock.advance(0.1)
        person = api(app, "CreateContact", Alias=f"p{at:03d}", Type="PERSONAL",
                     Plan={"Stages": []})["ContactArn"]
        mail = api(app, "CreateContactChannel", ContactId=person, Name="mail", Type="EMAIL",
                   DeliveryAddress={"SimpleAddress": f"p{at}@example.com"},
                   DeferActivation=True)["ContactChannelArn"]
        api(app, "SendActivationCode", ContactChannelId=mail)
        (sent,) = messages(app, mail)
        api(app, "ActivateContactChannel", ContactChannelId=mail,
            ActivationCode=sent["ActivationCode"])
        target = {"ChannelTargetInfo": {"ContactChannelId": mail}}
        api(app, "UpdateContact", ContactId=person,
            Plan={"Stages": [{"DurationInMinutes": 0, "Targets": [target]}]})
        people.append(person)
    plan = api(app, "CreateContact", Alias="everyone", Type="ESCALATION", Plan={"Stages": [
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": p, "IsEssential": False}} for p in people]}]}
               )["ContactArn"]
    arn = api(app, "StartEngagement", ContactId=plan, Sender="monitor", Subject="all hands",
              Content="c")["EngagementArn"]
    page_and_deliver(app)
    return arn


def test_an_engagement_with_many_pages_is_shown_a_few_at_a_time(tmp_path, monkeypatch):
    app = make_app(tmp_path, throttle_rate=0)
    arn = people_paged(app, 30)
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        calls = counted(app, monkeypatch)
        first = client.get("/console/engagement", params={"arn": arn}).text
        shown = len(rows_of(first))
        assert shown == routes.PAGES_SHOWN <= 25
        # Each page shown: its receipts, the contacts it came through, its person's channels.
        assert calls == {"DescribeEngagement": 1, "ListPagesByEngagement": 1,
                         "ListPageReceipts": shown, "ListPageResolutions": shown,
                         "ListContactChannels": shown}
        rows = walk(client, "/console/engagement", arn=arn)
        assert len(rows) == 30
        assert all(row.split()[1:3] == ["through", "everyone,"] for row in rows), rows[:2]
        assert len({row.split()[0] for row in rows}) == len(rows)


def test_a_persons_own_engagement_asks_for_no_resolutions(app, client, monkeypatch):
    """Pages to the engaged person have no path to show: no ListPageResolutions; one
    ListContactChannels for the person, and none before a receipt names a channel."""
    ama, _mail, _phone = active_person(app)
    page_and_deliver(app)
    arn = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
              Content="db-1")["EngagementArn"]
    run_all_due(app.runtime)                    # paged, not delivered yet: no receipts
    calls = counted(app, monkeypatch)
    waiting = rows_of(client.get("/console/engagement", params={"arn": arn}).text)
    assert len(waiting) == 2 and all("Waiting to be sent" in row for row in waiting)
    assert calls == {"DescribeEngagement": 1, "ListPagesByEngagement": 1,
                     "ListPageReceipts": 2}
    page_and_deliver(app)
    calls.clear()
    sent = rows_of(client.get("/console/engagement", params={"arn": arn}).text)
    assert sorted(row.split()[1] for row in sent) == ["mail", "phone"]
    assert all(row.startswith("ama ") and "through" not in row for row in sent)
    assert calls == {"DescribeEngagement": 1, "ListPagesByEngagement": 1,
                     "ListPageReceipts": 2, "ListContactChannels": 1}


def test_the_overview_says_when_open_engagements_may_be_missing(tmp_path):
    app = make_app(tmp_path, throttle_rate=0)
    ama, _mail, _phone = active_person(app)
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        assert "No engagements." in client.get("/console/").text
        first = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="s",
                    Content="c")["EngagementArn"]
        api(app, "StopEngagement", EngagementId=first)
        overview = client.get("/console/").text
        assert "None: every engagement is stopped." in overview
        assert "older ones may be open" not in overview
        for at in range(101):
            api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject=f"s{at}",
                Content="c")
        overview = client.get("/console/").text
        assert len(rows_of(overview)) == 100           # the oldest two are not looked at
        assert "Only the 100 newest engagements are looked at here (100 of them open): " \
               "older ones may be open too." in overview
        for engagement in api(app, "ListEngagements", MaxResults=100)["Engagements"]:
            api(app, "StopEngagement", EngagementId=engagement["EngagementArn"])
        overview = client.get("/console/").text
        assert "None among the 100 newest." in overview
        assert "(0 of them open): older ones may be open too." in overview


def test_watching_a_large_engagement_leaves_the_account_its_requests(tmp_path):
    """The console's calls count against the account's API throttle (by default 200 reads at
    once, then 50 a second), as any client's do. One view of an engagement of 70 pages once
    made 212 calls: its last pages showed ThrottlingException, and the account's own clients
    were refused until the bucket refilled. A view now costs at most 77."""
    app = make_app(tmp_path)                    # the default throttle
    arn = people_paged(app, 70)
    app.runtime.clock.advance(10)               # the account's buckets full again
    with TestClient(app) as client:
        sign_in(client, account=ACCOUNT, region=REGION)
        view = client.get("/console/engagement", params={"arn": arn})
        assert view.status_code == 200
        assert "ThrottlingException" not in view.text
        assert len(rows_of(view.text)) == routes.PAGES_SHOWN
        # The account's clients still have most of the burst.
        for _ in range(100):
            api(app, "ListContacts", MaxResults=1)
