#!/usr/bin/env python3
"""The built libstkdr.so keeps the ABI recorded in abi/libstkdr.abi.

Runs
  abidiff --headers-dir2 include/stkdr --drop-private-types --no-added-syms \
          [--suppr abi/libstkdr.suppr] abi/libstkdr.abi <built libstkdr.so>
and fails on any non-zero exit status (bit 1 error, 2 usage error, 4 ABI change, 8 incompatible
change). A second pass runs the same comparison without --headers-dir2: with it, libabigail treats
every type declared outside include/stkdr as private, and so filters out a change of a public struct
member from one system typedef to another (uint32_t -> uint64_t passes unnoticed when the struct size
stays the same). The baseline already has private types dropped (they are declaration-only in it),
so the second pass adds no noise from internal structs. Then it checks the baseline is not stale: every symbol the library exports from a release node must be in
the baseline (abidiff --no-added-syms would otherwise let a new function change shape unnoticed
until the next release). Symbols of the STKDR_EXPERIMENTAL node are exempt from both checks.

Without debug info (e.g. buildtype=release/plain) abidiff can compare only symbols, so the test is
skipped (exit 77) with a message rather than passing vacuously.

Usage: abicheck.py --abidiff abidiff --lib LIB --source-root DIR [--nm nm] [--readelf readelf]
"""

import argparse
import os
import re
import shlex
import subprocess
import sys

UPDATE = """
If this change is deliberate:
  - a compatible change (new function, new struct version, appended enum value): regenerate the
    baseline with `bash scripts/update-abi-baseline.sh` and commit abi/libstkdr.abi in the same
    commit, with a CHANGELOG.md entry under [Unreleased];
  - an incompatible change (removed/renamed symbol, changed signature, changed layout of a released
    struct or vtable): do not. Add a new name (`_v2`) or a new struct version instead; breaking the
    ABI needs a SONAME bump (see docs/abi.md).
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--abidiff", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--readelf", default="readelf")
    args = ap.parse_args()

    baseline = os.path.join(args.source_root, "abi", "libstkdr.abi")
    suppr = os.path.join(args.source_root, "abi", "libstkdr.suppr")
    headers = os.path.join(args.source_root, "include", "stkdr")

    if not os.path.isfile(baseline):
        print(f"FAIL {baseline} is missing: create it with `bash scripts/update-abi-baseline.sh`")
        return 1

    with open(baseline, encoding="utf-8") as fh:
        baseline_text = fh.read()
    if "filepath=" not in baseline_text:
        print(f"FAIL {baseline} has no source locations (made with --no-show-locs?): abidiff --headers-dir2 "
              "would take every type in it for a private one and report nothing. Regenerate it with "
              "`bash scripts/update-abi-baseline.sh`.")
        return 1

    try:
        sections = subprocess.run([args.readelf, "-S", "-W", args.lib], check=True, capture_output=True,
                                  text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"FAIL cannot run {args.readelf} -S {args.lib}: {e}")
        return 1
    if ".debug_info" not in sections:
        print(f"SKIP {args.lib} has no debug info (buildtype without -g): abidiff could compare symbols only. "
              "Build with the default buildtype (debugoptimized) to run the ABI check.")
        return 77

    suppr_args = ["--suppr", suppr] if os.path.isfile(suppr) else []
    passes = [
        ("public headers", ["--headers-dir2", headers, "--drop-private-types", "--no-added-syms"]),
        ("strict", ["--no-added-syms"]),
    ]
    failed = False
    for label, flags in passes:
        argv = [args.abidiff] + flags + suppr_args + [baseline, args.lib]
        print(f"--- abidiff ({label})\n$ " + shlex.join(argv), flush=True)
        r = subprocess.run(argv, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stdout.write(r.stderr)
        if r.returncode != 0:
            bits = []
            if r.returncode & 1:
                bits.append("tool error")
            if r.returncode & 2:
                bits.append("usage error")
            if r.returncode & 4:
                bits.append("ABI change")
            if r.returncode & 8:
                bits.append("INCOMPATIBLE ABI change")
            print(f"FAIL abidiff ({label}) exit status {r.returncode} ({', '.join(bits) or 'unknown'}): "
                  "the library's ABI differs from abi/libstkdr.abi.\n")
            failed = True
    if failed:
        print(UPDATE)
        return 1

    # Stale baseline: exported (non-experimental) symbols the baseline does not know.
    known = set(re.findall(r"<elf-symbol name='([^']+)'", baseline_text))
    out = subprocess.run([args.nm, "-D", "--defined-only", args.lib], check=True, capture_output=True,
                         text=True).stdout
    missing = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] not in "TtWwDdBbRrVvi":
            continue
        name, _, version = parts[-1].partition("@")
        if version.lstrip("@") == "STKDR_EXPERIMENTAL":
            continue
        if name.startswith("stkdr_") and name not in known:
            missing.append(name)
    if missing:
        print(f"FAIL the baseline abi/libstkdr.abi does not record {len(missing)} exported symbol(s):")
        for name in sorted(missing):
            print(f"  {name}")
        print("\nNew API must be recorded in the baseline in the commit that adds it, so its shape is "
              "frozen from then on.")
        print(UPDATE)
        return 1

    print("OK: no ABI change against abi/libstkdr.abi")
    return 0


if __name__ == "__main__":
    sys.exit(main())
