"""The zeep head-end client against the simulator: each answer classified right."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from meterhub_headend_sim.app import create_app as create_sim_app
from meterhub_headend_sim.config import Mode, SimConfig

from meterhub_devstack.pg import free_port
from meterhub_han.outbox.headend import HeadEnds, Result
from meterhub_han.settings import HanSettings

TDSP, OTHER, NOWHERE, UNCONFIGURED = "111111111", "222222222", "333333333", "444444444"


def add_device(request_id: str) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "EsiId": "10443720000000001",
        "MeterNumber": "M1",
        "MacAddress": "0011223344556677",
        "InstallCode": "83FED3407A939723A5C639B26916D505C3B5",
    }


async def test_answers_are_classified(common_settings: dict[str, object], serve: Any) -> None:
    sim = serve(
        create_sim_app(SimConfig(soap_username="meterhub", soap_password="s3cret", mode=Mode.ACK))
    )
    settings = HanSettings(
        **common_settings,  # type: ignore[arg-type]
        headends={
            TDSP: f"{sim.url}/soap",
            OTHER: f"{sim.url}/soap",
            NOWHERE: f"http://127.0.0.1:{free_port()}/soap",
        },
        headend_auth={TDSP: ("meterhub", "s3cret"), OTHER: ("meterhub", "wrong")},
        headend_timeout_seconds=3,
    )
    headends = HeadEnds(settings)
    simulator = sim.server.config.app.state.simulator
    try:
        accepted = await headends.deliver(TDSP, "AddDevice", add_device("R000000000101"))
        assert (accepted.result, accepted.duplicate) == (Result.ACCEPTED, False)
        again = await headends.deliver(TDSP, "AddDevice", add_device("R000000000101"))
        assert (again.result, again.duplicate) == (Result.ACCEPTED, True)
        assert simulator.requests["R000000000101"].receipts == 2

        wrong_password = await headends.deliver(OTHER, "AddDevice", add_device("R000000000102"))
        assert wrong_password.result is Result.REJECTED
        assert "Client.Authentication" in (wrong_password.detail or "")

        simulator.set_mode(Mode.REJECT)
        refused = await headends.deliver(TDSP, "AddDevice", add_device("R000000000103"))
        assert refused.result is Result.REJECTED and "mode reject" in (refused.detail or "")

        simulator.set_mode(Mode.SILENT)
        silent = await headends.deliver(TDSP, "AddDevice", add_device("R000000000104"))
        assert silent.result is Result.RETRY and "503" in (silent.detail or "")
        assert "R000000000104" not in simulator.requests

        down = await headends.deliver(NOWHERE, "AddDevice", add_device("R000000000105"))
        assert down.result is Result.RETRY and "unreachable" in (down.detail or "")
        unknown = await headends.deliver(UNCONFIGURED, "AddDevice", add_device("R000000000106"))
        assert unknown.result is Result.RETRY and "no head-end endpoint" in (unknown.detail or "")
    finally:
        await headends.aclose()


async def test_start_builds_every_configured_head_end_and_fetches_no_wsdl(
    common_settings: dict[str, object],
) -> None:
    settings = HanSettings(
        **common_settings,  # type: ignore[arg-type]
        headends={TDSP: "https://head-end.invalid/soap", OTHER: "https://other.invalid/soap"},
    )
    headends = HeadEnds(settings)
    try:
        await headends.start()
        assert set(headends._proxies) == {TDSP, OTHER}
        assert headends._transport is not None
        with pytest.raises(httpx.ConnectError, match="no WSDL is fetched"):
            headends._transport.wsdl_client.get("https://head-end.invalid/soap?wsdl")
    finally:
        await headends.aclose()


def test_sniffio_is_installed_for_httpcore() -> None:
    # httpcore imports it on every request; were it missing, each failed import would walk
    # sys.path (~0.1 ms, several times per head-end call).
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None
