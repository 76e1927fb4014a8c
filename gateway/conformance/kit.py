"""Run every conformance case against one adapter, in order, each bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from adapters.sdk import AgencyDescription
from gateway.adapter_connection import AdapterConnection
from gateway.conformance import describe_cases, fetch_cases, request_cases, tls_cases
from gateway.conformance.outcome import (
    CaseFailedError,
    CaseResult,
    CaseSkippedError,
    ConformanceReport,
    Verdict,
)
from gateway.conformance.session import Case, Session, filler_subjects

CASE_TIMEOUT_S = 60.0
"""The longest one case may take before it fails as hung."""

FIRST_CASES = (
    Case.of("health", describe_cases.health),
    Case.of("describe", describe_cases.describe),
)
"""Cases every other case needs: without a usable Describe, nothing else runs."""

FETCH_CASES = (
    Case.of("fetch.known_subjects", fetch_cases.known_subjects),
    Case.of("fetch.unknown_subject", fetch_cases.unknown_subject),
    Case.of("fetch.row_order", fetch_cases.row_order),
)
REQUEST_CASES = (
    Case.of("limits.at_max_subjects", request_cases.at_max_subjects),
    Case.of("limits.over_max_subjects", request_cases.over_max_subjects),
    Case.of("request.no_subjects", request_cases.no_subjects),
    Case.of("request.empty_message", request_cases.empty_message),
    Case.of("request.malformed_protobuf", request_cases.malformed_protobuf),
    Case.of("request.unknown_attribute", request_cases.unknown_attribute),
    Case.of("request.undeclared_operator", request_cases.undeclared_operator),
    Case.of("request.oversized_message", request_cases.oversized_message),
    Case.of("deadline.short", request_cases.short_deadline),
    Case.of("deadline.hub_timeout", request_cases.within_hub_timeout),
)
TLS_CASES = (
    Case.of("tls.no_client_certificate", tls_cases.no_client_certificate),
    Case.of("tls.foreign_client_certificate", tls_cases.foreign_client_certificate),
    Case.of("token.missing", tls_cases.token_missing),
    Case.of("token.forged", tls_cases.token_forged),
    Case.of("token.other_subjects", tls_cases.token_for_other_subjects),
    Case.of("token.expired", tls_cases.token_expired),
)


def described_cases(description: AgencyDescription) -> list[Case]:
    """Every case after Describe: the per-attribute ones come from ``description``."""
    attributes = description.attributes
    return [
        *FETCH_CASES,
        *(fetch_cases.attribute_type(spec, i) for i, spec in enumerate(attributes)),
        *(fetch_cases.attribute_predicates(s) for s in attributes if s.predicate_operators),
        *REQUEST_CASES,
        *TLS_CASES,
    ]


async def run_conformance(
    connection: AdapterConnection,
    subjects: Sequence[str],
    *,
    unknown: str | None = None,
    case_timeout_s: float = CASE_TIMEOUT_S,
) -> ConformanceReport:
    """Check the adapter ``connection`` reaches against the ConnectorService contract.

    Args:
        connection: how to reach it (plaintext, or as the hub with its PKI folder).
        subjects: national IDs the agency holds (at least one must be found).
        unknown: a valid national ID it does not hold (default: one the kit makes up).
        case_timeout_s: how long one case may take before it fails.
    """
    if not subjects:
        raise ValueError("the conformance kit needs at least one subject the agency holds")
    unknown = unknown or filler_subjects(1, avoid=subjects)[0]
    results: list[CaseResult] = []
    async with connection.channel() as channel:
        session = Session(connection, channel, tuple(subjects), unknown)
        for case in FIRST_CASES:
            results.append(await _run(case, session, case_timeout_s))
        if session.description is not None:
            for case in described_cases(session.description):
                results.append(await _run(case, session, case_timeout_s))
    agency = session.described.agency_id if session.described is not None else ""
    return ConformanceReport(connection.target, connection.mode, agency, tuple(results))


async def _run(case: Case, session: Session, timeout_s: float) -> CaseResult:
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(case.run(session), timeout_s)
        verdict = Verdict.PASSED
    except CaseFailedError as exc:
        detail, verdict = str(exc), Verdict.FAILED
    except CaseSkippedError as exc:
        detail, verdict = str(exc), Verdict.SKIPPED
    except TimeoutError:
        detail, verdict = f"did not finish in {timeout_s:.0f} s", Verdict.FAILED
    return CaseResult(case.name, verdict, detail, time.monotonic() - started)
