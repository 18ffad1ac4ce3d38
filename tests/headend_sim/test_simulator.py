"""The TDSP head-end simulator on its own: SOAP, progress reports, modes, control, reads."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import zeep
from meterhub_headend_sim.config import parse_args
from meterhub_headend_sim.soap import contract
from zeep.exceptions import Fault, TransportError
from zeep.wsse.username import UsernameToken

from meterhub_han.soap.contract import contract_text

SETTINGS = zeep.Settings(strict=True, forbid_dtd=True, forbid_external=True, forbid_entities=True)


def client(stack: Any, wsse: Any = None) -> Any:
    return zeep.Client(f"{stack.sim_url}/soap?wsdl", settings=SETTINGS, wsse=wsse).service


def add(service: Any, request_id: str, mac: str = "0011223344556677") -> Any:
    return service.AddDevice(
        RequestId=request_id,
        EsiId="10443720000000001",
        MeterNumber="M1",
        MacAddress=mac,
        InstallCode="83FED3407A939723A5C639B26916D505C3B5",
    )


def test_the_contract_is_the_one_meterhub_calls() -> None:
    for name in ("headend.wsdl", "headend.xsd"):
        assert contract(name) == contract_text(name), name


def test_a_device_add_is_acknowledged_then_reported_with_a_fetched_token(
    stack_factory: Any,
) -> None:
    stack = stack_factory()
    answer = add(client(stack), "R000000000001")
    assert (answer.RequestId, answer.Accepted, answer.Duplicate) == ("R000000000001", True, False)
    receiver = stack.receiver
    receiver.wait(lambda: len(receiver.statuses) == 3)
    assert [body["status"] for _, body in receiver.statuses] == [
        "Add Pending",
        "Meter Ready",
        "Device Added",
    ]
    assert {auth for auth, _ in receiver.statuses} == {"Bearer token-1"}
    assert receiver.token_requests == [
        {
            "grant_type": "client_credentials",
            "client_id": "tdsp-client",
            "client_secret": "tdsp-secret",
        }
    ]
    assert all(body["request_id"] == "R000000000001" for _, body in receiver.statuses)


def test_a_repeated_request_id_is_acknowledged_again_but_acted_on_once(
    stack_factory: Any,
) -> None:
    stack = stack_factory()
    service = client(stack)
    add(service, "R000000000002")
    again = add(service, "R000000000002")
    assert (again.Accepted, again.Duplicate) == (True, True)
    stack.receiver.wait(lambda: len(stack.receiver.statuses) >= 3)
    time.sleep(0.2)
    assert len(stack.receiver.statuses) == 3
    assert stack.simulator.requests["R000000000002"].receipts == 2


def test_messages_and_cancellations_progress(stack_factory: Any) -> None:
    stack = stack_factory()
    service = client(stack)
    add(service, "R000000000010", mac="0011223344556688")
    stack.receiver.wait(lambda: len(stack.receiver.statuses) == 3)
    httpx.post(f"{stack.sim_url}/control", json={"device_level_reports": True}).raise_for_status()
    service.SendMessage(
        RequestId="R000000000011",
        EsiId="10443720000000001",
        MeterNumber="M1",
        LoadControlEvent={
            "IssuerEventId": 11, "DeviceClass": 1, "UtilityEnrollmentGroup": 0, "StartTime": 0,
            "DurationInMinutes": 60, "CriticalityLevel": 3, "CoolingTemperatureOffset": 255,
            "HeatingTemperatureOffset": 255, "CoolingTemperatureSetPoint": -32768,
            "HeatingTemperatureSetPoint": -32768, "AverageLoadAdjustmentPercentage": -128,
            "DutyCycle": 255, "EventControl": 0,
        },
    )  # fmt: skip
    service.CancelMessage(
        RequestId="C000000000012",
        EsiId="10443720000000001",
        MeterNumber="M1",
        TargetRequestId="R000000000011",
        CancelLoadControlEvent={
            "IssuerEventId": 11, "DeviceClass": 1, "UtilityEnrollmentGroup": 0,
            "CancelControl": 0, "EffectiveTime": 0,
        },
    )  # fmt: skip
    receiver = stack.receiver

    def reports(request_id: str) -> list[tuple[str, str | None]]:
        return [
            (body["status"], body.get("device_mac"))
            for _, body in receiver.statuses
            if body["request_id"] == request_id
        ]

    receiver.wait(lambda: len(reports("R000000000011")) == 4 and len(reports("C000000000012")) == 2)
    assert reports("R000000000011") == [
        ("PEN", None),
        ("STR", None),
        ("CON", None),
        ("CON", "0011223344556688"),
    ]
    assert reports("C000000000012") == [("PEN", None), ("CON", None)]


def test_modes_reject_fail_and_silent(stack_factory: Any) -> None:
    stack = stack_factory()
    service = client(stack)
    control = f"{stack.sim_url}/control"
    httpx.post(control, json={"mode": "reject"}).raise_for_status()
    refused = add(service, "R000000000020")
    assert refused.Accepted is False and "mode reject" in refused.Reason
    httpx.post(control, json={"mode": "fail"}).raise_for_status()
    add(service, "R000000000021", mac="0011223344556601")
    stack.receiver.wait(lambda: len(stack.receiver.statuses) == 2)
    assert [b["status"] for _, b in stack.receiver.statuses] == ["Add Pending", "Add Failed"]
    httpx.post(control, json={"mode": "silent"}).raise_for_status()
    with pytest.raises(TransportError) as down:
        add(service, "R000000000022")
    assert down.value.status_code == 503
    assert "R000000000022" not in stack.simulator.requests
    state = httpx.post(control, json={"mode": "ack"}).json()
    assert state["mode"] == "ack" and state["requests"] == 2


def test_reports_wait_while_silent_and_follow_once_it_speaks(stack_factory: Any) -> None:
    stack = stack_factory(delay_seconds=0.3)
    add(client(stack), "R000000000030")
    httpx.post(f"{stack.sim_url}/control", json={"mode": "silent"}).raise_for_status()
    time.sleep(0.8)
    assert stack.receiver.statuses == []
    httpx.post(f"{stack.sim_url}/control", json={"mode": "ack"}).raise_for_status()
    stack.receiver.wait(lambda: len(stack.receiver.statuses) == 3)


def test_a_refused_report_is_not_repeated(stack_factory: Any) -> None:
    stack = stack_factory()
    stack.receiver.refuse.add("Meter Ready")
    add(client(stack), "R000000000040")
    stack.receiver.wait(lambda: len(stack.receiver.statuses) == 3)
    time.sleep(0.2)
    assert [b["status"] for _, b in stack.receiver.statuses] == [
        "Add Pending",
        "Meter Ready",
        "Device Added",
    ]
    assert httpx.get(f"{stack.sim_url}/control").json()["reports_refused"] == 1


def test_on_demand_reads_report_a_value_or_a_failure(stack_factory: Any) -> None:
    stack = stack_factory()
    service = client(stack)
    answer = service.RequestOnDemandRead(
        RequestId="ODR-1", EsiId="10443720000000001", MeterNumber="M1"
    )
    assert answer.Accepted is True
    stack.receiver.wait(lambda: len(stack.receiver.reads) == 1)
    auth, read = stack.receiver.reads[0]
    assert auth == "Bearer token-1"
    assert (read["request_id"], read["status"], read["failure_reason"]) == (
        "ODR-1",
        "completed",
        None,
    )
    assert Decimal(read["register_kwh"]) > 0 and read["read_at"]
    httpx.post(f"{stack.sim_url}/control", json={"mode": "fail"}).raise_for_status()
    service.RequestOnDemandRead(RequestId="ODR-2", EsiId="10443720000000001", MeterNumber="M1")
    stack.receiver.wait(lambda: len(stack.receiver.reads) == 2)
    failed = stack.receiver.reads[1][1]
    assert failed["status"] == "failed" and failed["register_kwh"] is None
    assert "did not answer" in failed["failure_reason"]


def test_ws_security_and_control_token_when_configured(stack_factory: Any) -> None:
    stack = stack_factory(soap_username="meterhub", soap_password="pw", control_token="ctl")
    with pytest.raises(Fault) as anonymous:
        add(client(stack), "R000000000050")
    assert anonymous.value.code == "soap:Client.Authentication"
    with pytest.raises(Fault):
        add(client(stack, UsernameToken("meterhub", "wrong")), "R000000000050")
    assert add(client(stack, UsernameToken("meterhub", "pw")), "R000000000050").Accepted
    assert httpx.get(f"{stack.sim_url}/control").status_code == 401
    assert httpx.get(f"{stack.sim_url}/requests").status_code == 401
    authorized = httpx.get(f"{stack.sim_url}/requests", headers={"Authorization": "Bearer ctl"})
    assert [r["request_id"] for r in authorized.json()] == ["R000000000050"]


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b"not xml",
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AddDevice xmlns="urn:meterhub:headend:v1"><RequestId>x</RequestId></AddDevice>'
        b"</soap:Body></soap:Envelope>",
    ],
)
def test_hostile_or_invalid_requests_get_faults(stack_factory: Any, body: bytes) -> None:
    stack = stack_factory()
    response = httpx.post(f"{stack.sim_url}/soap", content=body)
    assert response.status_code == 500
    assert b"Client.Validation" in response.content
    assert b"root:" not in response.content
    assert stack.simulator.requests == {}


def test_the_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADEND_SIM_CLIENT_SECRET", "from-env")
    config = parse_args(
        [
            "--port",
            "8123",
            "--mode",
            "fail",
            "--delay-seconds",
            "2.5",
            "--callback-url",
            "http://x/s",
        ]
    )
    assert (config.port, config.mode.value, config.delay_seconds) == (8123, "fail", 2.5)
    assert (config.callback_url, config.client_secret) == ("http://x/s", "from-env")
    with pytest.raises(SystemExit):
        parse_args(["--mode", "sleepy"])
