"""The catalogue: which agency serves which attribute, of what type, with which operators.

Built from the agencies' own descriptions (``Describe``), it resolves a program's attribute
references (``tax.annual_income``, or ``*.deposit_balance`` for every agency serving it) and
checks, at start-up, that every program can be answered by the agencies actually connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    PredicateOperator,
    value_matches,
)
from gateway.engine.errors import CatalogueError, UnservedAttributeError, UnsupportedOperationError
from gateway.programs.model import AttributeRef, Fact, ParamRef, Program, ProgramUnit

IDENTITY_AGENCY = "civil_registry"
"""The agency asked first, about the subject alone: is the person known, alive, and with whom."""

ALIVE = "alive"
"""The identity attribute saying whether the subject is alive."""

HOUSEHOLD_MEMBERS = "household_members"
"""The identity attribute listing the subject's household (national IDs, subject included)."""

_ORDERED = frozenset(
    {PredicateOperator.LT, PredicateOperator.LE, PredicateOperator.GT, PredicateOperator.GE}
)
_COMPARABLE = frozenset({AttributeType.INT64, AttributeType.STRING, AttributeType.BOOL})
_CELL_TYPES: Mapping[type, AttributeType] = {int: AttributeType.INT64, bool: AttributeType.BOOL}


@dataclass(frozen=True)
class ServedAttribute:
    """One attribute as one agency serves it."""

    agency_id: str
    spec: AttributeSpec

    def pushes_down(self, operator: PredicateOperator) -> bool:
        """Whether the agency evaluates ``operator`` on this attribute itself."""
        return operator in self.spec.predicate_operators


class Catalogue:
    """Every connected agency's attributes, indexed for resolution and checks (immutable)."""

    def __init__(self, agencies: Mapping[str, Mapping[str, AttributeSpec]]) -> None:
        """Use :meth:`from_descriptions`; this takes ``agency_id -> name -> spec``."""
        self._agencies: Mapping[str, Mapping[str, AttributeSpec]] = MappingProxyType(
            {a: MappingProxyType(dict(specs)) for a, specs in sorted(agencies.items())}
        )
        servers: dict[str, list[str]] = {}
        for agency_id, specs in self._agencies.items():
            for name in specs:
                servers.setdefault(name, []).append(agency_id)
        self._servers: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {name: tuple(ids) for name, ids in servers.items()}
        )

    @classmethod
    def from_descriptions(cls, descriptions: Iterable[AgencyDescription]) -> Catalogue:
        """Build the catalogue from the agencies' descriptions.

        Raises:
            CatalogueError: two descriptions share an agency id, or one agency lists an
                attribute twice.
        """
        agencies: dict[str, dict[str, AttributeSpec]] = {}
        for description in descriptions:
            if description.agency_id in agencies:
                raise CatalogueError(f"agency {description.agency_id!r} is described twice")
            specs: dict[str, AttributeSpec] = {}
            for spec in description.attributes:
                if spec.name in specs:
                    raise CatalogueError(
                        f"{description.agency_id} lists attribute {spec.name!r} twice"
                    )
                specs[spec.name] = spec
            agencies[description.agency_id] = specs
        return cls(agencies)

    @property
    def agency_ids(self) -> tuple[str, ...]:
        """Every agency, sorted."""
        return tuple(self._agencies)

    def specs(self, agency_id: str) -> tuple[AttributeSpec, ...]:
        """Every attribute ``agency_id`` serves (none for an unknown agency)."""
        return tuple(self._agencies.get(agency_id, {}).values())

    def spec(self, agency_id: str, attribute: str) -> AttributeSpec:
        """The attribute ``agency_id`` serves as ``attribute``.

        Raises:
            UnservedAttributeError: the agency is unknown or does not serve it.
        """
        specs = self._agencies.get(agency_id)
        if specs is None:
            raise UnservedAttributeError(f"no agency {agency_id!r} is connected")
        spec = specs.get(attribute)
        if spec is None:
            raise UnservedAttributeError(f"{agency_id} does not serve {attribute!r}")
        return spec

    def resolve(self, ref: AttributeRef) -> tuple[ServedAttribute, ...]:
        """The attributes ``ref`` names: one, or every agency serving a wildcard (sorted).

        Raises:
            UnservedAttributeError: nobody serves it.
        """
        if not ref.is_wildcard:
            return (ServedAttribute(ref.agency_id, self.spec(ref.agency_id, ref.attribute)),)
        agencies = self._servers.get(ref.attribute, ())
        if not agencies:
            raise UnservedAttributeError(f"no agency serves {ref.attribute!r} ({ref})")
        return tuple(ServedAttribute(a, self._agencies[a][ref.attribute]) for a in agencies)

    def validate(self, program: Program) -> None:
        """Check that the connected agencies can answer every fact ``program`` declares.

        Raises:
            UnservedAttributeError: an attribute (or the identity attributes) is not served.
            UnsupportedOperationError: an aggregate, operator, operand or ``absent`` value
                does not fit the attribute's type.
        """
        identity = [ALIVE] + ([HOUSEHOLD_MEMBERS] if program.unit is ProgramUnit.HOUSEHOLD else [])
        expected = {ALIVE: AttributeType.BOOL, HOUSEHOLD_MEMBERS: AttributeType.STRING_LIST}
        for name in identity:
            spec = self._checked(program, "unit", AttributeRef(IDENTITY_AGENCY, name))[0].spec
            if spec.type is not expected[name]:
                raise UnsupportedOperationError(
                    f"{program.id}: {IDENTITY_AGENCY}.{name} is {spec.type.value}, "
                    f"not {expected[name].value}"
                )
        for fact in program.facts:
            for ref in fact.refs:
                for served in self._checked(program, f"facts.{fact.name}", ref):
                    _check_fact_type(program, fact, served)

    def _checked(
        self, program: Program, key: str, ref: AttributeRef
    ) -> tuple[ServedAttribute, ...]:
        try:
            return self.resolve(ref)
        except UnservedAttributeError as exc:
            raise UnservedAttributeError(f"{program.id}: {key}: {exc}") from exc


def _check_fact_type(program: Program, fact: Fact, served: ServedAttribute) -> None:
    """Raise UnsupportedOperationError when ``fact`` cannot use ``served`` as declared."""
    kind = served.spec.type
    where = (
        f"{program.id}: facts.{fact.name}: {served.agency_id}.{served.spec.name} is {kind.value}"
    )
    predicate = fact.predicate
    if predicate is None:
        cell = fact.aggregate.cell_type
        if cell is not None and _CELL_TYPES[cell] is not kind:
            raise UnsupportedOperationError(
                f"{where}; '{fact.aggregate.value}' needs {cell.__name__}"
            )
        if fact.absent is not None and not value_matches(kind, fact.absent):
            raise UnsupportedOperationError(f"{where}; 'absent: {fact.absent!r}' does not fit")
        return
    operator = predicate.operator
    if kind not in _COMPARABLE or (operator in _ORDERED and kind is not AttributeType.INT64):
        raise UnsupportedOperationError(f"{where}; it cannot be compared with '{operator.value}'")
    operand = predicate.operand
    operand_fits = (
        kind is AttributeType.INT64
        if isinstance(operand, ParamRef)
        else value_matches(kind, operand)
    )
    if not operand_fits:
        raise UnsupportedOperationError(f"{where}; the predicate's operand does not fit")
