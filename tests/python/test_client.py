"""statefold.Client(state_dir): features, state, keys, dead letters and reset, read from what
the engine committed.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed.
"""

import pytest

from statefold import Client, NotFoundError

from semantics_defs import IpState, User, login, raises_on_bad


def test_client_api(make_tester):
    tester = make_tester(raises_on_bad)
    tester.send_many([
        login("u1", "a", timestamp=100),
        login("u2", "b", timestamp=200),
        login("u1", "bad", timestamp=300),
        login("u1", "c", timestamp=400),
    ])
    client = Client(tester.state_dir)

    assert client.get(User, "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    assert client.get("user", "u2") == {"user.id": "u2", "user.unique_ip_count": 1}
    with pytest.raises(NotFoundError):
        client.get("user", "nobody")
    assert client.get_with_times("user", "u1")["user.unique_ip_count"] == {"value": 2, "time_ms": 400, "offset": 3}

    state = client.state(raises_on_bad, "u1")
    assert type(state) is IpState
    assert state == IpState(unique_ips={"a", "c"}, history=["a", "c"])
    as_json = client.state("raises_on_bad", "u1")
    assert sorted(as_json["unique_ips"]) == ["a", "c"] and as_json["history"] == ["a", "c"]
    with pytest.raises(NotFoundError):
        client.state(raises_on_bad, "nobody")
    with pytest.raises(NotFoundError):
        client.state("no_such_resolver", "u1")

    assert sorted(client.state_keys(raises_on_bad)) == ["u1", "u2"]
    assert sorted(client.state_keys("raises_on_bad")) == ["u1", "u2"]
    assert client.state_keys(raises_on_bad, limit=1) in (["u1"], ["u2"])

    dead = client.dead_letters()
    assert [(d["offset"], d["key"], d["resolver"], d["timestamp"]) for d in dead] == [(2, "u1", "raises_on_bad", 300)]

    client.reset_state(raises_on_bad)
    assert client.state_keys(raises_on_bad) == []
    with pytest.raises(NotFoundError):
        client.state(raises_on_bad, "u1")
    # Features and dead letters are not state: they stay.
    assert client.get("user", "u1") == {"user.id": "u1", "user.unique_ip_count": 2}
    assert len(client.dead_letters()) == 1
    # After a reset, keys start again from the initial state.
    tester.send_many([login("u1", "z", timestamp=500)])
    assert client.state(raises_on_bad, "u1") == IpState(unique_ips={"z"}, history=["z"])
    assert client.get("user", "u1") == {"user.id": "u1", "user.unique_ip_count": 1}


def test_client_on_missing_state_dir(tmp_path):
    client = Client(str(tmp_path / "does-not-exist"))
    with pytest.raises(NotFoundError):
        client.get("user", "u1")
    assert not (tmp_path / "does-not-exist").exists()
