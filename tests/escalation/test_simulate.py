"""`flask --app safetycheck sms`: finds the service the demo runs, on whatever port, and signs for it.

A small local HTTP server stands in for the running service: it records what arrives and checks
the signature the way the real webhook does (the twilio SDK's validator, for the URL it was
reached at).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from safetycheck import create_app
from safetycheck.escalation.simulate import RUN_URL_FILE

TOKEN = "development-auth-token"


class Received:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []


@pytest.fixture
def service() -> Iterator[tuple[str, Received]]:
    """A listener on a free port that answers TwiML to correctly signed texts, 403 otherwise."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            params = dict(
                urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode())
            )
            url = f"http://{self.headers['Host']}{self.path}"
            valid = RequestValidator(TOKEN).validate(url, params, self.headers["X-Twilio-Signature"])
            received.requests.append({"url": url, "params": params, "valid": valid})
            self.send_response(200 if valid else 403)
            self.end_headers()
            self.wfile.write(b"<Response><Message>checked out</Message></Response>")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cli_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app a second terminal gets: no SAFETYCHECK_PUBLIC_URL, the project's instance folder."""
    for name in ("SAFETYCHECK_PUBLIC_URL", "FLASK_RUN_HOST", "FLASK_RUN_PORT"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'sms.sqlite3'}", "SCHEDULER_ENABLED": False}
    )
    app.instance_path = str(tmp_path / "instance")
    Path(app.instance_path).mkdir()
    return app


def send(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["sms", "--from", "+447700900004", *args, "OK"])


def test_finds_the_port_dev_run_serves_on(cli_app, service) -> None:
    url, received = service
    (Path(cli_app.instance_path) / RUN_URL_FILE).write_text(url + "\n")

    result = send(cli_app)

    assert result.exit_code == 0, result.output
    assert "checked out" in result.output
    [request] = received.requests
    assert request["valid"], request
    assert request["url"] == f"{url}/twilio/sms"
    assert request["params"]["Body"] == "OK"


def test_flask_run_port_is_used_without_the_recorded_url(cli_app, service, monkeypatch) -> None:
    url, received = service
    monkeypatch.setenv("FLASK_RUN_PORT", url.rsplit(":", 1)[1])

    assert send(cli_app).exit_code == 0
    assert [r["valid"] for r in received.requests] == [True]


def test_the_public_url_and_url_option_win(cli_app, service) -> None:
    url, received = service
    (Path(cli_app.instance_path) / RUN_URL_FILE).write_text("http://127.0.0.1:9/\n")

    assert send(cli_app, "--url", url).exit_code == 0
    cli_app.config["PUBLIC_URL"] = url
    assert send(cli_app).exit_code == 0
    assert [r["valid"] for r in received.requests] == [True, True]


def test_an_unreachable_service_says_where_the_url_came_from(cli_app) -> None:
    (Path(cli_app.instance_path) / RUN_URL_FILE).write_text("http://127.0.0.1:9\n")

    result = send(cli_app)

    assert result.exit_code == 1
    assert "http://127.0.0.1:9/twilio/sms" in result.output
    assert "written by ./dev run" in result.output
    assert "--url" in result.output
