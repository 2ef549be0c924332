"""Request ids from proxies are echoed only when short and plain."""

import pytest


@pytest.mark.parametrize("offered", ["abc-123_x.y", "A" * 64])
def test_plain_request_ids_are_kept(client, offered):
    assert (
        client.get("/healthz", headers={"X-Request-Id": offered}).headers["X-Request-Id"] == offered
    )


@pytest.mark.parametrize("offered", ["A" * 65, "bad id", "x;injected=1", "é"])
def test_other_request_ids_are_replaced(client, offered):
    echoed = client.get("/healthz", headers={"X-Request-Id": offered}).headers["X-Request-Id"]
    assert echoed != offered
    assert len(echoed) == 32
