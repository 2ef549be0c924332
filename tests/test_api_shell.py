"""API shell: OpenAPI document, docs page, problem+json errors, pagination."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_document_validates_as_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    validate(spec)
    assert "/api/v1/auth/tokens" in spec["paths"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/docs/static/" in page.data
    asset = client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


def test_unknown_api_path_is_problem_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 404 and body["title"] == "Not Found"


def test_pagination_shape_and_limits(api_as):
    root = api_as("system_admin", "DM")
    page = root.get("/api/v1/departments?page=2&per_page=10").get_json()
    assert page["total"] == 25 and page["page"] == 2 and page["per_page"] == 10
    assert len(page["items"]) == 10
    too_big = root.get("/api/v1/departments?per_page=100000")
    assert too_big.status_code == 422
    assert "per_page" in too_big.get_json()["errors"]


def test_api_responses_carry_a_request_id(client):
    response = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"
