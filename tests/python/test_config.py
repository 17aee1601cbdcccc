"""Source settings: explicit arguments win over environment variables, which win over
statefold.toml; durations parse as Chalk writes them. Options cross to the engine as typed
structs, so a misspelt option fails where it is set; engine errors arrive as the class of their
Status code."""

import datetime
import json
import socket
from dataclasses import dataclass

import pytest

import statefold
from statefold import (AbortedError, CorruptionError, DefinitionError, Features,
                       InvalidArgumentError, KafkaSource, NotFoundError, State, StatefoldError,
                       StatefoldIOError, _ext, features, stream)
from statefold.config import duration_ms, kafka_settings, kafka_source_description
from statefold.runtime import engine_options, file_source, run
from statefold.serving import start_server
from statefold.testing import StreamTester


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
    properties = dict(description.properties)
    assert properties["bootstrap.servers"] == "a:1,b:2"
    assert properties["security.protocol"] == "SASL_SSL"
    assert properties["sasl.mechanisms"] == "PLAIN"
    assert properties["fetch.min.bytes"] == "7"
    assert properties["linger.ms"] == "3"
    assert description.group_id == "env-group.r1+r2"
    assert description.stop_at_end is True


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


@features
class Visitor:
    id: str
    visits: int


@dataclass
class Visits:
    n: int = 0


@stream(source=KafkaSource(name="visits"))
def count_visits(event: dict, state: State[Visits]) -> Features[Visitor.id, Visitor.visits]:
    state.n += 1
    return Visitor(id=event["id"], visits=state.n)


def test_a_kafka_source_is_described_by_typed_options(tmp_path, monkeypatch):
    monkeypatch.setenv("STATEFOLD_CONFIG", str(tmp_path / "absent.toml"))
    description = kafka_source_description(
        KafkaSource(name="logins", bootstrap_server="a:1", dead_letter_queue_topic="dlq",
                    late_arrival_deadline="30m"), ["r"], stop_at_end=False)
    assert isinstance(description, _ext.KafkaSourceOptions)
    assert (description.name, description.topic, description.dead_letter_topic) == ("logins", "logins", "dlq")
    assert description.late_arrival_deadline_ms == 1_800_000
    assert description.stop_at_end is False


def test_a_misspelt_engine_option_fails_when_the_tester_is_made(tmp_path):
    with pytest.raises(TypeError, match="'batch_sise'; did you mean 'batch_size'"):
        StreamTester(count_visits, state_dir=str(tmp_path / "t"), batch_sise=10)
    assert not (tmp_path / "t").exists()  # nothing ran
    with pytest.raises(TypeError, match="'checkpoint_every_message'; did you mean "
                                        "'checkpoint_every_messages'"):
        engine_options(checkpoint_every_message=10)
    with pytest.raises(InvalidArgumentError, match="batch_size must be an integer"):
        engine_options(batch_size="ten")
    options = engine_options(batch_size=10, online_store="embedded")
    assert (options.batch_size, options.online_store, options.sync) == (10, "embedded", False)


@pytest.mark.parametrize("make, field", [
    (_ext.EngineOptions, "batch"),
    (_ext.KafkaSourceOptions, "dead_letter_queue_topic"),
    (lambda: _ext.FileSourceOptions(name="n", path="p"), "file"),
    (_ext.FeatureServiceOptions, "online_store"),
    (_ext.HttpServerOptions, "thread"),
    (_ext.PythonResolverConfig, "event_positon"),
    (_ext.OutputFeature, "nullible"),
    (_ext.ResolverSpec, "key"),
])
def test_a_misspelt_field_of_a_typed_option_is_an_attribute_error_naming_it(make, field):
    options = make()
    with pytest.raises(AttributeError, match=field):
        setattr(options, field, 1)


def test_an_inconsistent_resolver_config_is_refused_before_the_run(tmp_path):
    events = tmp_path / "visits.jsonl"
    events.write_text(json.dumps({"key": "v1", "value": {"id": "v1"}}) + "\n")
    config = _ext.PythonResolverConfig()
    config.spec.name = "broken"
    config.spec.source = "visits"
    config.spec.stateful = True  # without a codec or a state position
    config.function = lambda event, state: None
    with pytest.raises(InvalidArgumentError, match="resolver broken: a stateful config needs a Codec"):
        _ext.run(engine_options(state_dir=str(tmp_path / "state")),
                 [file_source("visits", str(events))], [config])


def test_each_status_code_arrives_as_its_own_exception_class(tmp_path):
    classes = [InvalidArgumentError, NotFoundError, CorruptionError, StatefoldIOError, AbortedError]
    assert len(set(classes)) == len(classes)
    assert all(issubclass(c, StatefoldError) for c in classes)

    with pytest.raises(InvalidArgumentError, match="neither 'embedded' nor a redis:// URL"):
        statefold.Client(str(tmp_path), online_store="memcached://h").get("user", "u1")
    with pytest.raises(NotFoundError, match="no statefold state"):
        statefold.Client(str(tmp_path / "absent"), follow=False).status()
    with pytest.raises(CorruptionError):
        count_visits.decode_state(b"\xff\xff\xff\xff")

    first = start_server(state_dir=str(tmp_path / "served"), port=0, wait_for_state_dir=True)
    try:
        with pytest.raises(StatefoldIOError, match="cannot listen"):
            start_server(state_dir=str(tmp_path / "served"), port=first.port, wait_for_state_dir=True)
    finally:
        first.stop()

    # A checkpoint waits for an unreachable Redis online store until should_stop: then the
    # run ends with Aborted. The port is bound but not listening, so connecting is refused.
    events = tmp_path / "visits.jsonl"
    events.write_text("".join(json.dumps({"key": "v1", "value": {"id": "v1"}}) + "\n" for _ in range(20)))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        asked = []

        def stop_after_a_batch() -> bool:
            asked.append(None)
            return len(asked) > 2

        options = engine_options(state_dir=str(tmp_path / "state"), batch_size=1,
                                 online_store=f"redis://127.0.0.1:{closed.getsockname()[1]}")
        with pytest.raises(AbortedError, match="stopped while the Redis online store was unreachable"):
            run([count_visits], [file_source("visits", str(events))], options,
                should_stop=stop_after_a_batch)
