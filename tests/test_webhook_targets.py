"""Webhooks may not target loopback, link-local or private addresses unless an operator allows
the host (issue 7, item 8): checked when subscribing and again at each delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conftest import Api, make_settings
from powerflow.app import create_app
from powerflow.services import webhooks
from powerflow.services.auth import Principal
from test_webhooks import Receiver, _run_expense, _wait

REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data",  # cloud metadata service
    "http://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "http://172.16.5.4:9000/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_targets_are_refused_with_a_sentence(sqlite_api: Api, url: str) -> None:
    monitor = sqlite_api.user("monitor")
    response = sqlite_api.client.post("/v1/webhooks", headers=monitor, json={"url": url})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "POWERFLOW_WEBHOOK_ALLOWED_HOSTS" in detail and "private" in detail


def test_public_targets_are_accepted_and_updates_are_checked(api: Api) -> None:
    monitor = api.user("monitor")
    created = api.client.post(
        "/v1/webhooks", headers=monitor, json={"url": "https://93.184.216.34/hook"}
    )
    assert created.status_code == 201, created.text
    moved = api.client.patch(
        f"/v1/webhooks/{created.json()['id']}",
        headers=monitor,
        json={"url": "http://169.254.169.254/"},
    )
    assert moved.status_code == 422
    unresolvable = api.client.post(
        "/v1/webhooks", headers=monitor, json={"url": "http://no-such-host.invalid/hook"}
    )
    assert unresolvable.status_code == 422
    assert "cannot be resolved" in unresolvable.json()["detail"]


@pytest.fixture
def allowing_api(sqlite_url: str) -> Iterator[Api]:
    settings = make_settings(sqlite_url, webhook_allowed_hosts=["localhost", "10.0.0.0/8"])
    with TestClient(create_app(settings, run_workers=False)) as client:
        yield Api(client)


def test_allowed_hosts_and_networks_are_accepted(allowing_api: Api) -> None:
    monitor = allowing_api.user("monitor")
    for url in ("http://localhost:9000/hook", "http://10.20.30.40/hook"):
        response = allowing_api.client.post("/v1/webhooks", headers=monitor, json={"url": url})
        assert response.status_code == 201, response.text
    other = allowing_api.client.post(
        "/v1/webhooks", headers=monitor, json={"url": "http://192.168.1.1/hook"}
    )
    assert other.status_code == 422


def test_allowed_hosts_setting_reads_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from powerflow.settings import Settings

    monkeypatch.setenv("POWERFLOW_WEBHOOK_ALLOWED_HOSTS", "hooks.intranet, 10.0.0.0/8")
    assert Settings().webhook_allowed_hosts == ["hooks.intranet", "10.0.0.0/8"]


@pytest.fixture
def strict_live_api(db_url: str) -> Iterator[Api]:
    """Workers running with no host allowed (the default)."""
    with TestClient(create_app(make_settings(db_url), run_workers=True)) as client:
        yield Api(client)


def test_delivery_checks_the_target_again(strict_live_api: Api) -> None:
    api = strict_live_api
    api.deploy("gateway.bpmn")
    receiver = Receiver()
    try:
        # Subscribed while the host was allowed (or while its name resolved elsewhere), by an
        # administrator (a subscription delivers only while its owner may read every case).
        api.user("admin", "ops")
        hook = webhooks.create(
            api.store,
            Principal("ops", frozenset({"admin"})),
            url=receiver.url,
            definition_key=None,
            types=None,
            secret=None,
            from_start=True,
            allowed_hosts=["127.0.0.1"],
        )
        _run_expense(api)
        monitor = api.user("monitor")

        def log() -> list[dict[str, object]]:
            return list(
                api.client.get(f"/v1/webhooks/{hook.id}/deliveries", headers=monitor).json()
            )

        _wait(lambda: bool(log()))
        assert receiver.received == []
        entry = log()[0]
        assert entry["status"] == "failed"
        assert "refused" in str(entry["last_error"]) and "127.0.0.1" in str(entry["last_error"])
    finally:
        receiver.close()
