"""The plan editor of an escalation plan in an account of many contacts: the contacts are
listed once per page (one ``<datalist>``), each stage row holds only its own targets and fields
to add more, so the page stays small and works without script."""

from __future__ import annotations

import json
import re

import pytest

from incident_contacts.console import forms
from tests.console.test_console import OTHER, api, make_app
from tests.console.test_editing import contact_page, flash
from tests.console.test_incident_flow import _Page
from tests.console.test_rotations_tags_policies import fields_of

PEOPLE = 500


@pytest.fixture
def app(tmp_path):
    """An application whose API throttle lets 500 contacts be created at once."""
    return make_app(tmp_path, throttle_rate=0)


def people(app, count: int) -> list[str]:
    return [api(app, "CreateContact", Alias=f"person-{n:03d}", DisplayName=f"Person {n}",
                Type="PERSONAL", Plan={"Stages": []})["ContactArn"] for n in range(count)]


def escalation(app, stages: list[list[str]]) -> str:
    return api(app, "CreateContact", Alias="sre", Type="ESCALATION", Plan={"Stages": [
        {"DurationInMinutes": 5, "Targets": [
            {"ContactTargetInfo": {"ContactId": arn, "IsEssential": False}} for arn in stage]}
        for stage in stages]})["ContactArn"]


def targets(app, arn: str) -> list[dict[str, bool]]:
    return [{t["ContactTargetInfo"]["ContactId"]: t["ContactTargetInfo"]["IsEssential"]
             for t in stage["Targets"]}
            for stage in api(app, "GetContact", ContactId=arn)["Plan"]["Stages"]]


def test_a_plan_of_an_account_of_500_contacts_lists_them_once(app, client):
    arns = people(app, PEOPLE)
    plan = escalation(app, [arns[0:3], arns[3:6], arns[6:9]])
    page = contact_page(client, plan)
    # Each contact is offered once (in the page's one list), not once per stage row: the page
    # was 630 KB when every row repeated all 500 as boxes.
    assert len(page.encode()) < 60_000
    assert page.count("<datalist") == 1
    assert all(page.count(f'value="person-{n:03d}"') == 1 for n in range(PEOPLE))
    assert '<option value="person-499">Person 499</option>' in page
    # The stages' own targets are ticked boxes; each row has fields to add more, labelled and
    # suggesting from the list.
    ticked = re.findall(r'name="(stage-\d+-target-\d+)" value="([^"]+)" checked', page)
    assert [value for _, value in ticked] == arns[:9]
    adds = re.findall(r'<label>Add a contact \(its alias\) <input name="(stage-(\d+)-target-\d+)" '
                      r'list="plan-choices"', page)
    assert [row for _, row in adds] == ["0"] * 3 + ["1"] * 3 + ["2"] * 3 + ["3"] * 3
    assert _Page(page).unlabelled() == []

    # Saved as shown, the plan is unchanged.
    form = fields_of(page, "update-plan")
    assert flash(client.post("/console/act/update-plan", data=form).text) == \
        "done: The plan is saved."
    assert targets(app, plan) == [dict.fromkeys(arns[s:s + 3], False) for s in (0, 3, 6)]

    # Typing aliases (in any case, with spaces around) and an ARN adds targets; one is
    # essential; a new stage is made of typed aliases; an unticked box leaves its stage.
    first_add, second_add = adds[0][0], adds[1][0]
    new_stage = adds[9][0]
    form.update({first_add: "  Person-100 ", first_add.replace("target", "essential"): "on",
                 second_add: arns[200], new_stage: "person-499", "stage-3-minutes": "10"})
    del form[ticked[1][0]]
    saved = client.post("/console/act/update-plan", data=form)
    assert flash(saved.text) == "done: The plan is saved."
    assert targets(app, plan) == [
        {arns[0]: False, arns[2]: False, arns[100]: True, arns[200]: False},
        dict.fromkeys(arns[3:6], False), dict.fromkeys(arns[6:9], False), {arns[499]: False}]


def test_a_typed_name_that_is_no_contact_is_refused_and_kept(app, client):
    arns = people(app, forms.BOXED_OPTIONS + 1)
    plan = escalation(app, [arns[:1]])
    page = contact_page(client, plan)
    form = fields_of(page, "update-plan")
    form["stage-0-target-1"] = "nobody-here"
    refused = client.post("/console/act/update-plan", data=form)
    assert flash(refused.text).startswith("error: ")
    # The page comes back with what was typed, to be corrected.
    kept = fields_of(refused.text, "update-plan")
    assert (kept["stage-0-target-0"], kept["stage-0-target-1"]) == (arns[0], "nobody-here")
    assert targets(app, plan) == [{arns[0]: False}]
    kept["stage-0-target-1"] = ""
    assert flash(client.post("/console/act/update-plan", data=kept).text) == \
        "done: The plan is saved."


def test_few_choices_are_offered_as_boxes_in_every_row(app, client):
    arns = people(app, forms.BOXED_OPTIONS)
    plan = escalation(app, [arns[:1]])
    page = contact_page(client, plan)
    assert "<datalist" not in page and 'list="plan-choices"' not in page
    boxes = re.findall(r'name="stage-(\d+)-target-\d+" value="([^"]+)"', page)
    assert sorted(value for row, value in boxes if row == "0") == sorted(arns)
    assert sorted(value for row, value in boxes if row == "1") == sorted(arns)


def test_stages_of_reads_typed_aliases_as_the_callers_contacts():
    from incident_contacts.service.context import Caller

    caller = Caller("111122223333", "eu-west-1")
    form = {"stages": "1", "stage-0-minutes": "0", "stage-0-target-0": " Ama ",
            "stage-0-target-1": "   ", "stage-0-essential-0": "on",
            "stage-0-target-2": "arn:aws:ssm-contacts:us-east-1:444455556666:contact/kofi"}
    assert forms.stages_of(form, "ESCALATION", caller) == [{"DurationInMinutes": 0, "Targets": [
        {"ContactTargetInfo": {
            "ContactId": "arn:aws:ssm-contacts:eu-west-1:111122223333:contact/ama",
            "IsEssential": True}},
        {"ContactTargetInfo": {
            "ContactId": "arn:aws:ssm-contacts:us-east-1:444455556666:contact/kofi",
            "IsEssential": False}}]}]


def test_a_contact_shared_from_another_account_is_chosen_by_its_arn(app, client):
    """Its alias would name a contact of the caller's own account."""
    arns = people(app, forms.BOXED_OPTIONS)
    shared = api(app, "CreateContact", account=OTHER, Alias="person-000", Type="PERSONAL",
                 Plan={"Stages": []})["ContactArn"]
    api(app, "PutContactPolicy", account=OTHER, ContactArn=shared, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                       "Action": ["ssm-contacts:GetContact", "ssm-contacts:StartEngagement"],
                       "Resource": shared}]}))
    plan = escalation(app, [])
    page = contact_page(client, plan)
    assert f'<option value="{shared}">person-000</option>' in page
    assert '<option value="person-000">Person 0</option>' in page
    form = fields_of(page, "update-plan")
    form.update({"stage-0-minutes": "0", "stage-0-target-0": "person-000"})
    assert flash(client.post("/console/act/update-plan", data=form).text) == \
        "done: The plan is saved."
    assert targets(app, plan) == [{arns[0]: False}]
    # The shared one, chosen, is sent by its ARN (whether it may be engaged is the API's say).
    form.update({"stage-0-target-0": shared})
    said = flash(client.post("/console/act/update-plan", data=form).text)
    assert shared in said or (said == "done: The plan is saved."
                              and targets(app, plan) == [{shared: False}])
