#!/usr/bin/env bash
# The test command of libstkdr: `sudo bash scripts/test.sh` (root only to install missing packages).
#
#  1. installs the build and test prerequisites with apt if any is missing (root only);
#  2. builds and tests in build/ (every suite: unit, abi, cli, ...);
#  3. builds with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ and runs the unit suite;
#  4. prints one summary line, `tests: N passed, N failed`, counted from meson's JSON test logs.
#
# Exit status: 0 if everything built and passed, 1 otherwise. Works from a fresh clone and from any
# working directory; stale or broken build directories are reconfigured, or wiped and set up again.
# Environment: STKDR_TEST_SKIP_ASAN=1 skips step 3; MESON_TEST_ARGS adds arguments to `meson test`.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

say() { printf '\n==> %s\n' "$*"; }

# setup_dir DIR ARGS...: configure DIR with ARGS, reusing it if it is a valid build tree of this source
# tree, else wiping it.
setup_dir() {
	local dir=$1
	shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		if meson setup --reconfigure "$dir" "$@"; then
			return 0
		fi
		echo "warning: reconfiguring $dir failed; setting it up from scratch" >&2
	fi
	rm -rf "$dir"
	meson setup "$dir" "$@"
}

# run_tests NAME DIR: build DIR and run its tests; a build failure counts as one failed test.
BUILD_FAILURES=0
LOGS=()
run_tests() {
	local name=$1 dir=$2
	shift 2
	# Own log base (meson-logs/testsh.json, same format as testlog.json), so that another `meson test`
	# run in the same build directory meanwhile cannot change the count.
	local log="$dir/meson-logs/testsh.json"
	rm -f "$log"
	say "$name: building $dir"
	if ! ninja -C "$dir"; then
		echo "error: $name build failed" >&2
		BUILD_FAILURES=$((BUILD_FAILURES + 1))
		return
	fi
	say "$name: testing"
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs --logbase testsh "$@" ${MESON_TEST_ARGS:-}
	if [ -f "$log" ]; then
		LOGS+=("$log")
	else
		echo "error: $name: meson test wrote no log" >&2
		BUILD_FAILURES=$((BUILD_FAILURES + 1))
	fi
}

bash scripts/install-deps.sh || BUILD_FAILURES=$((BUILD_FAILURES + 1))

say "configuring build/"
if setup_dir build -Dbuildtype=debugoptimized -Db_sanitize=none -Db_coverage=false; then
	run_tests "default" build
else
	echo "error: meson setup build failed" >&2
	BUILD_FAILURES=$((BUILD_FAILURES + 1))
fi

if [ "${STKDR_TEST_SKIP_ASAN:-0}" != 1 ]; then
	say "configuring build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer)"
	if setup_dir build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false; then
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		run_tests "asan+ubsan" build-asan --suite unit
	else
		echo "error: meson setup build-asan failed" >&2
		BUILD_FAILURES=$((BUILD_FAILURES + 1))
	fi
fi

# Count results from meson's JSON test logs (testlog.json format: one object per line, with "result").
read -r PASSED FAILED SKIPPED < <(python3 - "${LOGS[@]}" <<'EOF'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                result = json.loads(line).get("result")
            except ValueError:
                failed += 1
                continue
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT
                failed += 1
print(passed, failed, skipped)
EOF
)
PASSED=${PASSED:-0}
FAILED=$(( ${FAILED:-0} + BUILD_FAILURES ))

echo
[ "${SKIPPED:-0}" -gt 0 ] && echo "(${SKIPPED} skipped)"
[ "$BUILD_FAILURES" -gt 0 ] && echo "(${BUILD_FAILURES} build/setup failure(s) counted as failed)"
echo "tests: ${PASSED} passed, ${FAILED} failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
