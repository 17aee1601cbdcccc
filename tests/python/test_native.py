"""Native C++ resolvers (include/statefold/native.h) run by `statefold run MODULE.so`: the
native login example gives byte-for-byte the Python example's features, shares state with it,
runs beside Python resolvers on one source, and builds as an outside CMake project."""

import json
import os
import random
import subprocess
import textwrap

import pytest

from statefold import _ext

from conftest import LOGIN_DEFS, REPO, run_cli

NATIVE_MODULE = REPO / "build" / "examples" / "login_native" / "liblogin_features.so"


@pytest.fixture(scope="module", autouse=True)
def native_module_exists():
    assert NATIVE_MODULE.exists(), f"{NATIVE_MODULE} is missing: run `make build`"


def write_logins(path, messages=20000, users=700, seed=3, start=0):
    """Login records with some lines that are not JSON and some events without an ip."""
    rng = random.Random(seed)
    with open(path, "a") as f:
        for i in range(start, start + messages):
            if i % 491 == 0:
                f.write("{this line is not JSON\n")
                continue
            user = f"u{int(users * rng.random() ** 2)}"
            value = {"user_id": user, "ip_address": f"10.{rng.randrange(3)}.0.{rng.randrange(30)}"}
            if i % 733 == 0:
                value = {"user_id": user}  # does not decode into LoginEvent
            if i % 877 == 0:
                value["ip_address"] = 7  # not a string: pydantic and the native parser both refuse
            f.write(json.dumps({"key": user, "value": value, "timestamp": 1767225600000 + i}) + "\n")


def run(definitions, input_path, state_dir, *extra):
    return run_cli("run", *definitions, "--input", input_path, "--state-dir", state_dir,
                   "--checkpoint-messages", "5000", *extra, check=True)


def committed(state_dir):
    """Everything a run committed, raw: feature values as stored (JSON text, time, offset),
    states as sets, and the offsets of dead letters."""
    inspector = _ext.Inspector.open(str(state_dir), False)
    keys = inspector.state_keys("track_unique_ips", 1_000_000)
    features = {k: inspector.features("user", k) for k in keys}
    states = {k: set(json.loads(inspector.state_json("track_unique_ips", k))["unique_ips"])
              for k in keys}
    dead = [json.loads(r) for r in inspector.dead_letters(1_000_000)]
    return features, states, [(d["offset"], d["resolver"]) for d in dead]


def test_native_example_writes_byte_identical_features_to_the_python_example(tmp_path):
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path)
    run([LOGIN_DEFS], input_path, str(tmp_path / "python"))
    native = run([NATIVE_MODULE], input_path, str(tmp_path / "native"))
    assert native.stdout.startswith("done: 20,000 messages"), native.stdout

    python_result = committed(tmp_path / "python")
    native_result = committed(tmp_path / "native")
    assert len(python_result[0]) > 500
    assert native_result[0] == python_result[0]  # (name, JSON text, time, offset) per feature
    assert native_result[1] == python_result[1]
    assert len(python_result[2]) > 50
    assert native_result[2] == python_result[2]


def nested(depth, inner="1"):
    """JSON text of arrays nested `depth` levels deep."""
    return "[" * depth + inner + "]" * depth


def test_the_python_and_native_examples_decide_alike_on_deeply_nested_values(tmp_path):
    """The nesting limit (128 levels, docs/semantics.md, Records) is the record decoder's, for
    every resolver: a value nesting deeper is a dead letter before pydantic or the native
    event parser sees it, so both builds keep the same records and the same state."""
    records = []
    for i, depth in enumerate([1, 127, 128, 129, 300, 100_000]):
        # The member is unknown to LoginEvent; the value's object is level 1, so `extra`
        # nests depth - 1 levels: depth - 2 arrays around an object.
        extra = "1" if depth == 1 else nested(depth - 2, "{}")
        value = f'{{"user_id": "u{i}", "ip_address": "10.0.0.{i}", "extra": {extra}}}'
        records.append(f'{{"key": "u{i}", "value": {value}, "timestamp": {1_000 + i}}}')
    records.append('{"key": "s", "value": {"user_id": "s", "ip_address": "[[[[", "x": "]]]]"}}')
    input_path = tmp_path / "deep.jsonl"
    input_path.write_text("".join(r + "\n" for r in records))
    run([LOGIN_DEFS], input_path, str(tmp_path / "python"), "--batch-size", "2")
    run([NATIVE_MODULE], input_path, str(tmp_path / "native"), "--batch-size", "2")

    def outcome(state_dir):
        inspector = _ext.Inspector.open(str(state_dir), False)
        dead = [json.loads(r) for r in inspector.dead_letters(100)]
        return (inspector.state_keys("track_unique_ips", 100),
                [(d["offset"], d["resolver"], d["error"]) for d in dead])

    python_result, native_result = outcome(tmp_path / "python"), outcome(tmp_path / "native")
    assert native_result == python_result
    keys, dead = python_result
    assert keys == ["s", "u0", "u1", "u2"]  # depths 1, 127 and 128; brackets in strings count not
    assert [offset for offset, _, _ in dead] == [3, 4, 5]
    assert all(resolver is None for _, resolver, _ in dead)  # the record's, not a resolver's
    assert dead[0][2] == ("message value nests deeper than 128 levels of arrays and objects "
                          "(level 129 opens at byte 180 of the value)")


def test_native_state_prints_as_json_with_statefold_state_get(tmp_path):
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=2000)
    state_dir = str(tmp_path / "native")
    run([NATIVE_MODULE], input_path, state_dir)
    printed = run_cli("state", "get", "track_unique_ips", "u0", "--state-dir", state_dir, check=True)
    ips = json.loads(printed.stdout)["unique_ips"]
    assert len(ips) > 5 and all(ip.startswith("10.") for ip in ips)
    schema = json.loads(_ext.Inspector.open(state_dir, False).state_schema("track_unique_ips"))
    assert schema == {"kind": "record", "name": "LoginState", "fields": [
        {"name": "unique_ips", "type": {"kind": "set", "items": {"kind": "str"}}}]}


def test_native_build_continues_state_written_by_the_python_build(tmp_path):
    """Same schema, same bytes: a state directory moves between the two implementations."""
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=6000)
    run([LOGIN_DEFS], input_path, str(tmp_path / "reference"))

    mixed_input = str(tmp_path / "growing.jsonl")
    with open(input_path) as f:
        lines = f.readlines()
    with open(mixed_input, "w") as f:
        f.writelines(lines[:3000])
    run([LOGIN_DEFS], mixed_input, str(tmp_path / "mixed"))
    with open(mixed_input, "a") as f:
        f.writelines(lines[3000:])
    second = run([NATIVE_MODULE], mixed_input, str(tmp_path / "mixed"))
    assert second.stdout.startswith("done: 3,000 messages"), second.stdout

    assert committed(tmp_path / "mixed") == committed(tmp_path / "reference")


def test_python_and_native_resolvers_run_in_one_process_on_one_source(tmp_path):
    defs = tmp_path / "counts.py"
    defs.write_text(textwrap.dedent("""
        from pydantic import BaseModel
        from chalk import State
        from chalk.features import features, Features
        from chalk.streams import stream, KafkaSource

        source = KafkaSource(name="...")  # the source the native example reads

        class LoginEvent(BaseModel):
            user_id: str

        @features
        class User:
            id: str
            login_count: int

        class Count(BaseModel):
            n: int = 0

        @stream(source=source)
        def count_logins(event: LoginEvent, state: State[Count]) -> Features[User.id, User.login_count]:
            state.n += 1
            return User(id=event.user_id, login_count=state.n)
    """))
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=3000)
    state_dir = str(tmp_path / "both")
    run([defs, NATIVE_MODULE], input_path, state_dir)
    run([LOGIN_DEFS], input_path, str(tmp_path / "python"))

    features = {name: json.loads(value) for name, value, _, _ in
                _ext.Inspector.open(state_dir, False).features("user", "u0")}
    expected_count = sum(1 for line in open(input_path)
                         if line.startswith('{"key": "u0",') and '"user_id": "u0"' in line)
    assert features["login_count"] == expected_count
    python_features = {name: json.loads(value) for name, value, _, _ in
                       _ext.Inspector.open(str(tmp_path / "python"), False).features("user", "u0")}
    assert features["unique_ip_count"] == python_features["unique_ip_count"]
    status = _ext.Inspector.open(state_dir, False).run_status()
    assert {r.name for r in status.resolvers} == {"count_logins", "track_unique_ips"}


def test_a_python_and_a_native_resolver_of_one_name_are_refused(tmp_path):
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=10)
    result = run_cli("run", LOGIN_DEFS, NATIVE_MODULE, "--input", input_path,
                     "--state-dir", str(tmp_path / "s"))
    assert result.returncode != 0
    assert "two resolvers are named track_unique_ips" in result.stderr, result.stderr


def test_a_library_that_is_not_a_native_module_is_refused_with_its_path(tmp_path):
    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=10)
    library = REPO / "python" / "statefold" / "libstatefold.so.0"
    result = run_cli("run", library, "--input", input_path, "--state-dir", str(tmp_path / "s"))
    assert result.returncode != 0
    assert "is not a statefold native module" in result.stderr, result.stderr
    missing = run_cli("run", tmp_path / "nothing.so", "--input", input_path,
                      "--state-dir", str(tmp_path / "s"))
    assert missing.returncode != 0 and "does not exist" in missing.stderr, missing.stderr


def test_an_outside_project_builds_the_example_with_find_package(tmp_path):
    """`cmake --install` gives headers, libstatefold and statefoldConfig.cmake; the example's
    own CMakeLists.txt finds them with find_package(statefold) and its module runs."""
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", str(REPO / "build"), "--prefix", str(prefix)],
                   check=True, capture_output=True, text=True)
    assert (prefix / "include" / "statefold" / "native.h").exists()
    build = tmp_path / "build"
    configure = subprocess.run(
        ["cmake", "-S", str(REPO / "examples" / "login_native"), "-B", str(build), "-G", "Ninja",
         f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"],
        capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compiled = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True,
                              timeout=600)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    module = build / "liblogin_features.so"
    assert module.exists()

    input_path = str(tmp_path / "logins.jsonl")
    write_logins(input_path, messages=3000)
    run([module], input_path, str(tmp_path / "outside"))
    run([NATIVE_MODULE], input_path, str(tmp_path / "in_tree"))
    assert committed(tmp_path / "outside") == committed(tmp_path / "in_tree")
