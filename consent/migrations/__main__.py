"""``python -m consent.migrations URL``: bring the consent database at URL to the head."""

from __future__ import annotations

import sys

from consent.database import create_store_engine
from consent.migrations import check_schema, head, upgrade


def main(argv: list[str]) -> int:
    """Migrate the database named by the only argument; print where it stands."""
    if len(argv) != 1:
        print("usage: python -m consent.migrations <database URL>", file=sys.stderr)
        return 2
    upgrade(argv[0])
    engine = create_store_engine(argv[0])
    try:
        print(f"consent database at {check_schema(engine).current} (head {head()})")
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
