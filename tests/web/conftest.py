"""Page tests with the Flask test client: a browser-like client that keeps cookies and sends
each form's CSRF token, as a real form would."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from safetycheck.clock import FrozenClock
from tests.factories import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def csrf_token_in(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class WebClient:
    """`get(url)`, `post(url, data)` (adds the CSRF token of the last page seen unless
    `csrf=False`) and `sign_in(user)`."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.token: str | None = None

    def get(self, url: str, **kw: Any) -> Any:
        response = self.client.get(url, headers=HTML, **kw)
        self._remember(response)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any) -> Any:
        form = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")  # signed out: the sign-in page's token (signed in: see sign_in)
            form.setdefault("csrf_token", self.token)
        response = self.client.post(url, data=form, headers=HTML, **kw)
        self._remember(response)
        return response

    def sign_in(self, user: Any, password: str = PASSWORD) -> Any:
        self.get("/login")
        response = self.post("/login", {"email": user.email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.token = None  # a new session has a new CSRF secret: take it from the landing page
        self.get(response.location)
        return response

    def _remember(self, response: Any) -> None:
        response.get_data()  # buffer a streamed file, so that closing it here leaves the body
        response.close()
        if response.mimetype == "text/html":
            match = CSRF_FIELD.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1)


@pytest.fixture
def web(app: Flask, clock: FrozenClock) -> WebClient:
    return WebClient(app)


@pytest.fixture
def web_as(app: Flask, clock: FrozenClock):
    """`web_as(user)`: a WebClient signed in as that user."""

    def make(user: Any) -> WebClient:
        client = WebClient(app)
        client.sign_in(user)
        return client

    return make
