"""A fetch token's ``basis``: the references by name, or by digest when a batch has many."""

from __future__ import annotations

import hashlib

from gateway.fetch_tokens import MAX_LISTED_BASIS, basis_claim


def test_a_few_references_are_listed_sorted_once() -> None:
    assert basis_claim(["c-2", "epidemic-relief-decree-1399", "c-2", "c-1"]) == [
        "c-1",
        "c-2",
        "epidemic-relief-decree-1399",
    ]
    assert basis_claim([]) == []


def test_many_references_are_named_by_the_digest_of_their_sorted_lines() -> None:
    many = [f"c-{n:03d}" for n in range(MAX_LISTED_BASIS + 1)]
    lines = "".join(f"{reference}\n" for reference in sorted(many))
    expected = "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    assert basis_claim(list(reversed(many)) + many[:3]) == [expected]
    assert basis_claim(many[:MAX_LISTED_BASIS]) == sorted(many[:MAX_LISTED_BASIS])
