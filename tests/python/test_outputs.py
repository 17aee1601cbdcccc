"""docs/semantics.md, Outputs: the returned feature object's values are written with the
message's timestamp and offset; None writes nothing; an invalid result fails the call.

`make_tester` (conftest.py) drives resolvers with statefold.testing.StreamTester: every send
appends JSON Lines records and runs the engine over the new ones, so `tester.state(...)`
decodes the state bytes the engine committed.
"""

import datetime
from dataclasses import dataclass
from typing import Any, Optional

import pytest
from pydantic import BaseModel

from statefold import Features, NotFoundError, State, features, stream

from semantics_defs import SOURCE, User


@features
class Device:
    id: str
    seen: int
    label: Optional[str]
    extra: int


@dataclass
class CountState:
    count: int = 0


class DeviceEvent(BaseModel):
    device: str
    mode: str = "ok"


@stream(source=SOURCE)
def device_outputs(event: DeviceEvent, state: State[CountState]) -> Features[Device.id, Device.seen, Device.label]:
    state.count += 1
    if event.mode == "none":
        return None
    if event.mode == "undeclared":
        return Device(id=event.device, seen=state.count, extra=1)
    if event.mode == "wrong_type":
        return Device(id=event.device, seen="many")
    if event.mode == "wrong_class":
        return User(id=event.device, unique_ip_count=1)
    if event.mode == "no_label":
        return Device(id=event.device, seen=state.count)
    return Device(id=event.device, seen=state.count, label=f"label{state.count}")


def _device(device: str, mode: str = "ok", timestamp: Any = None, key: Any = "same"):
    record = {"key": device if key == "same" else key, "value": {"device": device, "mode": mode}}
    if timestamp is not None:
        record["timestamp"] = timestamp
    return record


def test_outputs_written_with_message_timestamp(make_tester):
    tester = make_tester(device_outputs)
    iso = "2024-05-01T12:00:00.250+02:00"
    iso_ms = int(datetime.datetime.fromisoformat(iso).timestamp() * 1000)
    produced = tester.send_many([
        _device("d1", timestamp=1_700_000_000_123),
        _device("d2", timestamp=iso),
        _device("d1", timestamp=1_700_000_005_000),
    ])
    assert tester.client.get_with_times(Device, "d1") == {
        "device.id": {"value": "d1", "time_ms": 1_700_000_005_000, "offset": 2},
        "device.seen": {"value": 2, "time_ms": 1_700_000_005_000, "offset": 2},
        "device.label": {"value": "label2", "time_ms": 1_700_000_005_000, "offset": 2},
    }
    assert tester.client.get_with_times(Device, "d2") == {
        "device.id": {"value": "d2", "time_ms": iso_ms, "offset": 1},
        "device.seen": {"value": 1, "time_ms": iso_ms, "offset": 1},
        "device.label": {"value": "label1", "time_ms": iso_ms, "offset": 1},
    }
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 2, "device.label": "label2"}
    assert sorted((p["entity"], p["feature"], p["value"], p["time_ms"]) for p in produced) == sorted([
        ("d1", "device.id", "d1", 1_700_000_005_000),
        ("d1", "device.seen", 2, 1_700_000_005_000),
        ("d1", "device.label", "label2", 1_700_000_005_000),
        ("d2", "device.id", "d2", iso_ms),
        ("d2", "device.seen", 1, iso_ms),
        ("d2", "device.label", "label1", iso_ms),
    ])


def test_outputs_entity_id_is_the_returned_primary_key(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d7", key="some-partition", timestamp=10)])
    assert tester.features(Device, "d7") == {"device.id": "d7", "device.seen": 1, "device.label": "label1"}
    with pytest.raises(NotFoundError):
        tester.features(Device, "some-partition")


def test_outputs_none_writes_nothing(make_tester):
    tester = make_tester(device_outputs)
    produced = tester.send_many([_device("d1", "none", timestamp=5), _device("d1", "none", timestamp=6)])
    assert produced == []
    with pytest.raises(NotFoundError):
        tester.features(Device, "d1")
    assert tester.state(device_outputs, "d1") == CountState(count=2)
    assert tester.dead_letters() == []
    assert tester.last_run["outputs"] == 0
    # None after a value leaves the earlier value in place.
    tester.send_many([_device("d1", timestamp=7), _device("d1", "none", timestamp=8)])
    assert tester.client.get_with_times(Device, "d1")["device.seen"] == {"value": 3, "time_ms": 7, "offset": 2}


def test_outputs_only_returned_features_are_written(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", "no_label", timestamp=5)])
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 1}


@pytest.mark.parametrize("mode, error_text", [
    ("undeclared", "device.extra"),
    ("wrong_type", "device.seen"),
    ("wrong_class", "User"),
], ids=["undeclared-feature", "wrong-type", "wrong-feature-class"])
def test_outputs_invalid_are_dead_lettered(make_tester, mode, error_text):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", timestamp=1)])
    produced = tester.send_many([_device("d1", mode, timestamp=2), _device("d2", timestamp=3)])
    (dead,) = tester.dead_letters()
    assert dead["offset"] == 1
    assert dead["resolver"] == "device_outputs"
    assert dead["key"] == "d1"
    assert "returned an invalid value" in dead["error"]
    assert error_text in dead["error"]
    assert [p["entity"] for p in produced] == ["d2"] * 3
    # Nothing from the failed call is written, and its state change is rolled back.
    assert tester.client.get_with_times(Device, "d1")["device.seen"] == {"value": 1, "time_ms": 1, "offset": 0}
    assert tester.state(device_outputs, "d1") == CountState(count=1)
    tester.send_many([_device("d1", timestamp=4)])
    assert tester.features(Device, "d1") == {"device.id": "d1", "device.seen": 2, "device.label": "label2"}


def test_outputs_wrong_type_message(make_tester):
    tester = make_tester(device_outputs)
    tester.send_many([_device("d1", "wrong_type")])
    (dead,) = tester.dead_letters()
    assert "feature device.seen is int, got str" in dead["error"]



# -- NaN and infinities (issue 12, item 12) -----------------------------------------------------


@features
class Sensor:
    id: str
    reading: float
    maybe: Optional[float]
    history: list


class ReadingEvent(BaseModel):
    sensor: str
    reading: str  # "nan", "inf", "-inf" or a number, for float()
    where: str = "reading"


@stream(source=SOURCE)
def sensor_readings(event: ReadingEvent) -> Features[Sensor.id, Sensor.reading, Sensor.maybe, Sensor.history]:
    value = float(event.reading)
    if event.where == "maybe":
        return Sensor(id=event.sensor, reading=1.0, maybe=value)
    if event.where == "history":
        return Sensor(id=event.sensor, reading=1.0, history=[1.0, [value]])
    return Sensor(id=event.sensor, reading=value)


@pytest.mark.parametrize("text, name", [("nan", "NaN"), ("inf", "Infinity"), ("-inf", "-Infinity")])
@pytest.mark.parametrize("where", ["reading", "maybe", "history"])
def test_a_nan_or_infinite_feature_value_is_a_dead_letter_not_null(make_tester, text, name, where):
    tester = make_tester(sensor_readings)
    produced = tester.send({"sensor": "s1", "reading": text, "where": where}, key="s1")
    assert produced == []
    with pytest.raises(NotFoundError):
        tester.features(Sensor, "s1")  # nothing of the call was stored
    (dead,) = tester.dead_letters()
    assert dead["resolver"] == "sensor_readings"
    assert dead["error"] == (f"resolver sensor_readings returned an invalid value: feature "
                             f"sensor.{where}: {name} has no JSON form, so no feature can hold "
                             f"it: return a finite number, or no value for a missing one")
    tester.send({"sensor": "s1", "reading": "2.5", "where": where}, key="s1")
    assert tester.features(Sensor, "s1")["sensor.reading"] in (2.5, 1.0)
