"""Fetch answers: their shape, per-subject not-found, each attribute's type, and each
declared predicate against the value it is about.

Reasons name subjects and attributes, never a value: the report may be shared, and the
subjects are real people's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sakha.v1.connector_pb2 import FetchResponse as PB2FetchResponse

from adapters import codec
from adapters.errors import MalformedResponseError
from adapters.sdk import (
    INT64_MAX,
    INT64_MIN,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    FetchResult,
    Predicate,
    Value,
)
from gateway.conformance.outcome import CaseFailedError, CaseSkippedError
from gateway.conformance.session import Case, Session, expect_answer

MAX_PREDICATES_PER_FETCH = 64
"""The SDK's default bound on predicates per Fetch; the kit stays within it."""


async def known_subjects(session: Session) -> str:
    """Every attribute of the ``--subject`` IDs: one row each, in order; at least one found;
    a subject not found has no value anywhere."""
    description = session.need_description()
    names = [spec.name for spec in description.attributes]
    query = session.query(session.known, names)
    response = await expect_answer(session.fetch(query), "a Fetch of the subjects given")
    session.known_response = response
    result = _decoded(response, query, session)
    session.known_result = result
    _no_values_where_not_found(query.subjects, result)
    found = sum(result.found)
    if not found:
        raise CaseFailedError(
            f"none of the {len(query.subjects)} subjects given is found: "
            "give --subject IDs the agency holds"
        )
    return f"{found} of {len(query.subjects)} subjects found, {len(names)} attributes"


async def unknown_subject(session: Session) -> str:
    """A valid national ID the agency does not hold: answered, not found, no values (not
    found is an answer, not an error)."""
    description = session.need_description()
    query = session.query([session.unknown], [spec.name for spec in description.attributes])
    response = await expect_answer(session.fetch(query), "a Fetch of an unknown subject")
    result = _decoded(response, query, session)
    if result.found[0]:
        raise CaseFailedError(
            f"{session.unknown} is reported found: if the agency holds it, give another "
            "--unknown-subject"
        )
    _no_values_where_not_found(query.subjects, result)
    return f"{session.unknown} not found, no values"


async def row_order(session: Session) -> str:
    """Rows follow the request's order: the subjects given, reversed and with the unknown
    one first, get the same rows as before, moved."""
    known = _known(session)
    subjects = [session.unknown, *reversed(session.known)]
    names = [spec.name for spec in session.need_description().attributes]
    query = session.query(subjects, names)
    response = await expect_answer(session.fetch(query), "a Fetch in another order")
    result = _decoded(response, query, session)
    before = _rows(known, session.known)
    after = _rows(result, subjects)
    for subject in session.known:
        if before[subject] != after[subject]:
            raise CaseFailedError(f"the row of {subject} changed when the subjects moved")
    if result.found[0]:
        raise CaseFailedError(f"{session.unknown}, first in the request, is found")
    return f"{len(subjects)} rows, each where its subject is"


def attribute_type(spec: AttributeSpec, index: int) -> Case:
    """The case: column ``index`` of the first answer is well formed and of ``spec``'s type."""

    async def run(session: Session) -> str:
        response = session.known_response
        if response is None:
            raise CaseSkippedError("the Fetch of the subjects given was not answered")
        if index >= len(response.columns):
            raise CaseFailedError(f"no column {index} in the answer")
        try:
            values = codec.decode_column(
                response.columns[index],
                spec.type,
                len(session.known),
                f"columns[{index}] ({spec.name})",
            )
        except MalformedResponseError as exc:
            raise CaseFailedError(str(exc)) from exc
        held = sum(v is not None for v in values)
        if not held:
            return f"{spec.type.value}; no subject given has a value"
        return f"{spec.type.value}; {held} of {len(values)} subjects have a value"

    return Case(f"type {spec.name}", f"{spec.name} answers {spec.type.value} values", run)


def attribute_predicates(spec: AttributeSpec) -> Case:
    """The case: every operator ``spec`` declares agrees with comparing its value."""

    async def run(session: Session) -> str:
        known = _known(session)
        holders = [
            (subject, value)
            for subject, value in zip(session.known, known.values[spec.name], strict=True)
            if value is not None
        ]
        if not holders:
            raise CaseSkippedError(f"no subject given has a value of {spec.name}")
        operators = sorted(spec.predicate_operators, key=lambda op: op.value)
        operands = _operands(spec.type, [v for _, v in holders])
        operands = operands[: max(1, MAX_PREDICATES_PER_FETCH // len(operators))]
        predicates = [
            Predicate(spec.name, op, operand) for _, operand in operands for op in operators
        ]
        labels = [label for label, _ in operands for _ in operators]
        subjects = [s for s, _ in holders] + [session.unknown]
        query = session.query(subjects, [spec.name], predicates)
        response = await expect_answer(session.fetch(query), f"a Fetch of {spec.name} predicates")
        result = _decoded(response, query, session)
        for row, (subject, value) in enumerate(holders):
            if result.values[spec.name][row] != value:
                raise CaseFailedError(f"{spec.name} of {subject} changed between two Fetches")
            for predicate, label, column in zip(predicates, labels, result.predicates, strict=True):
                answered = column[row]
                expected = predicate.operator.apply(value, predicate.operand)
                if answered is None:
                    raise CaseFailedError(
                        f"{spec.name} {predicate.operator.value} {label}: no answer for "
                        f"{subject}, which has a value"
                    )
                if answered != expected:
                    raise CaseFailedError(
                        f"{spec.name} {predicate.operator.value} {label}: {answered} for "
                        f"{subject}, where its value gives {expected}"
                    )
        if any(column[-1] is not None for column in result.predicates):
            raise CaseFailedError(f"a predicate is answered for {session.unknown}, not found")
        ops = ", ".join(op.value for op in operators)
        return f"{ops}: {len(predicates)} predicates agree with the values of {len(holders)}"

    about = f"the predicates declared on {spec.name} agree with its values"
    return Case(f"predicates {spec.name}", about, run)


def _operands(kind: AttributeType, values: Sequence[Value]) -> list[tuple[str, bool | int | str]]:
    """Operands around each value, labelled without the value itself, first value first."""
    seen: set[object] = set()
    operands: list[tuple[str, bool | int | str]] = []
    for number, value in enumerate(values, 1):
        for label, operand in _around(kind, value):
            if operand not in seen:
                seen.add(operand)
                operands.append((label.format(n=number), operand))
    return operands


def _around(kind: AttributeType, value: Value) -> Iterator[tuple[str, bool | int | str]]:
    if kind is AttributeType.BOOL:
        yield "true", True
        yield "false", False
    elif kind is AttributeType.INT64:
        assert isinstance(value, int)  # noqa: S101 - decoded as int64
        yield "value #{n}", value
        if value > INT64_MIN:
            yield "value #{n} - 1", value - 1
        if value < INT64_MAX:
            yield "value #{n} + 1", value + 1
    elif kind is AttributeType.STRING:
        assert isinstance(value, str)  # noqa: S101 - decoded as string
        yield "value #{n}", value
        yield "value #{n} + '~'", value + "~"
        yield "''", ""


def _known(session: Session) -> FetchResult:
    if session.known_result is None:
        raise CaseSkippedError("the Fetch of the subjects given was not answered in full")
    return session.known_result


def _decoded(response: PB2FetchResponse, query: FetchQuery, session: Session) -> FetchResult:
    try:
        return codec.decode_result(response, query, session.need_description())
    except MalformedResponseError as exc:
        raise CaseFailedError(f"the hub cannot read the answer: {exc}") from exc


def _rows(result: FetchResult, subjects: Sequence[str]) -> dict[str, tuple[object, ...]]:
    names = sorted(result.values)
    return {
        subject: (result.found[j], *(result.values[n][j] for n in names))
        for j, subject in enumerate(subjects)
    }


def _no_values_where_not_found(subjects: Sequence[str], result: FetchResult) -> None:
    for row, subject in enumerate(subjects):
        if result.found[row]:
            continue
        for name, column in result.values.items():
            if column[row] is not None:
                raise CaseFailedError(f"{subject} is not found but has a value of {name}")
