#!/usr/bin/env bash
# Regenerates the ABI baseline abi/libstkdr.abi from a fresh build of the library.
#
#   bash scripts/update-abi-baseline.sh         # uses build/ (set BUILD_DIR to use another)
#
# Run it only for a deliberate, compatible ABI change (new functions, new struct versions, appended
# enum values), and commit abi/libstkdr.abi in the same commit as the change, with a CHANGELOG.md
# entry. See docs/abi.md. The diff of abi/libstkdr.abi is what reviewers read.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

if [ ! -f "$BUILD_DIR/meson-private/coredata.dat" ]; then
	meson setup "$BUILD_DIR"
fi
ninja -C "$BUILD_DIR" libstkdr.so.1.0.0 2>/dev/null || ninja -C "$BUILD_DIR"

LIB="$BUILD_DIR/libstkdr.so.1"
if ! readelf -S -W "$LIB" | grep -q '\.debug_info'; then
	echo "error: $LIB has no debug info; configure $BUILD_DIR with -Dbuildtype=debugoptimized" >&2
	exit 1
fi
if readelf -s -W "$LIB" | grep -q '__asan_\|__ubsan_'; then
	echo "error: $LIB is a sanitizer build; use a plain build directory" >&2
	exit 1
fi

# --no-corpus-path, --no-comp-dir-path and --short-locs keep the builder's paths out of the file and
# --no-elf-needed its optional dependencies (DT_NEEDED is not part of the ABI), so that regenerating it
# on another machine changes nothing but source line numbers. Do not use --no-show-locs: without file
# names, `abidiff --headers-dir2` takes every baseline type for a private one and reports nothing.
abidw --headers-dir include/stkdr --drop-private-types --no-corpus-path --no-comp-dir-path --short-locs --no-elf-needed \
	--out-file abi/libstkdr.abi.tmp "$LIB"
mv abi/libstkdr.abi.tmp abi/libstkdr.abi
echo "wrote abi/libstkdr.abi ($(grep -c "<elf-symbol name=" abi/libstkdr.abi) symbols)"
if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
	git diff --stat -- abi/libstkdr.abi || true
fi
echo "Now add a CHANGELOG.md entry under [Unreleased] and commit abi/libstkdr.abi with the change."
