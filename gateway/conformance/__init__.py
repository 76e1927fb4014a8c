"""``sakha adapter conformance``: check an adapter against the ConnectorService contract.

Agency IT runs it against its own adapter, in its own CI too (``--junit FILE``), before
asking to be connected; the hub's operator runs it again, as the hub connects, before
listing the agency. The cases, in the order they run, are in :mod:`gateway.conformance.kit`;
``docs/adapters.md`` lists them for agency IT.
"""

from gateway.conformance.kit import run_conformance
from gateway.conformance.outcome import CaseResult, ConformanceReport, Verdict
from gateway.conformance.report import report_lines, summary, write_junit

__all__ = [
    "CaseResult",
    "ConformanceReport",
    "Verdict",
    "report_lines",
    "run_conformance",
    "summary",
    "write_junit",
]
