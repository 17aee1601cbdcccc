"""Writes N login events over K users, Zipf-skewed, as JSON Lines records.

    python bench/generate_events.py --messages 1000000 --keys 100000 --out events.jsonl

Deterministic for a given --seed. Each user draws from a small pool of IP addresses, so
unique-IP counts grow and then saturate as they would in real traffic.
"""

import argparse
import bisect
import itertools
import random


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=100000)
    p.add_argument("--keys", type=int, default=10000)
    p.add_argument("--skew", type=float, default=1.1, help="Zipf exponent (0 = uniform)")
    p.add_argument("--ips-per-user", type=int, default=16)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start-ms", type=int, default=1767225600000)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rng = random.Random(a.seed)
    weights = [1.0 / (rank ** a.skew) for rank in range(1, a.keys + 1)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    with open(a.out, "w") as out:
        write = out.write
        for i in range(a.messages):
            user = bisect.bisect_left(cumulative, rng.random() * total)
            ip = f"10.{user % 250}.{(user // 250) % 250}.{rng.randrange(a.ips_per_user)}"
            write(f'{{"key": "u{user}", "value": {{"user_id": "u{user}", "ip_address": "{ip}"}}, '
                  f'"timestamp": {a.start_ms + i}}}\n')


if __name__ == "__main__":
    main()
