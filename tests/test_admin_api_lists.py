"""``/api/admin/alerts`` and ``/api/admin/retry-queue``: paginated, filtered lists; bad list
arguments get 400."""

from __future__ import annotations

import pytest

from tests.adminkit import pending_delivery


def test_retry_queue_lists_pending_deliveries_paginated_and_filtered(client, viewer):
    for i in range(5):
        pending_delivery(f"S{i}", "warning" if i % 2 else "mahroom", attempts=1 + i % 3)
    pending_delivery("F1", attempts=0)  # never tried: not in the retry queue
    pending_delivery("D1", status="dead")
    data = client.get("/api/admin/retry-queue?perPage=2&page=2", headers=viewer).json["data"]
    assert (data["total"], data["pages"], data["page"], data["perPage"], len(data["items"])) == (5, 3, 2, 2, 2)
    assert data["summary"]["totalPending"] == 5
    item = data["items"][0]
    assert {"id", "kind", "channel", "recipient", "attempts", "nextAttemptAt", "lastError", "status"} <= set(item)
    warnings = client.get("/api/admin/retry-queue?type=warning", headers=viewer).json["data"]
    assert warnings["total"] == 2 and {i["kind"] for i in warnings["items"]} == {"warning"}
    dead = client.get("/api/admin/retry-queue?status=dead", headers=viewer).json["data"]
    assert [i["recipient"] for i in dead["items"]] == ["d1@uni.example"]


def test_alerts_list_is_paginated_and_filtered(client, viewer):
    pending_delivery("S1", "warning")
    pending_delivery("S2", "mahroom")
    data = client.get("/api/admin/alerts?kind=mahroom", headers=viewer).json["data"]
    assert data["total"] == 1
    assert data["items"][0]["studentNumber"] == "S2" and data["items"][0]["rate"] == "70.00"
    assert client.get("/api/admin/alerts?student=S1", headers=viewer).json["data"]["total"] == 1


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "perPage=1000", "perPage=0", "type=urgent", "status=sent", "attempts=-1", "channel=sms"],
)
def test_bad_list_arguments_get_400(client, viewer, query):
    response = client.get(f"/api/admin/retry-queue?{query}", headers=viewer)
    assert response.status_code == 400 and response.json["success"] is False


def test_bad_alert_filter_gets_400(client, viewer):
    assert client.get("/api/admin/alerts?kind=nope", headers=viewer).status_code == 400
