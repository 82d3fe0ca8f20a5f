"""A long fuzz run of every device decoder and file reader (the CI tests run a few hundred
inputs per target; this runs many more).

Run from the repository root:  python -m bench.fuzz_decoders [--examples N] [--seconds S]
                                                               [--seed K] [--only NAME]

Inputs come from tests/fuzz_targets.py's mutator (random, truncated, extended,
spliced, span-shifted, bit-flipped and token-laced versions of valid seeds). Per target
the table gives: inputs tried; accepted (decoded, nothing refused); partly accepted
(samples kept, damage reported: recordings read leniently, streams with bad bytes
skipped); rejected with a reason; exceptions escaped (must be 0); inputs per second,
and that speed relative to the target's own valid seeds in the same run (hostile input
must not find a slow path; input generation is not timed). Then the reasons given, most frequent first. Exits 1 if
anything escaped, printing the first input that did so (hex) to reproduce it.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz_targets import Target, all_targets, mutate, stateful_targets


@dataclass
class Tally:
    name: str
    tried: int = 0
    accepted: int = 0
    partial: int = 0
    rejected: int = 0
    escaped: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    first_escape: tuple[bytes, str] | None = None
    rate: float = 0.0
    seed_rate: float = 0.0


def seed_rate(target: Target, min_s: float = 0.2) -> float:
    """Valid inputs per second, timed per call as the hostile ones are: the reference."""
    n, busy = 0, 0.0
    while busy < min_s:
        for s in target.seeds:
            start = time.perf_counter()
            target.decode(s)
            busy += time.perf_counter() - start
        n += len(target.seeds)
    return n / busy


def run_target(target: Target, examples: int, seconds: float, seed: int) -> Tally:
    tally = Tally(target.name, seed_rate=seed_rate(target))
    rnd = random.Random(f"{seed}:{target.name}")
    t0, busy = time.perf_counter(), 0.0
    while tally.tried < examples and time.perf_counter() - t0 < seconds:
        data = mutate(rnd, target.seeds)
        tally.tried += 1
        start = time.perf_counter()
        try:
            outcome = target.decode(data)
        except Exception as exc:  # noqa: BLE001 - counting what escapes is the point
            key = f"{type(exc).__name__}: {str(exc)[:90]}"
            tally.escaped[key] += 1
            if tally.first_escape is None:
                tally.first_escape = (data, traceback.format_exc())
            continue
        finally:
            busy += time.perf_counter() - start
        tally.reasons.update(r[:90] for r in outcome.rejected)
        if not outcome.rejected:
            tally.accepted += 1
        elif outcome.accepted:
            tally.partial += 1
        else:
            tally.rejected += 1
    tally.rate = tally.tried / max(busy, 1e-9)  # decoding only, not making the inputs
    return tally


def print_table(tallies: list[Tally]) -> None:
    head = (f"{'target':34} {'tried':>8} {'accepted':>9} {'partly':>7} {'rejected':>9} "
            f"{'escaped':>8} {'inputs/s':>9} {'vs valid':>8}")
    print(head)
    print("-" * len(head))
    for t in tallies:
        print(f"{t.name:34} {t.tried:8d} {t.accepted:9d} {t.partial:7d} {t.rejected:9d} "
              f"{sum(t.escaped.values()):8d} {t.rate:9.0f} {t.rate / t.seed_rate:8.2f}")
    total = sum(t.tried for t in tallies)
    escaped = sum(sum(t.escaped.values()) for t in tallies)
    print(f"{'all':34} {total:8d} {'':9} {'':7} {'':9} {escaped:8d}")


def print_reasons(tallies: list[Tally], top: int) -> None:
    print("\nReasons given (count per reason; numbers in reasons shown as #):")
    for t in tallies:
        if not t.reasons:
            continue
        print(f"  {t.name}:")
        for reason, n in t.reasons.most_common(top):
            print(f"    {n:8d}  {reason}")
        if len(t.reasons) > top:
            print(f"    {sum(n for _, n in t.reasons.most_common()[top:]):8d}  "
                  f"({len(t.reasons) - top} other reasons)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=20_000, help="inputs per target")
    ap.add_argument("--seconds", type=float, default=20.0, help="time limit per target")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", help="targets whose name contains this")
    ap.add_argument("--top", type=int, default=6, help="reasons listed per target")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        targets = all_targets(Path(folder)) + stateful_targets()
        if args.only:
            targets = [t for t in targets if args.only in t.name]
        tallies = []
        for target in targets:
            tallies.append(run_target(target, args.examples, args.seconds, args.seed))
            print(f"  {target.name}: {tallies[-1].tried} inputs", file=sys.stderr)
    print(f"\nfuzz_decoders: up to {args.examples} inputs or {args.seconds:g} s per target, "
          f"seed {args.seed}\n")
    print_table(tallies)
    print_reasons(tallies, args.top)
    bad = [t for t in tallies if t.escaped]
    for t in bad:
        data, tb = t.first_escape
        print(f"\nESCAPED from {t.name}: {dict(t.escaped)}\nfirst input ({len(data)} bytes): "
              f"{data[:200].hex()}\n{tb}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
