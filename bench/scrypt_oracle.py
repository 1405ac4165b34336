#!/usr/bin/env python3
"""Login timing oracle after --scrypt-n is raised: unknown email against wrong password on an old hash.

    .venv/bin/python bench/scrypt_oracle.py                  # old n=2**14, new n=2**16, 20 rounds
    .venv/bin/python bench/scrypt_oracle.py --old 12 --new 14 --rounds 40

Times PasswordHasher.verify in this process (no server, no network), the
two cases interleaved so that machine noise hits both alike, and prints the
medians. Before verify was made constant-time, the wrong password on an old hash cost the
old parameters (41 ms against 197 ms for an unknown email); after it both
should cost one derivation with the new parameters.
"""

from __future__ import annotations

import argparse
import statistics
import time

from impl.passwords import PasswordHasher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=int, default=14, help="log2 of the n the stored hash was made with")
    parser.add_argument("--new", type=int, default=16, help="log2 of the current --scrypt-n")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    stored = PasswordHasher(n=2**args.old).hash("correct horse")
    current = PasswordHasher(n=2**args.new)
    current.verify("warm up", None)
    cases = {"unknown email": None, f"wrong password, hash at n=2**{args.old}": stored}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, value in cases.items():
            started = time.perf_counter()
            current.verify("wrong password", value)
            times[name].append(time.perf_counter() - started)
    print(f"current --scrypt-n 2**{args.new}, medians of {args.rounds}:")
    for name, values in times.items():
        print(f"  {name:40} {statistics.median(values) * 1000:7.1f} ms  "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")


if __name__ == "__main__":
    main()
