"""A hostile JSON Lines corpus for examples/login (LoginEvent {user_id, ip_address}; the state
is the set of a user's IP addresses, the feature User.unique_ip_count), deterministic for a seed.

    python tests/python/hostile_corpus.py --seed 12 --out hostile.jsonl [--good-out good.jsonl]

Every class of bad record that statefold issue #12 lists (invalid JSON, truncated records,
invalid UTF-8, BOMs, oversized lines, deep nesting, duplicate member names, impossible
timestamps, NaN and Infinity, wrong types, missing members, huge numbers, control characters,
...) is interleaved with well-formed records, and so are records that every reader must take
as another (a name given twice is its last occurrence: "aliases"). Each class owns a few keys of its own
(`<class>-0` ...): its good records use them, and its bad records name them (or each other,
for the records that try to pass as one user while changing another), so that a bad record
accepted wrongly changes the state of its own class's keys and no other. Blank lines, which
the file source skips (docs/semantics.md, Offsets), are interleaved too.

`generate(seed)` returns the lines (bytes, without their newline) and, per line, what it is:
a `Line` with `kind` "good", "bad", "alias" or "blank", the class and, for a good record,
its key (for an alias, the record it must act as).
The same seed gives the same bytes.
"""

import argparse
import json
import random
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

# The engine's default message limit (EngineOptions::max_message_bytes, 1 MiB).
MAX_MESSAGE_BYTES = 1 << 20

KEYS_PER_CLASS = 3
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    kind: str  # "good", "bad", "alias" or "blank"
    cls: str  # the class of a bad record or an alias, or of the keys of a good one
    key: Optional[str] = None  # of a good record
    as_record: Optional[bytes] = None  # of an alias: the record it must act as


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(", ", ": "), ensure_ascii=False).encode()


def good_record(rng: random.Random, key: str, time_ms: int, ip: Optional[str] = None) -> bytes:
    """Good records' addresses are 10.0-3.0-3.0-7; bad ones use others, so that one accepted
    wrongly shows in the state."""
    ip = ip or f"10.{rng.randrange(4)}.{rng.randrange(4)}.{rng.randrange(8)}"
    return dumps({"key": key, "value": {"user_id": key, "ip_address": ip}, "timestamp": time_ms})


def record_text(key: str, value_text: str, timestamp: str = "1767225600000") -> bytes:
    return f'{{"key": "{key}", "value": {value_text}, "timestamp": {timestamp}}}'.encode()


# ---- The bad records of each class: fn(rng, own keys) -> bytes. ----

def invalid_json(rng, keys):
    k = rng.choice(keys)
    return rng.choice([
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1",}}}}',
        f"{{'key': '{k}', 'value': {{'user_id': '{k}', 'ip_address': '10.0.0.1'}}}}",
        f'{{"key": "{k}" "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": 10.0.0.1}}}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1", "extra": [1,,2]}}}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1", "extra": tru}}}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1", "extra": 01}}}}',
        f'{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1", "x": "\\q"}}}}',
        "not json at all",
        "}{",
    ]).encode()


def truncated(rng, keys):
    whole = good_record(rng, rng.choice(keys), 1767225600000)
    return whole[: rng.randrange(1, len(whole) - 1)].rstrip(b" \t") or b"{"


def invalid_utf8(rng, keys):
    k = rng.choice(keys)
    bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80"])
    where = rng.randrange(3)
    if where == 0:
        return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}').replace(
            b'"10.0.0.1"', b'"10.0.' + bad + b'"')
    if where == 1:
        return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}').replace(
            b'"10.0.0.1"}', f'"10.0.0.1", "x{bad.hex()}": "'.encode() + bad + b'"}')
    return (f'{{"key": "{k}'.encode() + bad +
            f'", "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}'.encode())


def bom_mid_file(rng, keys):
    return BOM + good_record(rng, rng.choice(keys), 1767225600000)


def oversized(rng, keys):
    k = rng.choice(keys)
    pad = "x" * (MAX_MESSAGE_BYTES + rng.randrange(1, 4096))
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1", "pad": "{pad}"}}')


def deep_nesting(rng, keys):
    k = rng.choice(keys)
    depth = 100_000
    open_, close = rng.choice([("[", "]"), ('{"a": ', "}")])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.9.9.9", "deep": '
                          f'{open_ * depth}1{close * depth}}}')


def duplicate_members(rng, keys):
    """Repeated member names, each with what every reader takes it as: the last of the
    repeated names, in the value as in the envelope (docs/semantics.md, State). A record with
    a name repeated on a `keys=` path is a dead letter (test_partition_keys.py); the example
    keys by the envelope, so these are accepted, and must act as their last members."""
    victim, attacker = rng.sample(keys, 2)
    value = f'{{"user_id": "{victim}", "ip_address": "10.7.7.7"}}'
    return rng.choice([
        (record_text(victim, f'{{"user_id": "{victim}", "user_id": "{attacker}", '
                             f'"ip_address": "10.7.7.7"}}'),
         record_text(victim, f'{{"user_id": "{attacker}", "ip_address": "10.7.7.7"}}')),
        (record_text(victim, f'{{"user_id": "{victim}", "ip_address": "10.7.7.7", '
                             f'"ip_address": "10.7.7.8"}}'),
         record_text(victim, f'{{"user_id": "{victim}", "ip_address": "10.7.7.8"}}')),
        (f'{{"key": "{victim}", "key": "{attacker}", "value": {value}}}'.encode(),
         f'{{"key": "{attacker}", "value": {value}}}'.encode()),
        (f'{{"key": "{victim}", "value": {value}, '
         f'"value": {{"user_id": "{attacker}", "ip_address": "10.7.7.8"}}}}'.encode(),
         f'{{"key": "{victim}", "value": {{"user_id": "{attacker}", '
         f'"ip_address": "10.7.7.8"}}}}'.encode()),
    ])


def impossible_date(rng, keys):
    k = rng.choice(keys)
    date = rng.choice(["2026-02-30", "2026-02-29", "2026-04-31", "2025-06-31", "2026-11-31"])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.6.6.6"}}', f'"{date}T00:00:00Z"')


def impossible_offset(rng, keys):
    k = rng.choice(keys)
    offset = rng.choice(["+99:99", "+24:00", "-12:60", "+05:75", "+9999"])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.6.6.7"}}',
                       f'"2026-01-01T00:00:00{offset}"')


def out_of_range_time_fields(rng, keys):
    k = rng.choice(keys)
    text = rng.choice(["2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-32T00:00:00Z",
                       "2026-01-01T24:00:00Z", "2026-01-01T12:60:00Z", "2026-01-01T12:00:61Z",
                       "yesterday", "", "2026-01-01T00:00:00.Z"])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.6.6.8"}}', f'"{text}"')


def nan_infinity(rng, keys):
    k = rng.choice(keys)
    literal = rng.choice(["NaN", "Infinity", "-Infinity", "nan", "inf"])
    where = rng.randrange(3)
    if where == 0:
        return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.5.5.5", "score": {literal}}}')
    if where == 1:
        return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}', literal)
    return f'{{"key": {literal}, "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}'.encode()


def wrong_types(rng, keys):
    k = rng.choice(keys)
    return rng.choice([
        record_text(k, f'{{"user_id": 5, "ip_address": "10.0.0.1"}}'),
        record_text(k, f'{{"user_id": "{k}", "ip_address": null}}'),
        record_text(k, f'{{"user_id": "{k}", "ip_address": ["10.0.0.1"]}}'),
        record_text(k, f'{{"user_id": "{k}", "ip_address": {{"v4": "10.0.0.1"}}}}'),
        record_text(k, f'{{"user_id": true, "ip_address": "10.0.0.1"}}'),
        record_text(k, '["10.0.0.1"]'),
        record_text(k, "42"),
        record_text(k, "null"),
        record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}', "true"),
        record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}', "1.5"),
        record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}', '{"ms": 1}'),
        f'{{"key": true, "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}'.encode(),
        f'{{"key": ["{k}"], "value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}'.encode(),
    ])


def not_an_object(rng, keys):
    k = rng.choice(keys)
    return rng.choice([f'["{k}", "10.0.0.1"]', f'"{k}"', "42", "null", "true",
                       f'[{{"key": "{k}", "value": {{"user_id": "{k}", "ip_address": "1"}}}}]']).encode()


def missing_members(rng, keys):
    k = rng.choice(keys)
    return rng.choice([
        record_text(k, f'{{"user_id": "{k}"}}'),
        record_text(k, '{"ip_address": "10.0.0.1"}'),
        record_text(k, "{}"),
        f'{{"key": "{k}", "timestamp": 1767225600000}}'.encode(),
        f'{{"key": "{k}", "Value": {{"user_id": "{k}", "ip_address": "10.0.0.1"}}}}'.encode(),
        b"{}",
    ])


def huge_numbers(rng, keys):
    k = rng.choice(keys)
    big = rng.choice(["123456789012345678901234567890", "9223372036854775808", "1e400",
                      "-1e400", "18446744073709551616", "1" * 400])
    if rng.randrange(2):
        return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}', big)
    return record_text(k, f'{{"user_id": "{k}", "ip_address": {big}}}')


def control_characters(rng, keys):
    k = rng.choice(keys)
    c = bytes([rng.choice([0, 1, 7, 8, 9, 11, 12, 13, 27, 31])])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1"}}').replace(
        b'"10.0.0.1"', b'"10.0' + c + b'.0.1"')


def lone_surrogates(rng, keys):
    k = rng.choice(keys)
    esc = rng.choice(["\\ud800", "\\udfff", "\\ud83d", "\\udc00\\ud800"])
    return record_text(k, f'{{"user_id": "{k}", "ip_address": "10.0.0.1{esc}"}}')


def trailing_content(rng, keys):
    whole = good_record(rng, rng.choice(keys), 1767225600000)
    return whole + rng.choice([b" x", b"}", b",", b" {}", b" " + whole, b"\x00"])


CLASSES: Dict[str, Callable[[random.Random, List[str]], bytes]] = {
    "invalid_json": invalid_json,
    "truncated": truncated,
    "invalid_utf8": invalid_utf8,
    "bom_mid_file": bom_mid_file,
    "oversized": oversized,
    "deep_nesting": deep_nesting,
    "impossible_date": impossible_date,
    "impossible_offset": impossible_offset,
    "out_of_range_time_fields": out_of_range_time_fields,
    "nan_infinity": nan_infinity,
    "wrong_types": wrong_types,
    "not_an_object": not_an_object,
    "missing_members": missing_members,
    "huge_numbers": huge_numbers,
    "control_characters": control_characters,
    "lone_surrogates": lone_surrogates,
    "trailing_content": trailing_content,
}
# Records that are accepted as another record: fn(rng, own keys) -> (bytes, as what).
ALIASES: Dict[str, Callable[[random.Random, List[str]], Tuple[bytes, bytes]]] = {
    "duplicate_members": duplicate_members,
}
# Few of these: each is large.
COUNTS = {"oversized": 2, "deep_nesting": 3}
# A good record behind a UTF-8 BOM on the file's first line: a record, not a dead letter.
BOM_AT_FILE_START = "bom_at_file_start"
BLANK = [b"", b"   ", b"\t", b" \t ", b"\r"]


def keys_of(cls: str) -> List[str]:
    return [f"{cls}-{i}" for i in range(KEYS_PER_CLASS)]


def generate(seed: int = 12, bad_per_class: int = 300, good: int = 6000,
             blank: int = 200) -> Tuple[List[bytes], List[Line]]:
    rng = random.Random(seed)
    items: List[Tuple[bytes, Line]] = []
    for cls, make in CLASSES.items():
        keys = keys_of(cls)
        for _ in range(COUNTS.get(cls, bad_per_class)):
            items.append((make(rng, keys), Line("bad", cls)))
    for cls, make in ALIASES.items():
        for _ in range(bad_per_class):
            text, as_record = make(rng, keys_of(cls))
            items.append((text, Line("alias", cls, as_record=as_record)))
    owners = list(CLASSES) + list(ALIASES) + [BOM_AT_FILE_START]
    for i in range(good):
        cls = owners[i % len(owners)]
        key = rng.choice(keys_of(cls))
        items.append((None, Line("good", cls, key)))
    for _ in range(blank):
        items.append((rng.choice(BLANK), Line("blank", "blank")))
    rng.shuffle(items)
    lines, labels = [], []
    time_ms = 1767225600000
    first_key = keys_of(BOM_AT_FILE_START)[0]
    lines.append(BOM + good_record(rng, first_key, time_ms, ip="192.0.2.1"))
    labels.append(Line("good", BOM_AT_FILE_START, first_key))
    for text, label in items:
        time_ms += 1
        if label.kind == "good":
            text = good_record(rng, label.key, time_ms)
        lines.append(text)
        labels.append(label)
    return lines, labels


def good_only(lines: List[bytes], labels: List[Line]) -> List[bytes]:
    """The well-formed records alone, in order, without the BOM; each alias as the record it
    must act as."""
    out = []
    for text, label in zip(lines, labels):
        if label.kind == "good":
            out.append(text[len(BOM):] if text.startswith(BOM) else text)
        elif label.kind == "alias":
            out.append(label.as_record)
    return out


def write(path, lines: List[bytes]) -> None:
    with open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--out", required=True)
    p.add_argument("--good-out", help="also write the well-formed records alone here")
    a = p.parse_args()
    lines, labels = generate(a.seed)
    write(a.out, lines)
    if a.good_out:
        write(a.good_out, good_only(lines, labels))


if __name__ == "__main__":
    main()
