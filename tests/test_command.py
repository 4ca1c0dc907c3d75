from __future__ import annotations

import pytest

from generator.command import go_batch_env


def test_a_go_batch_job_runs_with_its_collector_off_below_a_soft_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert go_batch_env() == {"GOGC": "off", "GOMEMLIMIT": "256MiB"}


@pytest.mark.parametrize("name", ["GOGC", "GOMEMLIMIT"])
def test_the_users_go_collector_settings_stand_as_they_are(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    monkeypatch.setenv(name, "50" if name == "GOGC" else "1GiB")
    assert go_batch_env() == {}
