#!/usr/bin/env bash
# Line and branch coverage of the library (src/) by the unit suite, per source file.
#
#   bash scripts/coverage.sh            # builds build-coverage/, runs `meson test --suite unit`, reports
#
# Uses meson's b_coverage (gcc --coverage) at -O0 and gcovr. Prints two per-file tables (lines, then
# branches) and a summary; also writes build-coverage/meson-logs/coverage.{txt,branches.txt,html}.
# Extra arguments are passed to `meson test` (e.g. `--suite backend-local` to add a suite).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=build-coverage

if [ -f "$DIR/meson-private/coredata.dat" ] &&
	meson setup --reconfigure "$DIR" -Db_coverage=true -Dbuildtype=debug -Db_sanitize=none; then
	:
else
	rm -rf "$DIR"
	meson setup "$DIR" -Db_coverage=true -Dbuildtype=debug -Db_sanitize=none
fi
ninja -C "$DIR"

# Counters from a previous run would be added to this one.
find "$DIR" -name '*.gcda' -delete

status=0
if [ $# -gt 0 ]; then
	meson test -C "$DIR" --print-errorlogs --suite unit "$@" || status=$?
else
	meson test -C "$DIR" --print-errorlogs --suite unit || status=$?
fi

GCOVR=(gcovr -r . --filter 'src/' --object-directory "$DIR" --exclude-unreachable-branches)
echo
echo "==> line coverage per file (src/)"
"${GCOVR[@]}" --txt "$DIR/meson-logs/coverage.txt" >/dev/null
cat "$DIR/meson-logs/coverage.txt"
echo
echo "==> branch coverage per file (src/)"
"${GCOVR[@]}" --branches --txt "$DIR/meson-logs/coverage.branches.txt" >/dev/null
cat "$DIR/meson-logs/coverage.branches.txt"
echo
echo "==> summary"
"${GCOVR[@]}" --html-details "$DIR/meson-logs/coverage.html" --print-summary
echo "HTML report: $DIR/meson-logs/coverage.html"

if [ "$status" -ne 0 ]; then
	echo "warning: some unit tests failed (status $status); coverage reflects the tests that ran" >&2
fi
exit "$status"
