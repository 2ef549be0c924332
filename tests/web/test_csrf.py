"""CSRF protection with the production setting (the other web tests turn it off)."""

from __future__ import annotations

import re

import pytest

from grp.testing.plugin import TEST_PASSWORD


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def csrf_token_in(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def test_a_form_post_without_the_token_is_refused(client, create_user):
    create_user("huda")
    response = client.post("/login", data={"username": "huda", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "The request could not be processed" in response.text
    assert client.post("/language", data={"language": "ar"}).status_code == 400


def test_a_form_post_with_the_token_works(client, create_user):
    create_user("huda")
    token = csrf_token_in(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "huda", "password": TEST_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    home = client.get("/")
    assert home.status_code == 200
    token = csrf_token_in(home.text)
    assert client.post("/language", data={"language": "ar", "csrf_token": token}).status_code == 303
    assert client.post("/logout").status_code == 400  # signed-in forms need it too
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
