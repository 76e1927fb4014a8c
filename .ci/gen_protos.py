"""Regenerate the committed protobuf/gRPC code from proto/ (the only way it is made).

Writes gateway/_generated/sakha/v1/*_pb2.py, *_pb2_grpc.py and mypy stubs. The import path
mirrors the proto package (``sakha.v1``), so generated imports need no rewriting;
pyproject.toml maps the top-level ``sakha`` package onto gateway/_generated/sakha.

Usage: python .ci/gen_protos.py [--check]
  --check  regenerate into a temporary folder and fail if it differs from what is committed.
"""

from __future__ import annotations

import filecmp
import importlib.metadata
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

PINNED_GRPCIO_TOOLS = "1.85.1"
PINNED_MYPY_PROTOBUF = "5.1.0"

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_ROOT = ROOT / "gateway" / "_generated"


def _check_pins() -> None:
    for dist, pin in (
        ("grpcio-tools", PINNED_GRPCIO_TOOLS),
        ("mypy-protobuf", PINNED_MYPY_PROTOBUF),
    ):
        found = importlib.metadata.version(dist)
        if found != pin:
            sys.exit(f"{dist}=={found} installed; generated code is pinned to {pin}")


def generate(out: Path) -> None:
    """Run protoc (from grpcio-tools) over every .proto under proto/ into ``out``."""
    from grpc_tools import protoc  # noqa: PLC0415 - only needed when generating

    grpc_include = Path(protoc.__file__).parent / "_proto"
    site = Path(sysconfig.get_paths()["purelib"])
    scripts = Path(sysconfig.get_paths()["scripts"])
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{grpc_include}",
        f"-I{site}",
        f"--plugin=protoc-gen-mypy={scripts / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={scripts / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *sources,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for package in {p.parent for p in out.rglob("*.py")} | {out / "sakha"}:
        (package / "__init__.py").touch()
    (out / "sakha" / "py.typed").touch()


def main() -> None:
    _check_pins()
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        if check:
            cmp = filecmp.dircmp(out / "sakha", OUT_ROOT / "sakha", ignore=["__pycache__"])
            if _differs(cmp):
                sys.exit("generated protobuf code is stale: run python .ci/gen_protos.py")
            print("generated protobuf code is fresh")
            return
        shutil.rmtree(OUT_ROOT / "sakha", ignore_errors=True)
        shutil.copytree(out / "sakha", OUT_ROOT / "sakha")
        print(f"wrote {OUT_ROOT / 'sakha'}")


def _differs(cmp: filecmp.dircmp[str]) -> bool:
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return True
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    if mismatch or errors:
        return True
    return any(_differs(sub) for sub in cmp.subdirs.values())


if __name__ == "__main__":
    main()
