#!/usr/bin/env bash
# The main job: the reference's complete example over a generated stream of login events, on
# the embedded default (file source, RocksDB state and online store), then a few users'
# features and one user's state; then the same example as a native C++ module.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${DEMO_DIR:-build/demo}
mkdir -p "$out"
rm -rf "$out/state"
statefold=.venv/bin/statefold
.venv/bin/python bench/generate_events.py --messages 200000 --keys 20000 --out "$out/logins.jsonl"
echo "== statefold run examples/login/defs.py --input $out/logins.jsonl"
$statefold run examples/login/defs.py --input "$out/logins.jsonl" --state-dir "$out/state"
for user in u0 u1 u42 u19999; do
  echo "== statefold get user $user"
  $statefold get user "$user" --state-dir "$out/state" || true
done
echo "== statefold state get track_unique_ips u42"
$statefold state get track_unique_ips u42 --state-dir "$out/state"
native=build/examples/login_native/liblogin_features.so
echo "== statefold run $native --input $out/logins.jsonl   (the same example in C++, examples/login_native)"
rm -rf "$out/native-state"
$statefold run "$native" --input "$out/logins.jsonl" --state-dir "$out/native-state"
echo "== statefold get user u42   (native)"
$statefold get user u42 --state-dir "$out/native-state"
