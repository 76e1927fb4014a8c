"""A conformance run as people read it (one line per case) and as CI reads it (JUnit XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from gateway.conformance.outcome import ConformanceReport, Verdict

_MARK = {Verdict.PASSED: "PASS", Verdict.FAILED: "FAIL", Verdict.SKIPPED: "SKIP"}


def report_lines(report: ConformanceReport) -> list[str]:
    """The heading, one line per case (verdict, name, why), and the count."""
    who = report.agency_id or "an adapter that did not describe itself"
    lines = [f"conformance of {who} at {report.target} ({report.mode})"]
    width = max((len(r.name) for r in report.results), default=0)
    lines += [f"  {_MARK[r.verdict]}  {r.name:<{width}}  {r.detail}" for r in report.results]
    lines.append(summary(report))
    return lines


def summary(report: ConformanceReport) -> str:
    """``N cases: P passed, F failed, S skipped``, naming the failed cases."""
    line = (
        f"{len(report.results)} cases: {report.count(Verdict.PASSED)} passed, "
        f"{report.count(Verdict.FAILED)} failed, {report.count(Verdict.SKIPPED)} skipped"
    )
    failed = report.failed()
    return f"{line} (failed: {', '.join(failed)})" if failed else line


def write_junit(report: ConformanceReport, path: Path) -> None:
    """Write the run as a JUnit XML test suite: a ``failure`` or ``skipped`` element with the
    reason for each case that did not pass."""
    agency = report.agency_id or "unknown"
    suite = ET.Element(
        "testsuite",
        name=f"sakha adapter conformance: {agency}",
        tests=str(len(report.results)),
        failures=str(report.count(Verdict.FAILED)),
        errors="0",
        skipped=str(report.count(Verdict.SKIPPED)),
        time=f"{sum(r.seconds for r in report.results):.3f}",
    )
    ET.SubElement(
        ET.SubElement(suite, "properties"), "property", name="target", value=report.target
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{agency}",
            name=result.name,
            time=f"{result.seconds:.3f}",
        )
        if result.verdict is Verdict.FAILED:
            ET.SubElement(case, "failure", message=result.detail, type="conformance")
        elif result.verdict is Verdict.SKIPPED:
            ET.SubElement(case, "skipped", message=result.detail)
        else:
            ET.SubElement(case, "system-out").text = result.detail
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    path.write_bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n")
