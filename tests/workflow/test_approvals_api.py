"""Approvals API: the inbox, reading and deciding requests, policies, delegations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_approvals_helpers import DOC, expense_policy, world_fixture

from grp.db import db
from grp.workflow.approvals.models import ApprovalPolicy
from grp.workflow.approvals.registry import local_date


@pytest.fixture
def world(app, create_user, departments):
    yield from world_fixture(app, create_user, departments)


@pytest.fixture
def api(world, api_client):
    """`api("mgr")`: an API client acting as that user of the world in their department."""
    clients = {}

    def _api(username: str, department: str | None = None) -> object:
        user = world.users[username]
        department = department or ("DM" if username.startswith("dm.") else "POLICE")
        key = (username, department)
        if key not in clients:
            clients[key] = api_client(user, department)
        return clients[key]

    return _api


def inbox(client) -> list[int]:
    response = client.get("/api/v1/approvals/inbox")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return [item["request_id"] for item in body["items"]]


def test_the_inbox_lists_exactly_my_pending_tasks(world, api):
    small = world.submit("500.00", document_id="S-1").id
    big = world.submit("25000.00", document_id="B-1").id
    assert inbox(api("mgr")) == [small, big]
    assert inbox(api("hr1")) == inbox(api("emp")) == inbox(api("outsider")) == []
    item = api("mgr").get("/api/v1/approvals/inbox").get_json()["items"][1]
    assert item["document_type"] == DOC and item["document_id"] == "B-1"
    assert item["amount"] == "25000.00"
    assert item["requester"]["username"] == "emp"
    assert (item["step_number"], item["step"], item["acting_for"]) == (1, "Manager", None)
    approved = api("mgr").post(f"/api/v1/approvals/{big}/approve", json={"comment": "OK"})
    assert approved.status_code == 200, approved.get_json()
    assert inbox(api("mgr")) == [small]
    assert inbox(api("hr1")) == inbox(api("hr2")) == [big]
    filtered = api("hr1").get("/api/v1/approvals/inbox?document_type=other").get_json()
    assert filtered["items"] == []


def test_a_decision_is_recorded_with_who_when_and_why(world, api):
    request_id = world.submit("25000.00").id
    response = api("mgr").post(
        f"/api/v1/approvals/{request_id}/approve", json={"comment": "Budget line 4"}
    )
    body = response.get_json()
    assert body["state"] == "pending"
    assert body["current_step"] == {"number": 2, "name": "HR", "mode": "any"}
    assert [(h["action"], h["actor"] and h["actor"]["username"]) for h in body["history"]] == [
        ("submitted", "emp"),
        ("approved", "mgr"),
    ]
    assert body["history"][1]["comment"] == "Budget line 4"
    assert body["history"][1]["at"] and body["history"][1]["step_number"] == 1
    assert body["can_decide"] is False
    rejected = api("hr1").post(
        f"/api/v1/approvals/{request_id}/reject", json={"comment": "Over the limit"}
    )
    assert rejected.status_code == 200
    assert rejected.get_json()["state"] == "rejected"
    assert world.decided == [(request_id, "rejected")]
    again = api("hr2").post(f"/api/v1/approvals/{request_id}/approve", json={})
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"


def test_anyone_but_a_current_approver_is_refused_with_403(world, api):
    request_id = world.submit("25000.00", requester="hr.maker").id
    for username in ("outsider", "hr1", "boss", "police.admin", "hr.maker"):
        response = api(username).post(f"/api/v1/approvals/{request_id}/approve", json={})
        assert response.status_code == 403, (username, response.get_json())
        assert response.get_json()["status"] == 403
    assert api("mgr").post(f"/api/v1/approvals/{request_id}/approve", json={}).status_code == 200
    # At the HR step, the requester holds the HR role yet is refused: maker-checker.
    refused = api("hr.maker").post(f"/api/v1/approvals/{request_id}/approve", json={})
    assert refused.status_code == 403
    assert "maker-checker" in refused.get_json()["detail"]
    assert api("hr1").post(f"/api/v1/approvals/{request_id}/approve", json={}).status_code == 200
    assert world.reload(request_id).state == "approved"


def test_a_rejection_without_a_comment_is_422(world, api):
    request_id = world.submit().id
    response = api("mgr").post(f"/api/v1/approvals/{request_id}/reject", json={"comment": " "})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"comment"}
    assert world.reload(request_id).state == "pending"


def test_requests_are_shown_to_makers_participants_and_admins_only(world, api):
    request_id = world.submit().id
    path = f"/api/v1/approvals/{request_id}"
    for username in ("emp", "mgr", "police.admin"):
        response = api(username).get(path)
        assert response.status_code == 200, username
    assert api("emp").get(path).get_json()["history"][0]["action"] == "submitted"
    assert api("mgr").get(path).get_json()["can_decide"] is True
    for username in ("outsider", "hr1"):
        assert api(username).get(path).status_code == 404, username


def test_another_departments_request_is_404(world, api):
    request_id = world.submit().id
    for username in ("dm.admin", "dm.mgr"):
        client = api(username)
        assert client.get(f"/api/v1/approvals/{request_id}").status_code == 404
        assert client.post(f"/api/v1/approvals/{request_id}/approve", json={}).status_code == 404
        assert inbox(client) == []


def test_a_delegate_decides_through_the_api(world, api):
    today = local_date()
    created = api("mgr").post(
        "/api/v1/approval-delegations",
        json={
            "delegate_id": world.boss.id,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=7)).isoformat(),
            "reason": "Annual leave",
        },
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["in_force"] is True
    request_id = world.submit().id
    item = api("boss").get("/api/v1/approvals/inbox").get_json()["items"][0]
    assert item["acting_for"]["username"] == "mgr"
    body = api("boss").post(f"/api/v1/approvals/{request_id}/approve", json={}).get_json()
    assert body["history"][-1]["actor"]["username"] == "boss"
    assert body["history"][-1]["acting_for"]["username"] == "mgr"
    mine = api("mgr").get("/api/v1/approval-delegations").get_json()
    assert [d["delegate"]["username"] for d in mine["items"]] == ["boss"]
    assert api("outsider").get("/api/v1/approval-delegations").get_json()["items"] == []
    delegation_id = mine["items"][0]["id"]
    path = f"/api/v1/approval-delegations/{delegation_id}"
    assert api("outsider").delete(path).status_code == 404
    assert api("mgr").delete(path).status_code == 204


def test_delegations_for_others_are_for_department_admins(world, api):
    today = local_date().isoformat()
    body = {"delegator_id": world.boss.id, "delegate_id": world.hr1.id, "starts_on": today}
    body["ends_on"] = today
    refused = api("mgr").post("/api/v1/approval-delegations", json=body)
    assert refused.status_code == 422
    assert set(refused.get_json()["errors"]) == {"delegator_id"}
    assert api("police.admin").post("/api/v1/approval-delegations", json=body).status_code == 201
    everyone = api("police.admin").get("/api/v1/approval-delegations").get_json()
    assert [d["delegator"]["username"] for d in everyone["items"]] == ["boss"]
    invalid = api("mgr").post(
        "/api/v1/approval-delegations", json={"delegate_id": world.mgr.id, "starts_on": "x"}
    )
    assert invalid.status_code == 422
    assert {"starts_on", "ends_on"} <= set(invalid.get_json()["errors"])


# --------------------------------------------------------------------------- policies


def as_json(policy: dict) -> dict:
    """The policy with amounts as the decimal strings the API exchanges."""
    steps = [
        {k: (str(v) if k.endswith("_amount") and v is not None else v) for k, v in step.items()}
        for step in policy["steps"]
    ]
    return {**policy, "steps": steps}


def test_department_admins_manage_policies(world, api):
    admin = api("police.admin")
    listed = admin.get("/api/v1/approval-policies").get_json()
    assert [p["name"] for p in listed["items"]] == ["Expenses"]
    steps = listed["items"][0]["steps"]
    assert [(s["sequence"], s["name"], s["min_amount"]) for s in steps] == [
        (1, "Manager", None),
        (2, "HR", "10000.00"),
    ]
    created = admin.post(
        "/api/v1/approval-policies",
        json=as_json(expense_policy(name="Travel", conditions={"category": ["travel"]})),
    )
    assert created.status_code == 201, created.get_json()
    policy = created.get_json()
    assert policy["conditions"] == {"category": ["travel"]}
    changed = admin.put(
        f"/api/v1/approval-policies/{policy['id']}",
        json={**as_json(expense_policy(name="Travel")), "version": policy["version"]},
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version"] == policy["version"] + 1
    stale = admin.put(
        f"/api/v1/approval-policies/{policy['id']}",
        json={**as_json(expense_policy(name="Travel")), "version": policy["version"]},
    )
    assert stale.status_code == 409
    assert admin.get(f"/api/v1/approval-policies/{policy['id']}").status_code == 200


def test_policy_validation_errors_are_per_field(world, api):
    response = api("police.admin").post(
        "/api/v1/approval-policies",
        json={
            "document_type": "unknown.type",
            "name": "Expenses 2",
            "steps": [
                {"name": "HR", "approver_kind": "role"},
                {"name": "Nobody", "approver_kind": "users", "user_ids": [999999]},
            ],
        },
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"document_type", "steps"}
    assert set(errors["steps"]) == {"0", "1"}
    assert set(errors["steps"]["0"]) == {"role_code"}
    assert set(errors["steps"]["1"]) == {"user_ids"}
    shape = api("police.admin").post(
        "/api/v1/approval-policies",
        json={"name": "", "steps": [{"approver_kind": "boss", "min_amount": "abc"}]},
    )
    assert shape.status_code == 422
    errors = shape.get_json()["errors"]
    assert {"document_type", "name", "steps"} <= set(errors)
    assert {"name", "approver_kind", "min_amount"} <= set(errors["steps"]["0"])
    assert db.session.query(ApprovalPolicy).count() == 1


def test_policies_are_for_admins_of_their_department(world, api):
    assert api("mgr").get("/api/v1/approval-policies").status_code == 403
    assert api("mgr").post("/api/v1/approval-policies", json={}).status_code == 403
    dm_admin = api("dm.admin")
    assert dm_admin.get("/api/v1/approval-policies").get_json()["items"] == []
    assert dm_admin.get(f"/api/v1/approval-policies/{world.policy_id}").status_code == 404
    put = dm_admin.put(
        f"/api/v1/approval-policies/{world.policy_id}", json=as_json(expense_policy())
    )
    assert put.status_code == 404


def test_the_openapi_document_describes_the_approval_endpoints(client, world):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/approvals/inbox",
        "/api/v1/approvals/{request_id}",
        "/api/v1/approvals/{request_id}/approve",
        "/api/v1/approvals/{request_id}/reject",
        "/api/v1/approval-policies",
        "/api/v1/approval-policies/{policy_id}",
        "/api/v1/approval-delegations",
    ):
        assert path in paths, path
