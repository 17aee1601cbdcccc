"""Settings of named sources: explicit arguments, then environment variables, then a
`statefold.toml` file (in the working directory, or the file named by STATEFOLD_CONFIG).

For `KafkaSource(name="logins")` the environment variable of field `bootstrap_server` is
`STATEFOLD_KAFKA_LOGINS_BOOTSTRAP_SERVER` (the name upper-cased, other characters as `_`), and
the file's table is `[kafka.logins]`:

    [kafka.logins]
    bootstrap_server = "127.0.0.1:9092"
    topic = "logins"
    additional_kafka_args = { "fetch.min.bytes" = "1" }
"""

import datetime
import os
import re
import socket
import sys
from typing import Any, Dict, List, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

from . import _ext
from .errors import DefinitionError
from .sources import KafkaSource

KAFKA_FIELDS = (
    "bootstrap_server", "topic", "client_id_prefix", "group_id_prefix", "security_protocol",
    "sasl_mechanism", "sasl_username", "sasl_password", "ssl_ca_file", "ssl_keystore_location",
    "dead_letter_queue_topic", "late_arrival_deadline",
)

# KafkaSource fields -> librdkafka properties.
LIBRDKAFKA_NAMES = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanisms",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "ssl_ca_file": "ssl.ca.location",
    "ssl_keystore_location": "ssl.keystore.location",
}


def env_prefix(name: str) -> str:
    return "STATEFOLD_KAFKA_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"


def _file_settings(name: str) -> Dict[str, Any]:
    path = os.environ.get("STATEFOLD_CONFIG", "statefold.toml")
    if not os.path.exists(path) or tomllib is None:
        return {}
    with open(path, "rb") as f:
        try:
            document = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise DefinitionError(f"{path} is not valid TOML: {e}") from None
    return dict(document.get("kafka", {}).get(name, {}))


def kafka_settings(source: KafkaSource) -> Dict[str, Any]:
    """The source's fields after applying the environment and the configuration file."""
    name = source.source_name
    from_file = _file_settings(name)
    prefix = env_prefix(name)
    settings: Dict[str, Any] = {}
    for field in KAFKA_FIELDS:
        explicit = getattr(source, field)
        if explicit is not None:
            settings[field] = explicit
        elif prefix + field.upper() in os.environ:
            settings[field] = os.environ[prefix + field.upper()]
        elif field in from_file:
            settings[field] = from_file[field]
    args = dict(from_file.get("additional_kafka_args", {}))
    args.update(source.additional_kafka_args or {})
    settings["additional_kafka_args"] = args
    settings.setdefault("topic", source.topic or name)
    return settings


def kafka_source_description(
    source: KafkaSource, resolver_names: List[str], stop_at_end: bool
) -> Optional[Any]:
    """The engine's description of a Kafka source (an _ext.KafkaSourceOptions), or None when
    no broker is configured."""
    settings = kafka_settings(source)
    servers = settings.get("bootstrap_server")
    if not servers:
        return None
    if not isinstance(servers, str):
        servers = ",".join(servers)
    properties = {"bootstrap.servers": servers}
    client_prefix = settings.get("client_id_prefix") or "statefold"
    properties["client.id"] = f"{client_prefix}-{socket.gethostname()}-{os.getpid()}"
    for field, property_name in LIBRDKAFKA_NAMES.items():
        if settings.get(field):
            properties[property_name] = str(settings[field])
    properties.update({k: str(v) for k, v in settings["additional_kafka_args"].items()})
    group_prefix = settings.get("group_id_prefix") or "statefold"
    options = _ext.KafkaSourceOptions()
    options.name = source.source_name
    options.topic = settings["topic"]
    options.group_id = f"{group_prefix}.{'+'.join(sorted(resolver_names))}"
    options.properties = list(properties.items())
    options.stop_at_end = stop_at_end
    options.dead_letter_topic = settings.get("dead_letter_queue_topic") or ""
    options.late_arrival_deadline_ms = duration_ms(settings.get("late_arrival_deadline"),
                                                   source.source_name)
    options.single_worker = single_worker(source.source_name)
    return options


def single_worker(name: str) -> bool:
    """Source `name`'s `single_worker` setting (statefold's own, not a KafkaSource argument):
    the environment (1/true/yes or 0/false/no), then statefold.toml (a boolean); False."""
    variable = env_prefix(name) + "SINGLE_WORKER"
    if variable in os.environ:
        text = os.environ[variable].strip().lower()
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no", ""):
            return False
        raise DefinitionError(f"{variable} must be 1/true/yes or 0/false/no, got {text!r}")
    value = _file_settings(name).get("single_worker", False)
    if not isinstance(value, bool):
        raise DefinitionError(f"single_worker of [kafka.{name}] must be true or false, got {value!r}")
    return value


_DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(value: Any, source_name: str) -> int:
    """A late-arrival deadline in milliseconds; 0 for none. Takes a timedelta, seconds, or
    Chalk's duration strings ("30m", "1h30m", "2d", "infinity")."""
    if value is None or value == "infinity":
        return 0
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, (int, float)):
        return int(value * 1000)
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w)", str(value))
    if not parts or "".join(n + u for n, u in parts) != str(value).replace(" ", ""):
        raise DefinitionError(
            f"source {source_name}: late_arrival_deadline {value!r} is not a duration like 30m, 1h30m or 2d"
        )
    return sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
