#!/usr/bin/env python3
"""Checks what `sam build` left in .aws-sam/build: every function of infra/template.yaml built with
rust-cargolambda has a `bootstrap` that is an ELF 64-bit little-endian AArch64 executable (the functions run on
arm64) and is no larger than --max-mb. Prints each one's size and its deflated size (about what Lambda stores)."""
import argparse
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_aws import load_template  # noqa: E402  (the CloudFormation-tag-aware loader)

REPO_ROOT = Path(__file__).resolve().parent.parent
EM_AARCH64 = 183
ET_EXEC, ET_DYN = 2, 3


def problems(path: Path, max_bytes: int) -> list[str]:
    if not path.is_file():
        return ["missing"]
    with path.open("rb") as f:
        header = f.read(20)
    found = []
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return ["not an ELF file"]
    if header[4] != 2 or header[5] != 1:
        found.append("not a 64-bit little-endian ELF")
    e_type, e_machine = struct.unpack_from("<HH", header, 16)
    if e_machine != EM_AARCH64:
        found.append(f"machine {e_machine}, not AArch64 ({EM_AARCH64})")
    if e_type not in (ET_EXEC, ET_DYN):
        found.append(f"ELF type {e_type}, not an executable")
    if not path.stat().st_mode & 0o111:
        found.append("not executable")
    if path.stat().st_size > max_bytes:
        found.append(f"larger than {max_bytes / 2**20:.0f} MiB")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--template", default=str(REPO_ROOT / "infra" / "template.yaml"))
    parser.add_argument("--build-dir", default=str(REPO_ROOT / ".aws-sam" / "build"))
    parser.add_argument("--max-mb", type=float, default=16)
    args = parser.parse_args()

    template = load_template(Path(args.template).read_text())
    functions = sorted(
        logical for logical, res in (template.get("Resources") or {}).items()
        if res.get("Type") == "AWS::Serverless::Function"
        and (res.get("Metadata") or {}).get("BuildMethod") == "rust-cargolambda"
    )
    if not functions:
        print("check-artifacts: no rust-cargolambda function in the template", file=sys.stderr)
        return 1
    failed = 0
    max_bytes = int(args.max_mb * 2**20)
    for logical in functions:
        path = Path(args.build_dir) / logical / "bootstrap"
        found = problems(path, max_bytes)
        if found:
            failed += 1
            print(f"FAIL {logical}: {path}: {'; '.join(found)}")
            continue
        data = path.read_bytes()
        deflated = len(zlib.compress(data, 6))
        print(f"ok   {logical:<30} bootstrap {len(data) / 2**20:6.2f} MiB"
              f"  (deflated {deflated / 2**20:5.2f} MiB)  ELF aarch64")
    if failed:
        print(f"check-artifacts: {failed} of {len(functions)} artifacts failed", file=sys.stderr)
        return 1
    print(f"check-artifacts: {len(functions)} arm64 bootstraps, each ≤ {args.max_mb:g} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
