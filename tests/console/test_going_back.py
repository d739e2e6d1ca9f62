"""Where a form goes back to: the page it came from, at the same place in its list (its
filters, its next and previous pages), shown again when the form fails; never another site,
nor an address a browser cannot open (a form's own action); and a form sent without a
session costs only its first bytes."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
from starlette.routing import Route
from starlette.testclient import TestClient

from incident_contacts.api.bodies import UNREAD
from incident_contacts.console import routes
from incident_contacts.console.routes import build_console
from tests.console.test_console import (
    ACCOUNT,
    REGION,
    api,
    csrf,
    daily_rotation,
    login,
    messages,
    seed,
)
from tests.console.test_editing import contact_page, flash, post
from tests.console.test_incident_flow import active_person, beside, page_and_deliver, rows_of
from tests.console.test_rotations_tags_policies import fields_of, forms_of


def following(page: str) -> str:
    link = re.search(r'<a rel="next" href="([^"]+)"', page)
    assert link, "no Next page link"
    return html.unescape(link.group(1))


def page_number(page: str) -> str | None:
    number = re.search(r"<span>Page (\d+)</span>", page)
    return number.group(1) if number else None


# -- the list position is kept ------------------------------------------------------------------


def test_a_form_on_the_second_page_of_an_engagement_comes_back_to_it(app, client,
                                                                     monkeypatch):
    monkeypatch.setattr(routes, "PAGES_SHOWN", 1)
    ama, mail, phone = active_person(app)
    page_and_deliver(app)                        # the activation codes
    arn = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
              Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    first = client.get("/console/engagement", params={"arn": arn}).text
    second = client.get(following(first)).text
    assert page_number(second) == "2" and len(rows_of(second)) == 1
    assert rows_of(second) != rows_of(first)
    (form,) = forms_of(second, "acknowledge")
    query = parse_qs(urlsplit(form["back"]).query, keep_blank_values=True)
    assert set(query) == {"arn", "next", "prev"}

    # Refused: the same page of pages again, with the code typed beside its form.
    refused = client.post("/console/act/acknowledge", data={**form, "code": "000000"})
    assert refused.status_code == 200
    assert beside(refused.text, "acknowledge").startswith("ValidationException: ")
    assert [f["arn"] for f in forms_of(refused.text, "acknowledge")] == [form["arn"]]
    assert page_number(refused.text) == "2" and 'rel="prev"' in refused.text
    assert fields_of(refused.text, "acknowledge")["code"] == "000000"

    # Done: back to that page, not the first.
    codes = {m["PageArn"]: m["AcceptCode"] for c in (mail, phone)
             for m in messages(app, c) if m["Purpose"] == "PAGE"}
    done = client.post("/console/act/acknowledge", data={**form, "code": codes[form["arn"]]})
    assert flash(done.text) == "done: The page is acknowledged."
    assert page_number(done.text) == "2"
    (row,) = rows_of(done.text)
    assert "Read: acknowledged" in row


def test_a_form_on_a_filtered_list_page_comes_back_to_it(app, client, monkeypatch):
    monkeypatch.setattr(routes, "LISTED", 1)
    for alias in ("abe", "ama", "kofi"):
        api(app, "CreateContact", Alias=alias, Type="PERSONAL", Plan={"Stages": []})
    first = client.get("/console/contacts", params={"prefix": "a"}).text
    second = client.get(following(first)).text
    assert [r.split()[0] for r in rows_of(second)] == ["ama"] and page_number(second) == "2"
    refused = post(client, "create-contact", second, back=fields_of(second, "create-contact")
                   ["back"], alias="Not An Alias", name="", type="PERSONAL")
    assert beside(refused.text, "create-contact").startswith("ValidationException: ")
    assert [r.split()[0] for r in rows_of(refused.text)] == ["ama"]
    assert page_number(refused.text) == "2" and 'value="a"' in refused.text
    assert fields_of(refused.text, "create-contact")["alias"] == "Not An Alias"

    # Rotations, filtered by name: the same.
    ama = api(app, "ListContacts", AliasPrefix="ama")["Contacts"][0]["ContactArn"]
    for _ in range(2):
        daily_rotation(app, [ama])
    first = client.get("/console/rotations", params={"name": "prim"}).text
    second = client.get(following(first)).text
    typed = {**fields_of(second, "create-rotation"), "name": "late", "members": "ama",
             "zone": "Mars/Olympus"}
    refused = client.post("/console/act/create-rotation", data=typed)
    assert beside(refused.text, "create-rotation").startswith("'Mars/Olympus' is not")
    assert rows_of(refused.text) == rows_of(second) and page_number(refused.text) == "2"
    assert 'value="prim"' in refused.text


def test_a_long_trail_of_previous_pages_is_cut_to_keep_forms_small(app, client,
                                                                   monkeypatch):
    """Fifty "Previous page" tokens would make every form's ``back`` longer than a form may
    be; the oldest are left out (the page then has no number), the position is kept."""
    monkeypatch.setattr(routes, "PAGES_SHOWN", 1)
    ama, _mail, _phone = active_person(app)
    arn = api(app, "StartEngagement", ContactId=ama, Sender="monitor", Subject="DB down",
              Content="db-1")["EngagementArn"]
    page_and_deliver(app)
    first = client.get("/console/engagement", params={"arn": arn}).text
    token = parse_qs(urlsplit(following(first)).query)["next"][0]
    trail = [""] + [f"t{at:02d}-" + "x" * 200 for at in range(49)]
    page = client.get("/console/engagement", params={"arn": arn, "next": token,
                                                     "prev": trail}).text
    (form,) = forms_of(page, "acknowledge")
    assert len(form["back"]) <= routes.BACK_LIMIT
    kept = parse_qs(urlsplit(form["back"]).query, keep_blank_values=True)
    assert kept["next"] == [token] and kept["arn"] == [arn]
    assert kept["prev"] == trail[-len(kept["prev"]):] and len(kept["prev"]) > 5
    refused = client.post("/console/act/acknowledge", data={**form, "code": "000000"})
    assert refused.status_code == 200, refused.text       # not InvalidFormToken: it fits
    assert [f["arn"] for f in forms_of(refused.text, "acknowledge")] == [form["arn"]]
    assert re.search(r'<a rel="prev" href="[^"]*t48-', refused.text)


def test_a_page_asked_for_without_a_session_leads_back_to_its_place(app):
    """However long its trail of previous pages, the page's address fits the sign-in form
    (``MAX_FORM``), which leads back to it, at the same page of its list."""
    trail = [""] + [f"t{at:02d}-" + "x" * 400 for at in range(49)]
    asked = {"arn": "arn:aws:ssm-contacts:us-east-1:111122223333:engagement/ama/1",
             "next": "n-1", "prev": trail, "junk": "j"}
    with TestClient(app) as client:
        answer = client.get("/console/engagement", params=asked, follow_redirects=False)
        assert answer.status_code == 303
        (then,) = parse_qs(urlsplit(answer.headers["location"]).query)["then"]
        assert len(then) <= routes.BACK_LIMIT
        kept = parse_qs(urlsplit(then).query, keep_blank_values=True)
        assert kept["next"] == ["n-1"] and kept["prev"] == trail[-len(kept["prev"]):]
        assert "junk" not in kept
        signed = login(client, account=ACCOUNT, region=REGION, then=then)
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == then


# -- never elsewhere, never to a form's action ---------------------------------------------------


def test_a_back_that_is_not_a_page_goes_to_the_forms_resource(app, client):
    contact, channel = seed(app)
    page = contact_page(client, contact)
    engagement = api(app, "StartEngagement", ContactId=contact, Sender="s", Subject="s",
                     Content="c")["EngagementArn"]
    # Done: the contact's page, not a 405 from GET /console/act/rename-contact.
    for back in ("/console/act/rename-contact", "/console/preview/update-rotation",
                 "/console/login", "/console/logout", "/console//contacts",
                 "/console/../console/contacts", "https://elsewhere.example/console/",
                 "//elsewhere.example/console/contacts", "/console\\contacts"):
        done = post(client, "rename-contact", page, arn=contact, name="Ama", back=back)
        assert done.status_code == 200, (back, done.status_code)
        assert done.url.path == "/console/contact", back
        assert flash(done.text) == "done: The contact's name is changed."
    # A channel's form goes to its contact's page.
    done = post(client, "send-code", page, arn=channel, back="/console/act/send-code")
    assert done.status_code == 200 and done.url.path == "/console/contact"
    assert parse_qs(done.url.query.decode())["arn"] == [contact]
    # Refused: the resource's page is shown again with the error beside the form.
    refused = post(client, "stop", page, arn=engagement, reason="r" * 300, confirm="yes",
                   back="/console/act/stop")
    assert refused.status_code == 200 and "<h1>s</h1>" in refused.text
    assert beside(refused.text, "stop").startswith("ValidationException: ")
    # A form naming nothing the console has a page for goes to the overview.
    done = post(client, "create-contact", page, alias="kofi", type="PERSONAL",
                back="/console/act/create-contact")
    assert done.status_code == 200 and flash(done.text) == "done: The contact is created."


def test_a_back_with_characters_a_header_cannot_carry_is_written_again(app, client):
    contact, _ = seed(app)
    page = contact_page(client, contact)
    answer = client.post("/console/act/rename-contact", follow_redirects=False, data={
        "csrf": csrf(page), "arn": contact, "name": "Ama",
        "back": "/console/contacts?prefix=a\r\nSet-Cookie: x=1#top"})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert "\r" not in location and "\n" not in location and "#" not in location
    assert location.startswith("/console/contacts?")
    assert parse_qs(urlsplit(location).query) == {"prefix": ["a\r\nSet-Cookie: x=1#top"]}
    assert "x=1" not in answer.headers.get("set-cookie", "")


def test_signing_in_never_leads_to_a_forms_action(app):
    with TestClient(app) as client:
        for then in ("/console/act/engage", "/console/preview/create-rotation",
                     "/console/logout"):
            answer = login(client, account=ACCOUNT, region=REGION, then=then)
            assert answer.headers["location"] == "/console/", then
            client.cookies.clear()
        answer = login(client, account=ACCOUNT, region=REGION,
                       then="/console/engagement?arn=a&next=b&prev=")
        assert answer.headers["location"] == "/console/engagement?arn=a&next=b&prev="


def test_every_page_of_the_console_is_a_place_to_go_back_to(app):
    """The pages a form may go back to are the console's GET routes but the sign-in page and
    the forms' own addresses (opened, they only lead to a list)."""
    console = build_console(app.runtime, app.dispatcher, None)
    pages = {"/console" + route.path for route in console.routes
             if isinstance(route, Route) and route.methods == {"GET", "HEAD"}}
    assert pages - routes.PAGE_PATHS == {"/console/act/{action}", "/console/preview/{action}"}
    assert pages >= routes.PAGE_PATHS


# -- a form sent without a session --------------------------------------------------------------


def test_a_form_sent_without_a_session_is_read_no_further_than_its_back(app):
    """Three MiB of policy without a session: only its first bytes are read, enough to find
    the page the form came from for the sign-in page to lead back to."""
    contact, _ = seed(app)
    back = f"/console/contact?arn={contact}"
    head = urlencode({"csrf": "c" * 43, "arn": contact, "back": back}).encode()
    body = head + b"&policy=" + b"%7B" * (1024 * 1024)
    chunk = 4096
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        part = body[read:read + chunk]
        read += len(part)
        return {"type": "http.request", "body": part, "more_body": read < len(body)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/console/act/put-policy",
             "raw_path": b"/console/act/put-policy", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"),
                         (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    anyio.run(app, scope, receive, send)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] == 303
    location = dict(start["headers"])[b"location"].decode()
    assert parse_qs(urlsplit(location).query) == {"then": [back], "unsent": ["1"]}
    assert read <= routes.PEEK + chunk, f"{read} bytes read without a session"
    assert scope.get(UNREAD) is True      # so the server closes rather than drains the rest


def test_a_form_without_a_session_whose_back_is_cut_short_leads_to_its_resource(app):
    contact, _ = seed(app)
    with TestClient(app) as client:
        filler = "x" * routes.PEEK
        answer = client.post("/console/act/rename-contact", follow_redirects=False,
                             content=urlencode({"arn": contact, "pad": filler,
                                                "back": "/console/contacts"}),
                             headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 303
        then = parse_qs(urlsplit(answer.headers["location"]).query)["then"]
        assert then == [f"/console/contact?{urlencode({'arn': contact})}"]
