# Definitions for test_kafka.py: a resolver over a dead-letter topic whose parse= function
# reads the message headers.
from dataclasses import dataclass, field
from typing import List

from statefold import KafkaSource, State, stream


@dataclass
class Seen:
    errors: List[str] = field(default_factory=list)


def with_headers(payload: bytes, headers: dict) -> dict:
    return {"resolver": headers["statefold.resolver"].decode(),
            "offset": int(headers["statefold.source.offset"]),
            "error": headers["statefold.error"].decode()}


@stream(source=KafkaSource(name="dlq"), parse=with_headers)
def read_dead_letters(event: dict, state: State[Seen]) -> None:
    state.errors.append(f'{event["resolver"]}@{event["offset"]}')
