"""The safeguards' argument checks and window arithmetic; the production guard's account list."""

import pytest

from chaos_runner import guard
from chaos_runner.controls.safeguards import MIN_SAMPLES, Settings, Window, parse_arguments
from chaos_runner.run import ProblemKind


def test_arguments_are_read_with_their_defaults() -> None:
    settings = parse_arguments({"min_availability": 0.5, "max_p95_ms": 2000, "alarms": "a, b"})

    assert settings == Settings(
        min_availability=0.5, max_p95_ms=2000.0, alarms=("a", "b"), window=5.0,
        paths="@cached", rate=4, request_timeout=2.0,
    )  # fmt: skip
    assert parse_arguments({"alarms": ["site-5xx"], "window": 10, "rate": 2}).window == 10.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "no condition: give min_availability, max_p95_ms or alarms"),
        ({"min_availability": 1.5}, "min_availability must be a number between 0 and 1; got 1.5"),
        ({"min_availability": "high"}, "min_availability must be a number between 0 and 1"),
        ({"min_availability": True}, "min_availability must be a number between 0 and 1"),
        ({"max_p95_ms": 0}, "max_p95_ms must be a number between"),
        ({"alarms": ["a"], "window": 0}, "window must be a number between 1 and 300; got 0"),
        ({"alarms": ["a"], "rate": 50}, "rate must be a number between 1 and 20; got 50"),
        ({"alarms": ["a"], "rate": 2.5}, "rate must be a whole number"),
        ({"alarms": ["a"], "request_timeout": 0}, "request_timeout must be a number between"),
        ({"alarms": [1]}, "alarms must be a list of alarm names"),
        ({"alarms": " , "}, "alarms names no alarm"),
        ({"alarms": ["a"], "paths": []}, "paths must be a path, a role"),
        ({"alarms": ["a"], "windw": 5}, "unknown argument(s) windw (known: "),
    ],
)
def test_a_bad_argument_is_named(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"^Safeguards: ") as raised:
        parse_arguments(arguments)

    assert message in str(raised.value)


def test_every_bad_argument_is_named_at_once() -> None:
    with pytest.raises(ValueError) as raised:
        parse_arguments({"min_availability": 2, "window": -1, "typo": 1})

    assert "min_availability" in str(raised.value)
    assert "window" in str(raised.value)
    assert "typo" in str(raised.value)


def test_the_window_keeps_only_its_last_seconds() -> None:
    window = Window(5.0)
    for at, ok in [(0.0, False), (1.0, False), (2.0, True), (4.0, True), (6.0, True)]:
        window.add(at, ok, 10.0)

    # at 5.5: 0.0 is more than 5 s old, 6.0 has not happened yet
    assert window.availability(5.5) == (2 / 3, 2, 3)
    assert window.availability(6.0) == (1.0, 3, 3)  # 1.0 is 5 s old: out
    assert window.availability(12.0) is None  # nothing left: not judged


def test_the_window_is_not_judged_below_min_samples() -> None:
    window = Window(5.0)
    for at in range(MIN_SAMPLES - 1):
        window.add(float(at), False, 9999.0)
    settings = Settings(min_availability=0.9, max_p95_ms=100.0)

    assert window.breach(settings, 3.0) is None
    window.add(3.0, False, 9999.0)
    assert window.breach(settings, 3.0) == (
        f"availability over the last 5 s was 0.00 (0 of {MIN_SAMPLES} requests answered "
        "200-399), below the floor 0.9"
    )


def test_p95_is_the_nearest_rank() -> None:
    window = Window(10.0)
    for i in range(1, 21):  # 10, 20, ..., 200 ms
        window.add(1.0, True, i * 10.0)

    assert window.p95_ms(2.0) == (190.0, 20)
    assert window.breach(Settings(max_p95_ms=200.0), 2.0) is None
    assert window.breach(Settings(max_p95_ms=150.0), 2.0) == (
        "p95 latency over the last 10 s was 190 ms (20 requests), above the ceiling 150 ms"
    )


def test_availability_at_the_floor_holds() -> None:
    window = Window(5.0)
    for ok in (True, False, True, False):
        window.add(1.0, ok, 5.0)

    assert window.breach(Settings(min_availability=0.5), 2.0) is None
    assert window.breach(Settings(min_availability=0.51), 2.0) is not None


def test_allowed_accounts_come_from_the_configuration_first() -> None:
    environ = {"CHAOS_ALLOWED_ACCOUNTS": "111111111111, 222222222222"}

    assert guard.allowed_accounts(None, environ) == ["111111111111", "222222222222"]
    assert guard.allowed_accounts({"allowed_accounts": ["333333333333"]}, environ) == [
        "333333333333"
    ]
    assert guard.allowed_accounts(None, {}) == []


def test_no_declared_account_means_no_guard_and_no_aws_call() -> None:
    assert guard.check_account(None, {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}) is None


def test_an_account_id_that_is_not_twelve_digits_refuses_as_invalid() -> None:
    refusal = guard.check_account(None, {"CHAOS_ALLOWED_ACCOUNTS": "12345,123456789012"})

    assert refusal is not None
    assert refusal.kind == ProblemKind.INVALID
    assert "12-digit ids; got '12345'" in refusal.message


def test_an_unreachable_sts_refuses_as_aborted() -> None:
    environ = {
        "CHAOS_ALLOWED_ACCOUNTS": "123456789012",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
    }

    refusal = guard.check_account(None, environ)

    assert refusal is not None
    assert refusal.kind == ProblemKind.ABORTED
    assert "could not confirm the AWS account" in refusal.message
