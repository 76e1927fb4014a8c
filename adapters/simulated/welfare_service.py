"""The welfare organisation's case-management web service, as the demo simulates it.

Many agency systems are neither a database the hub's adapter may read nor a CSV export but
a web service of their own. The State Welfare Organization is simulated that way: its
clients, in ``welfare.sqlite``, are looked up through a JSON API, and its adapter is the
generic HTTP/JSON one (``agencies/welfare.yaml``). The API::

    POST /api/v1/clients/lookup   {"national_ids": ["0012345679", ...]}   (at most 1,000)
    -> 200 {"clients": [{"national_id": "0012345679",
                         "assessment": {"disability_severity": 2},
                         "support": {"financial": true, "medical": false,
                                     "social_work": false, "emotional": true}}]}
    GET /health -> 200 {"status": "ok"}

Clients it does not know are absent from ``clients``. A body that is not such an object is
answered 400, too many IDs 413.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from adapters.simulated.json_service import JsonService, Reply, Request
from adapters.simulated.model import AID_AGENCY_NEEDS

LOOKUP_PATH = "/api/v1/clients/lookup"
MAX_IDS = 1000
_NEEDS = AID_AGENCY_NEEDS["welfare"]


class WelfareCaseFiles:
    """Answers the lookup API from the welfare organisation's database (read-only)."""

    def __init__(self, database: Path) -> None:
        self._uri = f"{database.resolve().as_uri()}?mode=ro"

    def __call__(self, request: Request) -> Reply:
        """Answer one request of the API in this module's docstring."""
        if request.method == "GET" and request.path == "/health":
            return Reply.json({"status": "ok"})
        if request.method != "POST" or request.path != LOOKUP_PATH:
            return Reply.json({"error": "not found"}, 404)
        ids = request.body.get("national_ids") if isinstance(request.body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return Reply.json({"error": "national_ids must be a list of strings"}, 400)
        if len(ids) > MAX_IDS:
            return Reply.json({"error": f"at most {MAX_IDS} national_ids"}, 413)
        return Reply.json({"clients": self._clients(ids)})

    def _clients(self, ids: list[str]) -> list[dict[str, object]]:
        if not ids:
            return []
        flags = ", ".join(f"supports_{need}" for need in _NEEDS)
        marks = ", ".join("?" * len(ids))
        with contextlib.closing(sqlite3.connect(self._uri, uri=True)) as db:
            rows = db.execute(
                f"SELECT national_id, disability_severity, {flags} FROM clients "  # noqa: S608 - names are ours
                f"WHERE national_id IN ({marks})",
                ids,
            ).fetchall()
        return [
            {
                "national_id": national_id,
                "assessment": {"disability_severity": severity},
                "support": {need: bool(flag) for need, flag in zip(_NEEDS, rest, strict=True)},
            }
            for national_id, severity, *rest in rows
        ]


def start_welfare_service(data_dir: Path) -> JsonService:
    """Start the welfare service over ``data_dir/welfare.sqlite`` on a free local port."""
    return JsonService(WelfareCaseFiles(data_dir / "welfare.sqlite")).start()
