#!/usr/bin/env bash
# S3 throughput: upload and download of one snapshot-sized object (SIZE_MB [1024] MB of random bytes)
# through libstkdr's S3 backend (bench/s3_copy.c: the objstore vtable as snapshots and restores drive it,
# multipart with objstore.parallel parts at once) versus `aws --endpoint-url ... s3 cp` of the same bytes,
# against a local moto server started here, in one run (docs/performance.md, "S3 throughput").
#
#   bench/s3.sh        # SIZE_MB [1024], ROUNDS [3], PARALLEL [4] (objstore.parallel and the CLI's
#                      # max_concurrent_requests), PART_MB [16] (objstore.part_size and .read_chunk, the
#                      # CLI's multipart_chunksize, which it also uses for its ranged downloads)
#   AWS_DEFAULTS=1 bench/s3.sh   # both at their defaults instead: the CLI 10 requests of 8 MB, stk
#                                # parallel 4, 16 MiB parts, 8 MiB ranges
#
# Runs interleaved (stk put, aws put, stk get, aws get; ROUNDS times) so machine noise hits both; prints
# the median MB/s (MB = 10^6 bytes) of each and the ratio stk/aws. Downloads go to the page cache (no
# fsync), as `aws s3 cp` does. Both downloads are compared byte for byte with the source.
# moto keeps every object in one Python process, and each ranged GET reads the whole object under the
# object's lock: the server is the bottleneck and a download costs about (number of ranges) x (object
# size), so the figures say how fast each client drives the same slow server with the same request
# sizes, not what S3 itself would give.
set -euo pipefail
export LC_ALL=C
SIZE_MB=${SIZE_MB:-1024}
ROUNDS=${ROUNDS:-3}
PARALLEL=${PARALLEL:-4}
PART_MB=${PART_MB:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
say() { printf '%s\n' "$*" >&2; }
die() { say "bench/s3.sh: $*"; exit 1; }
python3 -c 'import moto.server' 2>/dev/null || die "moto is not installed (pip install 'moto[server]')"
command -v aws >/dev/null || die "the aws CLI is not installed"
(cd "$ROOT" && { test -d "$BUILD" || meson setup "$BUILD" --buildtype=release >/dev/null; } && ninja -C "$BUILD" >/dev/null)

W=$(mktemp -d /tmp/stkdr-s3bench-XXXXXX)
MOTO=
cleanup() {
	[ -n "$MOTO" ] && kill "$MOTO" 2>/dev/null && wait "$MOTO" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

DEPS=$(sed -n 's/^Requires.private: //p' "$BUILD/meson-private/stkdr.pc" | tr ',' ' ')
cc -O2 -Wall -D_GNU_SOURCE -I"$ROOT/include" -I"$ROOT/src" -I"$BUILD" "$ROOT/bench/s3_copy.c" "$BUILD/libstkdr.a" \
	$(pkg-config --libs $DEPS) -lmbedtls -lmbedx509 -lmbedcrypto -lpthread -ldl \
	-o "$W/s3_copy" 2>"$W/cc.log" || { cat "$W/cc.log" >&2; die "cannot build bench/s3_copy.c"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m moto.server -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
MOTO=$!
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
	sleep 0.2
done
EP=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=$W/aws-config
if [ "${AWS_DEFAULTS:-0}" = 1 ]; then
	printf '[default]\n' >"$AWS_CONFIG_FILE"
	CLI_DESC="aws CLI defaults (10 requests, 8 MB parts and ranges)"
	STK_OPTS=""
	STK_DESC="stk defaults (objstore.parallel 4, part_size 16 MiB, read_chunk 8 MiB)"
else
	printf '[default]\ns3 =\n  max_concurrent_requests = %d\n  multipart_chunksize = %dMB\n  multipart_threshold = %dMB\n' \
		"$PARALLEL" "$PART_MB" "$PART_MB" >"$AWS_CONFIG_FILE"
	CLI_DESC="aws CLI with max_concurrent_requests=$PARALLEL, multipart_chunksize=${PART_MB}MB"
	STK_OPTS=", \"parallel\": $PARALLEL, \"part_size\": $((PART_MB * 1048576)), \"read_chunk\": $((PART_MB * 1048576))"
	STK_DESC="stk objstore.parallel=$PARALLEL, part_size=read_chunk=$PART_MB MiB"
fi
aws --endpoint-url "$EP" s3 mb s3://bench >/dev/null
cat >"$W/stk.json" <<JSON
{ "deployment": "bench",
  "objstore": { "backend": "s3", "bucket": "bench", "endpoint": "$EP"$STK_OPTS } }
JSON

say "making $SIZE_MB MB of random bytes..."
head -c $((SIZE_MB * 1000000)) /dev/urandom >"$W/src"
BYTES=$(stat -c %s "$W/src")
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
: >"$W/times"
for r in $(seq "$ROUNDS"); do
	t=$(secs "$W/s3_copy" "$W/stk.json" put "$W/src" "stk/obj-$r"); echo "stk_put $t" >>"$W/times"
	t=$(secs aws --endpoint-url "$EP" s3 cp --only-show-errors "$W/src" "s3://bench/aws/obj-$r"); echo "aws_put $t" >>"$W/times"
	t=$(secs "$W/s3_copy" "$W/stk.json" get "stk/obj-$r" "$W/back"); echo "stk_get $t" >>"$W/times"
	cmp -s "$W/src" "$W/back" || die "stk's download differs from the source"
	rm -f "$W/back"
	t=$(secs aws --endpoint-url "$EP" s3 cp --only-show-errors "s3://bench/aws/obj-$r" "$W/back"); echo "aws_get $t" >>"$W/times"
	cmp -s "$W/src" "$W/back" || die "the aws CLI's download differs from the source"
	rm -f "$W/back"
	# moto holds everything in memory: drop this round's objects
	aws --endpoint-url "$EP" s3 rm --only-show-errors --recursive s3://bench/ >/dev/null
	say "round $r: $(grep -c . "$W/times") timings"
done

python3 - "$W/times" "$BYTES" "$ROUNDS" "$STK_DESC" "$CLI_DESC" <<'EOF'
import statistics, sys
times, nbytes, rounds, stk, cli = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
t = {}
for line in open(times):
    k, v = line.split()
    t.setdefault(k, []).append(float(v))
print("object: %.0f MB random bytes; %s rounds interleaved; %s; %s" % (nbytes / 1e6, rounds, stk, cli))
print("%-10s %10s %10s %8s  %s" % ("", "median s", "MB/s", "", "all runs (s)"))
mbs = {}
for k in ("stk_put", "aws_put", "stk_get", "aws_get"):
    m = statistics.median(t[k])
    mbs[k] = nbytes / m / 1e6
    print("%-10s %10.2f %10.1f %8s  %s" % (k, m, mbs[k], "", " ".join("%.2f" % x for x in t[k])))
print("ratio stk/aws (throughput): upload %.2f, download %.2f" % (mbs["stk_put"] / mbs["aws_put"], mbs["stk_get"] / mbs["aws_get"]))
EOF
