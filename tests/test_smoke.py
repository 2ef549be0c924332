def test_healthz(client):
    assert client.get("/healthz").status_code == 200


def test_readyz_reports_current_schema(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
