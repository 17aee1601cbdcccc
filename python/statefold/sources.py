"""Stream sources a resolver reads from."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


@dataclass
class KafkaSource:
    """A Kafka topic, as in Chalk's SDK.

    `statefold run DEFS.py --input FILE` (or `--source NAME=FILE`) binds the source to a
    JSON Lines file in the record format of docs/semantics.md; that is how the embedded default
    runs without a broker.
    """

    name: Optional[str] = None
    bootstrap_server: Optional[Union[str, List[str]]] = None
    topic: Optional[str] = None
    client_id_prefix: Optional[str] = None
    group_id_prefix: Optional[str] = None
    security_protocol: Optional[str] = None
    sasl_mechanism: Optional[str] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[str] = None
    ssl_ca_file: Optional[str] = None
    ssl_keystore_location: Optional[str] = None
    additional_kafka_args: Dict[str, Any] = field(default_factory=dict)
    dead_letter_queue_topic: Optional[str] = None
    late_arrival_deadline: Any = None

    @property
    def source_name(self) -> str:
        return self.name or self.topic or "default"


@dataclass
class FileSource:
    """A JSON Lines file of records `{"key": ..., "value": ..., "timestamp": ...}`."""

    name: str = "default"
    path: Optional[str] = None

    @property
    def source_name(self) -> str:
        return self.name
