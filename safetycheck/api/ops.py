"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from safetycheck import ops

blp = Blueprint("ops", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process is alive (no dependencies checked)."""
    return jsonify({"status": "ok"})


@blp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the database answers and a sweep (by any instance) completed recently."""
    report = ops.readiness(current_app)
    return jsonify(report.as_dict()), 200 if report.ready else 503


@blp.get("/metrics")
def metrics() -> Response:
    body, content_type = ops.render_metrics(current_app)
    return Response(body, content_type=content_type)


@blp.get("/docs/static/<path:filename>")
def swagger_ui_static(filename: str) -> Response:
    """Swagger UI's files, served locally so `/docs` works on a network without a CDN."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, filename, max_age=86400)
