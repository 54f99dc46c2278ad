"""Who may reach and who may act, below the browser: the Host/Origin check, the operator's
sessions, and what `--host 0.0.0.0` tells the trainer. The browser-level tests are in
test_dashboard_access.py."""

from __future__ import annotations

import asyncio

import pytest

from dashboard.operator_access import COOKIE, MAX_SESSIONS, OperatorAccess
from dashboard.served_address import (
    ServedAddressOnly,
    allowed_host,
    allowed_hosts,
    lan_addresses,
)

SECRET = "a-secret-of-twenty-chars"


def headers(host: str, origin: str | None = None) -> dict[bytes, bytes]:
    result = {b"host": host.encode()}
    if origin is not None:
        result[b"origin"] = origin.encode()
    return result


@pytest.mark.parametrize(("host", "origin", "refused"), [
    ("127.0.0.1:8080", None, None),
    ("localhost:8080", "http://localhost:8080", None),
    ("[::1]:8080", None, None),
    ("attacker.example:8080", None, "Host 'attacker.example:8080'"),
    ("127.0.0.1:9999", None, "Host '127.0.0.1:9999'"),
    ("", None, "Host ''"),
    ("127.0.0.1:8080", "http://attacker.example:8080", "Origin 'http://attacker.example:8080'"),
    ("127.0.0.1:8080", "null", "Origin 'null'"),
    ("127.0.0.1:8080", "http://127.0.0.1:1234", "Origin"),
    ("127.0.0.1:8080", "http://127.0.0.1:bad", "Origin"),
])
def test_only_the_served_address_and_its_own_page_pass(host, origin, refused):
    check = ServedAddressOnly(None, allowed_hosts("127.0.0.1"), 8080)
    reason = check.reason(headers(host, origin))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(refused), reason


@pytest.mark.parametrize(("host", "origin", "refused"), [
    ("factory.example", "https://factory.example", None),  # behind a TLS proxy
    ("factory.example:443", None, None),
    ("localhost:18080", "http://localhost:18080", None),  # a container's published port
    ("localhost:8080", None, None),  # the served address still works
    ("localhost:18081", None, "Host 'localhost:18081'"),
    ("factory.example:8080", None, "Host 'factory.example:8080'"),
    ("attacker.example", None, "Host 'attacker.example'"),
    ("factory.example", "http://attacker.example", "Origin 'http://attacker.example'"),
    ("sub.factory.example", None, "Host 'sub.factory.example'"),
])
def test_an_allowed_host_adds_a_name_and_its_port_and_nothing_else(host, origin, refused):
    also = [allowed_host("Factory.example:443"), allowed_host("localhost:18080")]
    check = ServedAddressOnly(None, allowed_hosts("127.0.0.1"), 8080, also)
    reason = check.reason(headers(host, origin))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(refused), reason
    any_port = ServedAddressOnly(None, allowed_hosts("127.0.0.1"), 8080,
                                 [allowed_host("factory.example")])
    assert any_port.reason(headers("factory.example:9000", "http://factory.example:9000")) \
        is None


@pytest.mark.parametrize("text", ["", "*", "*.example", "http://factory.example",
                                  "factory.example/path", "factory.example:0",
                                  "factory.example:99999", "factory.example:x", "a b",
                                  "user@factory.example", "-bad.example", "x" * 300,
                                  "[not-an-ip]"])
def test_an_allowed_host_that_is_not_a_name_is_refused_in_one_line(text):
    with pytest.raises(ValueError, match="expected NAME or NAME:PORT") as error:
        allowed_host(text)
    assert "\n" not in str(error.value)


def test_the_demo_refuses_a_bad_allowed_host_before_starting_anything():
    from factory_cli.commands.demo import _check_allowed_hosts
    from factory_cli.errors import CliError

    _check_allowed_hosts(["factory.example", "[::1]:18080", "10.0.0.5:80"])
    with pytest.raises(CliError, match=r"^--allowed-host 'http://x': expected NAME"):
        _check_allowed_hosts(["factory.example", "http://x"])
    with pytest.raises(CliError, match="at most 32 names"):
        _check_allowed_hosts([f"h{i}.example" for i in range(33)])


def test_a_refused_request_gets_403_and_one_line_and_never_reaches_the_page():
    reached = []

    async def page(scope, receive, send):
        reached.append(scope)

    sent = []

    async def send(message):
        sent.append(message)

    check = ServedAddressOnly(page, allowed_hosts("127.0.0.1"), 8080)
    scope = {"type": "http", "path": "/", "headers": [(b"host", b"attacker.example:8080")]}
    asyncio.run(check(scope, None, send))
    assert reached == [] and sent[0]["status"] == 403
    assert sent[1]["body"].decode().startswith("refused: Host 'attacker.example:8080' is not")
    socket = {"type": "websocket", "path": "/_nicegui_ws/socket.io/",
              "headers": [(b"host", b"127.0.0.1:8080"), (b"origin", b"http://evil.test")]}
    asyncio.run(check(socket, None, send))
    assert reached == [] and sent[-1] == {"type": "websocket.close", "code": 1008}
    assert check.refused == 2


def test_listening_on_every_interface_serves_the_lan_addresses_too():
    hosts = allowed_hosts("0.0.0.0")
    assert {"127.0.0.1", "localhost"} <= set(hosts)
    assert set(lan_addresses()) <= set(hosts)
    assert all(not address.startswith("127.") for address in lan_addresses())


def test_the_demo_says_who_may_do_what_on_the_lan(capsys):
    from factory_cli.commands.demo import _print_access

    _print_access("0.0.0.0", 8080, "127.0.0.1", SECRET)
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:8080/login?token={SECRET}" in out
    for address in lan_addresses():
        assert f"dashboard on the LAN: http://{address}:8080/" in out
    assert "anyone on the LAN who opens it may watch; only a browser logged in as the " \
           "operator may pause, resume, change the speed or acknowledge" in out


def test_only_a_session_from_the_secret_is_the_operator():
    access = OperatorAccess(SECRET)
    assert access.login("wrong") is None and access.login("") is None
    session = access.login(SECRET)
    assert access.is_operator({COOKIE: session})
    assert not access.is_operator({}) and not access.is_operator({COOKIE: "forged"})
    assert not OperatorAccess(SECRET + "x").is_operator({COOKIE: session})  # another run
    with pytest.raises(ValueError, match="at least 16"):
        OperatorAccess("short")


def test_sessions_are_bounded_the_oldest_ends_first():
    access = OperatorAccess(SECRET)
    first = access.login(SECRET)
    later = [access.login(SECRET) for _ in range(MAX_SESSIONS)]
    assert not access.is_operator({COOKIE: first})
    assert all(access.is_operator({COOKIE: s}) for s in later)
