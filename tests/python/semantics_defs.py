"""Definitions shared by the tests of docs/semantics.md's rules (test_state.py,
test_partition_keys.py, test_failures.py, test_outputs.py, test_cli.py, test_client.py): the
login source, event and feature types, record builders, and the resolvers that several rules'
tests drive through the real engine.
"""

import random
from dataclasses import dataclass, field
from typing import Any, Dict, List, Set

from pydantic import BaseModel

from statefold import Features, KafkaSource, State, features, stream

SOURCE = KafkaSource(name="logins")


class LoginEvent(BaseModel):
    user_id: str
    ip_address: str


class SeqEvent(BaseModel):
    user_id: str
    seq: int
    kind: str = "login"
    bad: bool = False


@features
class User:
    id: str
    unique_ip_count: int


def login(user: str, ip: str, key: Any = "same", timestamp: Any = None) -> Dict[str, Any]:
    """A login record; the message key is the user unless given."""
    record = {"key": user if key == "same" else key, "value": {"user_id": user, "ip_address": ip}}
    if timestamp is not None:
        record["timestamp"] = timestamp
    return record


# A resolver that raises for the ip "bad" after mutating its state.


@dataclass
class IpState:
    unique_ips: Set[str] = field(default_factory=set)
    history: List[str] = field(default_factory=list)


@stream(source=SOURCE)
def raises_on_bad(event: LoginEvent, state: State[IpState]) -> Features[User.id, User.unique_ip_count]:
    state.unique_ips.add(event.ip_address)
    state.history.append(event.ip_address)
    if event.ip_address == "bad":
        raise RuntimeError(f"refusing ip {event.ip_address} of {event.user_id}")
    return User(id=event.user_id, unique_ip_count=len(state.unique_ips))


# A resolver that appends each event's sequence number to its key's state (and raises for the
# events marked bad, after appending), over records of random keys.


@dataclass
class SeqState:
    seqs: List[int] = field(default_factory=list)


@features
class Stream:
    id: str
    last_seq: int
    count: int


@stream(source=SOURCE)
def append_seq(event: SeqEvent, state: State[SeqState]) -> Features[Stream.id, Stream.last_seq, Stream.count]:
    state.seqs.append(event.seq)
    if event.bad:
        raise ValueError(f"bad event {event.seq} for {event.user_id}")
    return Stream(id=event.user_id, last_seq=event.seq, count=len(state.seqs))


def seq_records(count: int, keys: int, seed: int, start: int = 0):
    """`count` records of keys k0..k{keys-1}, sequence numbers from `start`, values not set."""
    rng = random.Random(seed)
    return [{"key": f"k{rng.randrange(keys)}", "value": None, "seq": start + n} for n in range(count)]


def fill_seq_values(records, bad=()):
    """Sets each record's value: its key, its sequence number, and whether it is in `bad`."""
    for r in records:
        r["value"] = {"user_id": r["key"], "seq": r["seq"], "bad": r["seq"] in bad}
    return records
