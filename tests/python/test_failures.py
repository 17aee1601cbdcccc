"""docs/semantics.md, Failures and dead letters: a resolver that raises leaves no trace in
state, state that no longer fits its schema fails the call that broke it, and bad input is a
dead letter that never stops the engine.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed.
"""

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List

import pytest
from pydantic import BaseModel

from statefold import Features, NotFoundError, State, stream

from semantics_defs import (SOURCE, IpState, LoginEvent, Stream, User, append_seq, fill_seq_values,
                            login, raises_on_bad, seq_records)

# =============================================================================================
# A resolver that raises leaves no trace in state
# =============================================================================================


def test_raising_resolver_leaves_state_as_before(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([login("u1", "a"), login("u2", "x"), login("u1", "b")])
    tester.send_many([
        login("u1", "c"),       # offset 3: applied before the failure, kept
        login("u1", "bad"),     # offset 4: raises after mutating
        login("u2", "y"),       # offset 5
        login("u1", "d"),       # offset 6: sees the state without "bad"
    ])
    tester.send_many([login("u1", "e"), login("u3", "bad"), login("u3", "z")])

    u1 = tester.state(raises_on_bad, "u1")
    assert u1.unique_ips == {"a", "b", "c", "d", "e"}
    assert u1.history == ["a", "b", "c", "d", "e"]
    u2 = tester.state(raises_on_bad, "u2")
    assert (u2.unique_ips, u2.history) == ({"x", "y"}, ["x", "y"])
    # u3's first message failed: its state starts from the initial state.
    u3 = tester.state(raises_on_bad, "u3")
    assert (u3.unique_ips, u3.history) == ({"z"}, ["z"])
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 5}
    assert tester.features(User, "u3") == {"user.id": "u3", "user.unique_ip_count": 1}

    dead = tester.dead_letters()
    assert [(d["offset"], d["key"], d["resolver"]) for d in dead] == [
        (4, "u1", "raises_on_bad"), (8, "u3", "raises_on_bad")]
    error = dead[0]["error"]
    assert error.startswith("Traceback (most recent call last):")
    assert "RuntimeError: refusing ip bad of u1" in error
    assert "semantics_defs.py" in error  # the resolver's file
    assert json.loads(dead[0]["payload"]) == {"user_id": "u1", "ip_address": "bad"}
    assert dead[0]["source"] == "logins"


def test_raising_resolver_only_key_never_gets_state(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([login("u1", "bad"), login("u2", "a")])
    with pytest.raises(NotFoundError):
        tester.state(raises_on_bad, "u1")
    assert tester.state_keys(raises_on_bad) == ["u2"]
    with pytest.raises(NotFoundError):
        tester.features(User, "u1")


@pytest.mark.parametrize("options", [{}, {"batch_size": 8}, {"batch_size": 3, "checkpoint_every_messages": 10}],
                         ids=["defaults", "batch-8", "batch-3-epoch-10"])
def test_raise_in_middle_of_batch_other_keys_exact(make_tester, options):
    tester = make_tester(append_seq, **options)
    first = fill_seq_values(seq_records(20, keys=5, seed=3))
    tester.send_many(first)
    batch = seq_records(50, keys=5, seed=11, start=20)
    # Failures in the middle, including two for one key and back-to-back ones.
    bad_seqs = {batch[7]["seq"], batch[23]["seq"], batch[24]["seq"], batch[31]["seq"]}
    tester.send_many(fill_seq_values(batch, bad=bad_seqs))

    expected: Dict[str, List[int]] = {}
    for r in first + batch:
        if r["seq"] not in bad_seqs:
            expected.setdefault(r["key"], []).append(r["seq"])
    for key, seqs in expected.items():
        assert tester.state(append_seq, key).seqs == seqs, key
        assert tester.features(Stream, key) == {
            "stream.id": key, "stream.last_seq": seqs[-1], "stream.count": len(seqs)}, key
    dead = tester.dead_letters()
    assert sorted(d["offset"] for d in dead) == sorted(bad_seqs)
    for d in dead:
        assert d["resolver"] == "append_seq"
        assert f"ValueError: bad event {d['offset']} for {d['key']}" in d["error"]



@pytest.mark.parametrize("options", [
    {"batch_size": 7},
    {"batch_size": 1000},
    {"batch_size": 5, "checkpoint_every_messages": 60},
], ids=["batch-7", "one-batch", "batch-5-epoch-60"])
def test_repeated_failures_of_one_key_in_one_epoch_each_leave_no_trace(make_tester, options):
    options = {"checkpoint_every_ms": 10**9, **options}  # epochs by message count alone
    # A hot key fails many times in one epoch (its first and last messages, back-to-back runs,
    # failures in one batch and across batches), among other keys. Each failure rolls the key
    # back to the state before that message, however many came before it in the epoch, so the
    # run equals one over the same input with the failing lines blank (blank lines keep their
    # offsets): the same states, feature values with their times and offsets, and keys; the
    # failing messages, and only they, are dead letters.
    records = seq_records(240, keys=4, seed=5)
    for r in records[::2]:
        r["key"] = "hot"
    hot = [r["seq"] for r in records if r["key"] == "hot"]
    bad = {hot[0], hot[-2], hot[-1], *hot[5:9], *hot[20:90:3], *hot[100:103], records[1]["seq"]}
    fill_seq_values(records, bad=bad)
    lines = [json.dumps({"key": r["key"], "value": r["value"], "timestamp": 1000 + r["seq"]})
             for r in records]

    failing = make_tester(append_seq, **options)
    failing.send_raw(lines)
    without = make_tester(append_seq, **options)
    without.send_raw(["" if r["seq"] in bad else line for r, line in zip(records, lines)])

    keys = failing.state_keys(append_seq)
    assert keys == without.state_keys(append_seq) and "hot" in keys
    for key in keys:
        assert failing.state(append_seq, key) == without.state(append_seq, key), key
        assert failing.state(append_seq, key).seqs == [
            r["seq"] for r in records if r["key"] == key and r["seq"] not in bad], key
        assert (failing.client.get_with_times(Stream, key)
                == without.client.get_with_times(Stream, key)), key
    if "checkpoint_every_messages" not in options:
        # What each checkpoint committed (blank lines do not count towards an epoch's
        # messages, so with epochs by count the two runs commit at other points).
        assert failing.outputs == without.outputs
    assert without.dead_letters() == []
    dead = failing.dead_letters()
    assert [d["offset"] for d in dead] == sorted(bad)
    for d in dead:
        assert f"ValueError: bad event {d['offset']} for {d['key']}" in d["error"]


# =============================================================================================
# A resolver that leaves the state not fitting its schema
# =============================================================================================


@stream(source=SOURCE)
def breaks_schema(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    if event.ip_address == "five":
        state.unique_ips = 5
        return User(id=event.user_id, unique_ip_count=99)
    if event.ip_address.startswith("reset:"):
        state.unique_ips = {event.ip_address}
        state.history = [event.ip_address]
        return User(id=event.user_id, unique_ip_count=1)
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


def _assert_schema_dead_letter(dead, offset, key):
    assert dead["offset"] == offset
    assert dead["key"] == key
    assert dead["resolver"] == "breaks_schema"
    assert "unique_ips" in dead["error"]
    assert "expected set[str]" in dead["error"]


def test_state_not_fitting_schema_is_dead_lettered(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a"), login("u2", "b")])
    tester.send_many([login("u1", "five"), login("u2", "c")])
    (dead,) = tester.dead_letters()
    _assert_schema_dead_letter(dead, 2, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a"}, ["a"])
    u2 = tester.state(breaks_schema, "u2")
    assert (u2.unique_ips, u2.history) == ({"b", "c"}, ["b", "c"])
    tester.send(login("u1", "d")["value"], key="u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a", "d"}, ["a", "d"])
    assert len(tester.dead_letters()) == 1


def test_state_not_fitting_schema_later_messages_of_same_key_in_same_run(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a")])
    tester.send_many([
        login("u1", "five"),  # offset 1: leaves unique_ips = 5
        login("u2", "x"),
        login("u1", "b"),     # offset 3: must see the state without message 1's change
        login("u1", "c"),
    ])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    _assert_schema_dead_letter(dead[0], 1, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"a", "b", "c"}, ["a", "b", "c"])
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 3}
    assert tester.state(breaks_schema, "u2").history == ["x"]


def test_state_not_fitting_schema_writes_no_outputs(make_tester):
    tester = make_tester(breaks_schema)
    tester.send(login("u1", "a")["value"], key="u1", timestamp=1_000)
    produced = tester.send(login("u1", "five")["value"], key="u1", timestamp=2_000)
    assert produced == []
    assert tester.client.get_with_times(User, "u1") == {
        "user.id": {"value": "u1", "time_ms": 1_000, "offset": 0},
        "user.unique_ip_count": {"value": 1, "time_ms": 1_000, "offset": 0},
    }


def test_state_not_fitting_schema_detected_even_if_later_message_repairs_it(make_tester):
    tester = make_tester(breaks_schema)
    tester.send_many([login("u1", "a")])
    tester.send_many([login("u1", "five"), login("u1", "reset:r")])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    _assert_schema_dead_letter(dead[0], 1, "u1")
    u1 = tester.state(breaks_schema, "u1")
    assert (u1.unique_ips, u1.history) == ({"reset:r"}, ["reset:r"])


@dataclass
class TypedState:
    count: int = 0
    names: List[str] = field(default_factory=list)


class ValueEvent(BaseModel):
    mode: str


@stream(source=SOURCE)
def assigns_bad_values(event: ValueEvent, state: State[TypedState]) -> None:
    if event.mode == "ok":
        state.count += 1
        state.names.append(f"n{state.count}")
    elif event.mode == "huge":
        state.count = 2 ** 70
    elif event.mode == "str":
        state.count = "3"
    elif event.mode == "none":
        state.count = None
    elif event.mode == "float":
        state.count = 1.5
    elif event.mode == "nested":
        state.names.append(5)
    elif event.mode == "tuple":
        state.names = ("a", "b")


@pytest.mark.parametrize("mode, path", [
    ("huge", "count"), ("str", "count"), ("none", "count"), ("float", "count"),
    ("nested", "names[1]"), ("tuple", "names"),
])
def test_state_not_fitting_schema_values(make_tester, mode, path):
    tester = make_tester(assigns_bad_values)
    tester.send({"mode": "ok"}, key="k")
    tester.send({"mode": mode}, key="k")
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 1
    assert dead["resolver"] == "assigns_bad_values"
    assert f"field {path}:" in dead["error"], dead["error"]
    assert tester.state(assigns_bad_values, "k") == TypedState(count=1, names=["n1"])
    tester.send({"mode": "ok"}, key="k")
    assert tester.state(assigns_bad_values, "k") == TypedState(count=2, names=["n1", "n2"])



# =============================================================================================
# Bad input is dead-lettered and never stops the engine
# =============================================================================================


@stream(source=SOURCE)
def counts_ips(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


def _good(user: str, ip: str) -> str:
    return json.dumps(login(user, ip))


def dead_letter_offsets(tester) -> List[int]:
    return sorted(d["offset"] for d in tester.dead_letters())


BAD_INPUTS = {
    # name: (raw line, text the dead letter's error must contain)
    "malformed_json": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": ', "not valid JSON"),
    "not_an_object": ("this is not json", "record is not"),
    "trailing_text": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}} trailing', "not valid JSON"),
    "trailing_brace": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}} }', "not valid JSON"),
    "two_records_on_one_line": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "y"}} '
                                '{"key": "u2", "value": {"user_id": "u2", "ip_address": "z"}}', "not valid JSON"),
    "missing_field": ('{"key": "u1", "value": {"user_id": "u1"}}', "ip_address"),
    "wrong_type": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": 5}}', "ip_address"),
    "value_not_json": ('{"key": "u1", "value": "not json at all"}', "does not decode into the event type"),
    "non_utf8": (b'{"key": "u1", "value": {"user_id": "u1", "ip_address": "\xff\xfe"}}', "UTF-8"),
    "oversized": (json.dumps(login("u1", "x" * 300)), "exceeds the limit of 200 bytes"),
    "no_value": ('{"key": "u1", "timestamp": 5}', '"value"'),
    # Not March 2, not shifted by 100 h 39 min.
    "impossible_date": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}, '
                        '"timestamp": "2026-02-30T00:00:00Z"}', "day out of range for its month"),
    "impossible_offset": ('{"key": "u1", "value": {"user_id": "u1", "ip_address": "z"}, '
                          '"timestamp": "2026-01-01T00:00:00+99:99"}', "UTC offset out of range"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_dead_lettered(make_tester, case):
    line, error_text = BAD_INPUTS[case]
    tester = make_tester(counts_ips, max_message_bytes=200)
    tester.send_raw([_good("u1", "a"), line, _good("u1", "b"), _good("u2", "c")])
    dead = tester.dead_letters()
    assert len(dead) == 1, dead
    assert dead[0]["offset"] == 1
    assert dead[0]["source"] == "logins"
    assert error_text in dead[0]["error"], dead[0]["error"]
    assert tester.state(counts_ips, "u1").history == ["a", "b"]
    assert tester.state(counts_ips, "u2").history == ["c"]
    assert tester.features(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    # The engine keeps going in later runs too.
    tester.send_raw([_good("u1", "d")])
    assert tester.state(counts_ips, "u1").history == ["a", "b", "d"]


DEAD_LETTER_MEMBERS = ["source", "partition", "offset", "resolver", "key", "timestamp", "error", "payload",
                       "payload_base64"]


def test_record_and_resolver_dead_letters_carry_the_same_members(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_raw(["{not json", json.dumps(login("u1", "bad", timestamp=7))])
    record, message = tester.dead_letters()
    assert list(record) == DEAD_LETTER_MEMBERS == list(message)
    assert (record["source"], record["offset"], record["resolver"], record["key"], record["timestamp"],
            record["payload"], record["payload_base64"]) == ("logins", 0, None, None, None, "{not json", None)
    assert (message["source"], message["offset"], message["resolver"], message["key"],
            message["timestamp"]) == ("logins", 1, "raises_on_bad", "u1", 7)
    assert json.loads(message["payload"]) == {"user_id": "u1", "ip_address": "bad"}


def test_a_line_that_is_not_utf8_keeps_its_raw_bytes_in_base64(make_tester):
    tester = make_tester(counts_ips)
    line = BAD_INPUTS["non_utf8"][0]
    tester.send_raw([line, _good("u1", "a")])
    (dead,) = tester.dead_letters()
    assert "UTF-8" in dead["error"]
    assert dead["payload"] is None
    assert base64.b64decode(dead["payload_base64"]) == line


def test_a_byte_order_mark_at_the_start_of_a_file_is_skipped(make_tester):
    tester = make_tester(counts_ips)
    tester.send_raw([b"\xef\xbb\xbf" + _good("u1", "a").encode(), _good("u1", "b")])
    assert tester.dead_letters() == []
    assert tester.state(counts_ips, "u1").history == ["a", "b"]


def test_a_line_over_the_limit_is_dead_lettered_with_its_size_and_the_next_line_is_read(make_tester):
    tester = make_tester(counts_ips, max_message_bytes=1000)
    huge = "x" * (8 << 20)  # longer than the source's 4 MiB read chunk: skipped, never held
    tester.send_raw([_good("u1", "a"), huge, _good("u1", "b")])
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 1
    assert dead["error"] == f"message of {len(huge):,} bytes exceeds the limit of 1000 bytes".replace(",", "")
    assert dead["payload"] == "x" * 4096  # a letter keeps the first 4 KiB
    assert tester.state(counts_ips, "u1").history == ["a", "b"]


def test_bad_input_validation_errors_are_clear(make_tester):
    tester = make_tester(counts_ips)
    tester.send_raw([BAD_INPUTS["missing_field"][0], BAD_INPUTS["wrong_type"][0]])
    missing, wrong = tester.dead_letters()
    assert missing["error"].startswith("message does not decode into the event type")
    assert "ip_address" in missing["error"] and "Field required" in missing["error"]
    assert missing["resolver"] == "counts_ips"
    assert wrong["error"].startswith("message does not decode into the event type")
    assert "ip_address" in wrong["error"] and "valid string" in wrong["error"]


def test_bad_input_all_kinds_in_one_run(make_tester):
    tester = make_tester(counts_ips, max_message_bytes=200)
    lines: List[Any] = []
    expected: Dict[str, List[str]] = {}
    bad_offsets = []
    for n, (line, _) in enumerate(BAD_INPUTS.values()):
        user = f"u{n % 3}"
        lines.append(_good(user, f"ip{n}"))
        expected.setdefault(user, []).append(f"ip{n}")
        bad_offsets.append(len(lines))
        lines.append(line)
    lines.append(_good("u0", "last"))
    expected["u0"].append("last")
    tester.send_raw(lines)
    assert dead_letter_offsets(tester) == bad_offsets
    for user, ips in expected.items():
        assert tester.state(counts_ips, user).history == ips
    assert tester.last_run["messages"] == len(lines)
    assert tester.last_run["dead_letters"] == len(BAD_INPUTS)



# =============================================================================================
# Options are range-checked by the API, not only by the command (issue 12, item 6)
# =============================================================================================


@pytest.mark.parametrize("option, value, message", [
    ("batch_size", 0, "batch_size must be an integer from 1 to 1048576, got 0"),
    ("batch_size", -5, "batch_size must be an integer from 1 to 1048576, got -5"),
    ("batch_size", 2.5, "batch_size must be an integer from 1 to 1048576, got 2.5"),
    ("batch_size", True, "batch_size must be an integer from 1 to 1048576, got True"),
    ("checkpoint_every_messages", -1, "checkpoint_every_messages must be an integer of at least 1, got -1"),
    ("checkpoint_every_ms", -1, "checkpoint_every_ms must be an integer of at least 0, got -1"),
    ("max_message_bytes", 0, "max_message_bytes must be an integer of at least 1, got 0"),
    ("state_cache_entries", -1, "state_cache_entries must be an integer of at least 0, got -1"),
    ("sync", "yes", "sync must be true or false, got 'yes'"),
])
def test_an_engine_option_out_of_range_is_refused_by_the_api(make_tester, option, value, message):
    from statefold import InvalidArgumentError
    with pytest.raises(InvalidArgumentError) as info:
        make_tester(raises_on_bad, **{option: value})
    assert str(info.value) == message


def test_engine_option_ranges_agree_with_the_engine():
    """The Python table (statefold.options) and ValidateEngineOptions (src/engine/engine.cc)
    draw each boundary at the same value."""
    from statefold import InvalidArgumentError, _ext
    from statefold.options import ENGINE_INT_OPTIONS
    assert set(ENGINE_INT_OPTIONS) == {"batch_size", "checkpoint_every_messages",
                                       "checkpoint_every_ms", "state_cache_entries",
                                       "max_message_bytes"}
    for name, (minimum, maximum) in ENGINE_INT_OPTIONS.items():
        for value, valid in ((minimum, True), (maximum, True), (minimum - 1, False),
                             (maximum + 1, False)):
            options = _ext.EngineOptions()
            try:
                setattr(options, name, value)
            except TypeError:  # below 0 or above 2**64 - 1 for an unsigned field
                assert not valid, (name, value)
                continue
            if valid:
                _ext.validate_engine_options(options)
            else:
                with pytest.raises(InvalidArgumentError, match=f"^{name} must be an integer from "):
                    _ext.validate_engine_options(options)


def test_the_server_and_client_api_refuse_bad_ports_threads_tokens_and_limits(tmp_path):
    from statefold import Client, InvalidArgumentError
    from statefold.serving import start_server
    for kwargs, message in (({"port": 70000}, "port must be an integer from 0 to 65535, got 70000"),
                            ({"threads": 0}, "threads must be an integer from 1 to 256, got 0"),
                            ({"token": ""}, "the token is empty")):
        with pytest.raises(InvalidArgumentError, match=message):
            start_server(state_dir=str(tmp_path), **kwargs)
    with pytest.raises(InvalidArgumentError, match="token is empty"):
        Client(url="http://127.0.0.1:1", token="")
    client = Client(str(tmp_path / "none"))
    with pytest.raises(InvalidArgumentError, match="limit must be an integer of at least 0, got -1"):
        client.dead_letters(-1)
    with pytest.raises(InvalidArgumentError, match="limit must be an integer of at least 0, got -1"):
        client.state_keys("r", -1)


def test_the_engine_refuses_a_port_out_of_range_itself(tmp_path):
    from statefold import InvalidArgumentError, _ext
    options = _ext.FeatureServiceOptions()
    options.state_dir = str(tmp_path / "state")
    options.wait_for_state_dir = True
    options.http.port = 70000
    assert options.http.port == 70000
    with pytest.raises(InvalidArgumentError, match="port must be an integer from 0 to 65535"):
        _ext.FeatureServer.start(options)

