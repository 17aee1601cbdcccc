"""Source settings: explicit arguments win over environment variables, which win over
statefold.toml; durations parse as Chalk writes them."""

import datetime

import pytest

from statefold import DefinitionError, KafkaSource
from statefold.config import duration_ms, kafka_settings, kafka_source_description


def test_explicit_then_environment_then_file(tmp_path, monkeypatch):
    config = tmp_path / "statefold.toml"
    config.write_text('[kafka.logins]\nbootstrap_server = "file:1"\ntopic = "from-file"\n'
                      'group_id_prefix = "file-group"\nadditional_kafka_args = { "fetch.min.bytes" = 7 }\n')
    monkeypatch.setenv("STATEFOLD_CONFIG", str(config))
    monkeypatch.setenv("STATEFOLD_KAFKA_LOGINS_BOOTSTRAP_SERVER", "env:1")
    monkeypatch.setenv("STATEFOLD_KAFKA_LOGINS_GROUP_ID_PREFIX", "env-group")
    settings = kafka_settings(KafkaSource(name="logins", group_id_prefix="explicit-group"))
    assert settings["bootstrap_server"] == "env:1"
    assert settings["topic"] == "from-file"
    assert settings["group_id_prefix"] == "explicit-group"

    description = kafka_source_description(
        KafkaSource(name="logins", bootstrap_server=["a:1", "b:2"], security_protocol="SASL_SSL",
                    sasl_mechanism="PLAIN", additional_kafka_args={"linger.ms": 3}),
        ["r2", "r1"], stop_at_end=True)
    assert description["properties"]["bootstrap.servers"] == "a:1,b:2"
    assert description["properties"]["security.protocol"] == "SASL_SSL"
    assert description["properties"]["sasl.mechanisms"] == "PLAIN"
    assert description["properties"]["fetch.min.bytes"] == "7"
    assert description["properties"]["linger.ms"] == "3"
    assert description["group_id"] == "env-group.r1+r2"
    assert description["stop_at_end"] is True


def test_no_bootstrap_server_means_no_kafka_source(monkeypatch, tmp_path):
    monkeypatch.setenv("STATEFOLD_CONFIG", str(tmp_path / "absent.toml"))
    assert kafka_source_description(KafkaSource(name="nowhere"), ["r"], False) is None


def test_durations():
    assert duration_ms("30m", "s") == 1_800_000
    assert duration_ms("1h30m", "s") == 5_400_000
    assert duration_ms("2d", "s") == 172_800_000
    assert duration_ms(datetime.timedelta(seconds=5), "s") == 5000
    assert duration_ms("infinity", "s") == 0
    assert duration_ms(None, "s") == 0
    with pytest.raises(DefinitionError, match="late_arrival_deadline"):
        duration_ms("soon", "s")
