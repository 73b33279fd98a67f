"""Call settings fail fast at start-up, naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from safetycheck import create_app
from safetycheck.paths import DEMO_POLICY_PATH
from safetycheck.settings import ConfigError
from tests.conftest import TWILIO_SETTINGS


@pytest.mark.parametrize("ring", [4, 601, 2.5, True, "30"])
def test_a_bad_ring_time_stops_start_up(base_config: dict[str, Any], ring: Any) -> None:
    with pytest.raises(ConfigError, match="SAFETYCHECK_CALL_RING_SECONDS"):
        create_app({**base_config, "CALL_RING_SECONDS": ring})


def test_calling_through_twilio_needs_a_public_url(base_config: dict[str, Any], tmp_path: Path) -> None:
    config = {
        **base_config,
        **TWILIO_SETTINGS,
        "SMS_BACKEND": "twilio",
        "PUBLIC_URL": "",
        "ESCALATION_POLICY": str(DEMO_POLICY_PATH),
    }
    with pytest.raises(ConfigError, match="SAFETYCHECK_PUBLIC_URL"):
        create_app(config)
