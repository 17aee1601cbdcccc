"""The hostile corpus (hostile_corpus.py: over 10,000 records, every class of bad record of
issue #12 interleaved with well-formed ones) through the file source, with `statefold run`
(a real process) over examples/login: the run exits 0; every bad record is dead-lettered, at
its offset, with a reason that names what is wrong; blank lines are skipped; and the state and
features of every well-formed key are those of a run over the well-formed records alone.

Records with repeated member names are accepted as their last members ("aliases"): the good
run reads each as that record. Each class is its own test case.
"""

import json
import re

import pytest

import hostile_corpus
from conftest import LOGIN_DEFS, run_cli
from statefold import Client, NotFoundError

RESOLVER = "track_unique_ips"

# What a dead letter's reason must say, per class of bad record.
REASONS = {
    "invalid_json": r"not valid JSON|Invalid JSON|not a JSON object",
    "truncated": r"not valid JSON|Invalid JSON",
    "invalid_utf8": r"UTF-8",
    "bom_mid_file": r"BOM|byte order mark|not valid JSON|not a JSON object",
    "oversized": r"exceeds the limit",
    "deep_nesting": r"deep|depth|nest|recursion",
    "impossible_date": r"timestamp|date",
    "impossible_offset": r"timestamp|offset",
    "out_of_range_time_fields": r"timestamp",
    "nan_infinity": r"NaN|Infinity|not valid JSON|Invalid JSON|timestamp",
    "wrong_types": r"must be|Input should be|expected|not a JSON object",
    "not_an_object": r"not a JSON object",
    "missing_members": r"no \"value\" field|Field required|missing",
    "huge_numbers": r"timestamp|Input should be|out of range",
    "control_characters": r"escaped|control character",
    "lone_surrogates": r"surrogate|UTF-8|Invalid JSON",
    "trailing_content": r"not valid JSON|content after",
}
assert set(REASONS) == set(hostile_corpus.CLASSES)
# The classes that own keys.
OWNERS = (list(hostile_corpus.CLASSES) + list(hostile_corpus.ALIASES)
          + [hostile_corpus.BOM_AT_FILE_START])


def canonical(value):
    """A state as JSON text, its sets (JSON arrays in iteration order) sorted."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=json.dumps)
    return value


def read_run(state_dir, keys):
    client = Client(str(state_dir))
    try:
        dead = {d["offset"]: d for d in client.dead_letters(limit=1_000_000)}
        seen = {}
        for key in keys:
            try:
                state = client.state(RESOLVER, key)
            except NotFoundError:
                state = None
            try:
                features = client.get("user", key)
            except NotFoundError:
                features = None
            seen[key] = (canonical(state), features)
        return dead, seen
    finally:
        client.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    lines, labels = hostile_corpus.generate(seed=12)
    corpus, good = tmp / "hostile.jsonl", tmp / "good.jsonl"
    hostile_corpus.write(corpus, lines)
    hostile_corpus.write(good, hostile_corpus.good_only(lines, labels))
    keys = sorted({k for cls in OWNERS for k in hostile_corpus.keys_of(cls)})
    results = {}
    for name, path in (("hostile", corpus), ("good", good)):
        state_dir = tmp / f"state-{name}"
        process = run_cli("run", LOGIN_DEFS, "--input", path, "--state-dir", state_dir)
        dead, seen = read_run(state_dir, keys)
        results[name] = {"process": process, "dead": dead, "seen": seen}
    return lines, labels, results


def test_the_corpus_has_ten_thousand_records_of_every_class(runs):
    lines, labels, _ = runs
    records = [label for label in labels if label.kind != "blank"]
    assert len(records) >= 10_000
    assert {label.cls for label in labels if label.kind == "bad"} == set(hostile_corpus.CLASSES)
    assert {label.cls for label in labels if label.kind == "alias"} == set(hostile_corpus.ALIASES)
    assert hostile_corpus.generate(seed=12)[0] == lines  # deterministic


def test_a_hostile_corpus_neither_crashes_nor_fails_the_run(runs):
    _, labels, results = runs
    for name in ("hostile", "good"):
        process = results[name]["process"]
        assert process.returncode == 0, (name, process.returncode, process.stderr[-2000:])
        assert process.stdout.startswith("done: "), process.stdout
    records = sum(1 for label in labels if label.kind != "blank")
    assert results["hostile"]["process"].stdout.startswith(f"done: {records:,} messages,")


def test_well_formed_records_aliases_and_blank_lines_are_never_dead_letters(runs):
    _, labels, results = runs
    dead = results["hostile"]["dead"]
    # The BOM on line 0 is its own case (bom_at_file_start). Aliases are accepted: the keys
    # test compares what they did with what the records they stand for do.
    wrong = {offset: (labels[offset], dead[offset]["error"]) for offset in dead
             if labels[offset].kind != "bad" and offset != 0}
    assert wrong == {}
    assert results["good"]["dead"] == {}


@pytest.mark.parametrize("cls", hostile_corpus.CLASSES)
def test_every_bad_record_is_dead_lettered_with_a_precise_reason(runs, cls):
    lines, labels, results = runs
    dead = results["hostile"]["dead"]
    offsets = [i for i, label in enumerate(labels) if label.kind == "bad" and label.cls == cls]
    assert offsets
    missing = [lines[i][:120] for i in offsets if i not in dead]
    assert missing == [], f"{len(missing)} of {len(offsets)} {cls} records were not dead-lettered"
    vague = {dead[i]["error"] for i in offsets if not re.search(REASONS[cls], dead[i]["error"] or "")}
    assert vague == set(), f"{cls}: reasons that do not say what is wrong"
    for i in offsets:
        assert dead[i]["offset"] == i and dead[i]["resolver"] in (None, RESOLVER)


@pytest.mark.parametrize("cls", OWNERS)
def test_well_formed_keys_are_as_if_the_bad_records_were_absent(runs, cls):
    _, labels, results = runs
    if cls == hostile_corpus.BOM_AT_FILE_START:
        assert 0 not in results["hostile"]["dead"], results["hostile"]["dead"][0]["error"]
    for key in hostile_corpus.keys_of(cls):
        want = results["good"]["seen"][key]
        assert want[0] is not None and want[1] is not None, key  # the key has good records
        got = results["hostile"]["seen"][key]
        assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), key
