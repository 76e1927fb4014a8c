"""The CSV adapter: typed loading, fetching, and loud failure on a bad export."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.csv_source import CsvAdapter
from adapters.errors import AdapterConfigError
from adapters.sdk import (
    AgencyDescription,
    AttributeSpec,
    AttributeType,
    FetchQuery,
    Predicate,
    PredicateOperator,
    Sensitivity,
)

DESCRIPTION = AgencyDescription(
    agency_id="welfare",
    name="State Welfare Organization",
    name_fa="سازمان بهزیستی کشور",
    attributes=(
        AttributeSpec(
            "disability_severity",
            AttributeType.INT64,
            Sensitivity.SPECIAL,
            predicate_operators=frozenset({PredicateOperator.GE}),
        ),
        AttributeSpec(
            "supports_medical",
            AttributeType.BOOL,
            Sensitivity.PERSONAL,
            predicate_operators=frozenset({PredicateOperator.EQ}),
        ),
        AttributeSpec("province", AttributeType.STRING, Sensitivity.PERSONAL),
        AttributeSpec("carers", AttributeType.STRING_LIST, Sensitivity.PERSONAL),
    ),
)

GOOD = """\
national_id,disability_severity,supports_medical,province,carers
0000000001,3,true,tehran,0000000003;0000000002
0000000002,0,FALSE,qom,
0000000003,,1,"zanjan, centre",0000000001
"""


def _write(tmp_path: Path, text: str, name: str = "welfare.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_loads_and_fetches_typed_values(tmp_path: Path) -> None:
    adapter = CsvAdapter(DESCRIPTION, _write(tmp_path, GOOD))
    query = FetchQuery(
        ("0000000003", "9999999999", "0000000001", "0000000002"),
        ("disability_severity", "supports_medical", "province", "carers"),
    )
    result = await adapter.fetch(query)
    assert result.found == [True, False, True, True]
    assert result.values == {
        "disability_severity": [None, None, 3, 0],
        "supports_medical": [True, None, True, False],
        "province": ["zanjan, centre", None, "tehran", "qom"],
        "carers": [("0000000001",), None, ("0000000002", "0000000003"), None],
    }


async def test_predicates_are_evaluated_in_the_agency(tmp_path: Path) -> None:
    adapter = CsvAdapter(DESCRIPTION, _write(tmp_path, GOOD))
    predicate = Predicate("disability_severity", PredicateOperator.GE, 2)
    result = await adapter.fetch(
        FetchQuery(("0000000001", "0000000002", "0000000003"), predicates=(predicate,))
    )
    assert result.predicates == [[True, False, None]]
    assert result.values == {}


async def test_byte_order_mark_and_renamed_columns(tmp_path: Path) -> None:
    text = "\ufeffnational_id,severity,supports_medical,province,carers\n0000000001,4,0,qom,\n"
    adapter = CsvAdapter(
        DESCRIPTION,
        _write(tmp_path, text),
        columns={"disability_severity": "severity"},
    )
    result = await adapter.fetch(FetchQuery(("0000000001",), ("disability_severity",)))
    assert result.values["disability_severity"] == [4]


async def test_list_separator(tmp_path: Path) -> None:
    text = "national_id,disability_severity,supports_medical,province,carers\n1,1,1,qom,b|a\n"
    adapter = CsvAdapter(DESCRIPTION, _write(tmp_path, text), list_separator="|")
    result = await adapter.fetch(FetchQuery(("1",), ("carers",)))
    assert result.values["carers"] == [("a", "b")]


_HEADER = "national_id,disability_severity,supports_medical,province,carers\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_HEADER + "1,1,true,qom,\n1,2,false,qom,\n", r"welfare\.csv:3: national_id repeats"),
        (_HEADER + "1,one,true,qom,\n", r"welfare\.csv:2: column 'disability_severity'"),
        (_HEADER + "1,1.5,true,qom,\n", "not a 64-bit integer"),
        (_HEADER + "1,99999999999999999999,true,qom,\n", "not a 64-bit integer"),
        (_HEADER + "1,1,yes,qom,\n", r"column 'supports_medical': 'yes' is not true"),
        (_HEADER + ",1,true,qom,\n", "empty national_id"),
        (_HEADER + "1,1,true\n", "too few cells"),
        (_HEADER + "1,1,true,qom,,extra\n", "more cells than headers"),
        ("national_id,disability_severity,province,carers\n", r"no column \['supports_medical'\]"),
        ("id,disability_severity,supports_medical,province,carers\n", r"\['national_id'\]"),
        ("", r"no column"),
    ],
    ids=[
        "repeated-national-id",
        "word-for-int",
        "fraction-for-int",
        "int-beyond-64-bits",
        "yes-for-bool",
        "empty-national-id",
        "short-row",
        "long-row",
        "missing-column",
        "missing-national-id-column",
        "empty-file",
    ],
)
def test_bad_export_fails_at_load(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AdapterConfigError, match=message):
        CsvAdapter(DESCRIPTION, _write(tmp_path, text))


def test_missing_file_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(AdapterConfigError, match=r"absent\.csv"):
        CsvAdapter(DESCRIPTION, tmp_path / "absent.csv")


def test_file_that_is_not_utf8_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((_HEADER + "1,1,true,Qom\xe9,\n").encode("latin-1"))
    with pytest.raises(AdapterConfigError, match=r"latin1\.csv"):
        CsvAdapter(DESCRIPTION, path)
