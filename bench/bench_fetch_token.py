"""What a fetch token costs one Fetch, in-process: the hub's mint and the agency's verify.

For each subject count (one Fetch's chunk), with the query a livelihood check sends the tax
agency (three attributes, two predicates), it times in a loop:

- ``digest``: :func:`adapters.fetch_token.subject_digest` alone (both sides compute it);
- ``mint``: :meth:`gateway.fetch_tokens.FetchTokenSigner.mint` (claims, digest, Ed25519 sign,
  JWS encoding), at the hub;
- ``verify``: :meth:`adapters.fetch_token.FetchTokenVerifier.verify` (header, signature,
  claims, digest of the decoded subjects), at the agency;

each as the median over ``--rounds`` rounds of ``--iterations`` calls, in µs per Fetch, and
the token's size. A Fetch costs about 200 µs of CPU per side in gRPC alone (DESIGN.md), so
the figures read against that. No server, no network: nothing else is measured.

    .venv/bin/python -m bench.bench_fetch_token [--iterations 2000] [--rounds 5] \
        [--subjects 1 100 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.fetch_token import FetchTokenVerifier, subject_digest
from adapters.jwk_set import read_jwk_set
from adapters.sdk import FetchQuery, Predicate, PredicateOperator
from bench._stats import environment_line, markdown_table
from gateway.fetch_tokens import FetchTokenSigner


def query_of(subjects: int) -> FetchQuery:
    """A tax Fetch for ``subjects`` ten-digit subjects."""
    return FetchQuery(
        subjects=tuple(f"{4_990_000_000 + i:010d}" for i in range(subjects)),
        attributes=("annual_income", "income_decile", "registered_business"),
        predicates=(
            Predicate("annual_income", PredicateOperator.LT, 1_200_000_000),
            Predicate("income_decile", PredicateOperator.LE, 4),
        ),
        as_of=dt.date(2026, 6, 1),
        fetch_id="5f2b9c0e4a7d1e3b8c6f0a92",
        purpose="caseload_review",
    )


def per_call_us(work: Callable[[], object], iterations: int, rounds: int) -> float:
    """The median over ``rounds`` of the mean time of ``work`` over ``iterations`` calls, µs."""
    work()  # warm up
    means = []
    for _ in range(rounds):
        started = time.perf_counter_ns()
        for _ in range(iterations):
            work()
        means.append((time.perf_counter_ns() - started) / iterations / 1000)
    return statistics.median(means)


def measure(subjects: int, iterations: int, rounds: int) -> list[str]:
    """One table row: subjects, digest, mint, verify, both, token size."""
    signer = FetchTokenSigner(ed25519.Ed25519PrivateKey.generate())
    verifier = FetchTokenVerifier(read_jwk_set(signer.jwks(), "bench"), "tax")
    query = query_of(subjects)
    basis = ("consent-1", "consent-2")
    token = signer.mint(query, agency_id="tax", basis=basis)
    verifier.verify(token, query)  # it must pass, or the figure means nothing
    digest = per_call_us(lambda: subject_digest(query.subjects), iterations, rounds)
    mint = per_call_us(lambda: signer.mint(query, agency_id="tax", basis=basis), iterations, rounds)
    verify = per_call_us(lambda: verifier.verify(token, query), iterations, rounds)
    return [
        str(subjects),
        f"{digest:.1f}",
        f"{mint:.1f}",
        f"{verify:.1f}",
        f"{mint + verify:.1f}",
        str(len(token)),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 100, 1000])
    args = parser.parse_args(argv)
    rows = [measure(n, args.iterations, args.rounds) for n in args.subjects]
    headers = ["subjects", "digest µs", "mint µs", "verify µs", "both µs", "token bytes"]
    print(environment_line())
    print(f"{args.rounds} rounds of {args.iterations} calls, median; µs per Fetch\n")
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
