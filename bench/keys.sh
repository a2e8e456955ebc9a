#!/usr/bin/env bash
# Signing keys benchmark (issue 6): JWT verifications per second (ES256, RS256) through stkdr_jwt_verify()
# next to PyJWT on OpenSSL (python3-jwt + python3-cryptography) and `openssl speed`, in the same run,
# interleaved (A B A B, medians); and key-sync start-up time from a local Hub endpoint and from the cache.
#
#   bench/keys.sh                        # as root if python3-jwt/python3-cryptography must be installed
#
# Environment (defaults in brackets):
#   BUILD [build-bench]   meson build directory holding libstkdr.a (made with --buildtype=release if missing)
#   SECS [3]              seconds per verification measurement
#   ROUNDS [3]            interleaved rounds (the median is reported)
#   STARTS [30]           key-sync start-ups per measurement (the median is reported)
#   PYTHON [/usr/bin/python3]  a python3 with PyJWT and cryptography (installed from Debian if missing)
#   KEEP_WORK [0]         1: keep the work directory (jwt_bench, jwks.json, the tokens) for profiling
#
# Goals: ES256 verification at least as fast per core as PyJWT (on OpenSSL); key-sync start-up from the
# cache under 5 ms. Exits non-zero only if a step fails, never because of a slow ratio.
# What it measures and why: docs/performance.md, "Signing keys and JWT".
set -euo pipefail
export LC_ALL=C

SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
STARTS=${STARTS:-30}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/${BUILD:-build-bench}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- prerequisites
# PyJWT and cryptography from Debian (python3-jwt, python3-cryptography): the system's python3, which is
# not necessarily the first python3 in PATH (pyenv...). PYTHON overrides.
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import jwt, cryptography' 2>/dev/null; then
	[ "$(id -u)" = 0 ] || die "PyJWT or cryptography missing: run as root or: apt-get install -y python3-jwt python3-cryptography"
	say "installing python3-jwt python3-cryptography"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-jwt python3-cryptography >/dev/null || die "apt-get install"
	"$PY" -c 'import jwt, cryptography' || die "$PY cannot import jwt and cryptography"
fi
command -v openssl >/dev/null || die "the openssl CLI is missing"
if [ ! -f "$BUILD/libstkdr.a" ]; then
	(cd "$ROOT" && { test -d "$BUILD" || meson setup "$BUILD" --buildtype=release >/dev/null; } && ninja -C "$BUILD" >/dev/null) ||
		die "cannot build libstkdr.a in $BUILD"
fi

WORK=$(mktemp -d /tmp/stkdr-keys-bench-XXXXXX)
SRV=
cleanup() {
	local rc=$?
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	if [ "${KEEP_WORK:-0}" = 1 ]; then say "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT

# the static library's own dependencies, as meson wrote them into its pkg-config file
DEPS=$(sed -n 's/^Requires.private: //p' "$BUILD/meson-private/stkdr.pc" | tr ',' ' ')
cc -O2 -Wall -I"$ROOT/include" -I"$ROOT/src" "$ROOT/bench/jwt_bench.c" "$BUILD/libstkdr.a" \
	$(pkg-config --libs $DEPS) -lmbedtls -lmbedx509 -lmbedcrypto -lpthread \
	-o "$WORK/jwt_bench" 2>"$WORK/cc.log" || { cat "$WORK/cc.log" >&2; die "cannot build bench/jwt_bench.c"; }
B=$WORK/jwt_bench

# ---------------------------------------------------------------- keys and tokens (PyJWT signs them)
# One P-256 and one RSA-2048 key; the JWKS carries RFC 7638 kids, as stkdr_keys_jwks() would serve it.
cat >"$WORK/gen.py" <<'EOF'
import base64, hashlib, json, sys, time
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
out = sys.argv[1]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
def ib(n, size=None): return n.to_bytes(size or (n.bit_length() + 7) // 8, 'big')
keys, jwks = {}, []
e = ec.generate_private_key(ec.SECP256R1()); pn = e.public_key().public_numbers()
canon = {"crv": "P-256", "kty": "EC", "x": b64(ib(pn.x, 32)), "y": b64(ib(pn.y, 32))}
keys["ES256"] = e; jwks.append(dict(canon, alg="ES256", use="sig"))
r = rsa.generate_private_key(public_exponent=65537, key_size=2048); rn = r.public_key().public_numbers()
canonr = {"e": b64(ib(rn.e)), "kty": "RSA", "n": b64(ib(rn.n))}
keys["RS256"] = r; jwks.append(dict(canonr, alg="RS256", use="sig"))
for j, c in zip(jwks, (canon, canonr)):
    j["kid"] = b64(hashlib.sha256(json.dumps(c, separators=(',', ':'), sort_keys=True).encode()).digest())
json.dump({"keys": jwks}, open(out + "/jwks.json", "w"))
now = int(time.time())
for j in jwks:
    a = j["alg"]
    tok = jwt.encode({"sub": "user-1", "iat": now, "nbf": now, "exp": now + 86400}, keys[a], algorithm=a,
                     headers={"kid": j["kid"]})
    open("%s/%s.tok" % (out, a), "w").write(tok)
    from cryptography.hazmat.primitives import serialization
    open("%s/%s.pub.pem" % (out, a), "wb").write(keys[a].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
EOF
"$PY" "$WORK/gen.py" "$WORK" || die "generating keys with PyJWT"

# PyJWT verification: the public key object loaded once (the equivalent of our per-kid cache), then
# jwt.decode() per token (signature, exp, nbf), one thread.
cat >"$WORK/pyjwt.py" <<'EOF'
import sys, time, jwt
from cryptography.hazmat.primitives import serialization
pem, tokf, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
key = serialization.load_pem_public_key(open(pem, 'rb').read())
tok = open(tokf).read().strip()
alg = jwt.get_unverified_header(tok)["alg"]
jwt.decode(tok, key, algorithms=[alg])
n, t0 = 0, time.process_time()  # CPU time, as jwt_bench and openssl speed
while True:
    for _ in range(16):
        jwt.decode(tok, key, algorithms=[alg])
    n += 16
    t = time.process_time() - t0
    if t >= secs: break
print("pyjwt %s %.0f %d %.3f" % (alg, n / t, n, t))
EOF

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)]; else printf "-" }'; }

say "JWT verification per CPU-second (one thread: a per-core figure), ${SECS} CPU-s per measurement, $ROUNDS interleaved rounds (median):"
: >"$WORK/v.txt"
for r in $(seq "$ROUNDS"); do
	for a in ES256 RS256; do
		"$B" verify "$WORK/jwks.json" "$WORK/$a.tok" "$SECS" >>"$WORK/v.txt" || die "jwt_bench verify $a"
		"$PY" "$WORK/pyjwt.py" "$WORK/$a.pub.pem" "$WORK/$a.tok" "$SECS" >>"$WORK/v.txt" || die "pyjwt $a"
		"$B" raw "$WORK/jwks.json" "$WORK/$a.tok" "$SECS" >>"$WORK/v.txt" || die "jwt_bench raw $a"
	done
	"$B" rawload "$WORK/jwks.json" "$WORK/ES256.tok" "$SECS" >>"$WORK/v.txt" || die "jwt_bench rawload"
	"$B" rawq "$WORK/jwks.json" "$WORK/ES256.tok" "$SECS" >>"$WORK/v.txt" || die "jwt_bench rawq"
	"$B" reparse "$WORK/jwks.json" "$WORK/ES256.tok" "$SECS" >>"$WORK/v.txt" || die "jwt_bench reparse"
done
# openssl speed: ECDSA P-256 and RSA-2048 verify/s (the library PyJWT's cryptography uses, without Python)
OSECS=$(awk -v s="$SECS" 'BEGIN { s = int(s + 0.5); print s < 1 ? 1 : s }') # whole seconds only
{ openssl speed -seconds "$OSECS" ecdsap256 2>/dev/null || say "  (openssl speed ecdsap256 failed)"; } |
	awk '/256 bits ecdsa \(nistp256\)/ { print "openssl ES256", $NF }' >>"$WORK/v.txt"
{ openssl speed -seconds "$OSECS" rsa2048 2>/dev/null || say "  (openssl speed rsa2048 failed)"; } |
	awk '/^rsa 2048 bits/ { print "openssl RS256", $NF }' >>"$WORK/v.txt"

fig() { awk -v m="$1" -v a="$2" '$1 == m && $2 == a { print $3 }' "$WORK/v.txt" | median; }
for a in ES256 RS256; do
	S=$(fig verify $a); P=$(fig pyjwt $a); R=$(fig raw $a); O=$(fig openssl $a)
	say "  $a: stkdr_jwt_verify $S/s   PyJWT+OpenSSL $P/s   mbedTLS alone $R/s   openssl speed $O/s"
	awk -v s="$S" -v p="$P" -v r="$R" -v o="$O" 'BEGIN {
		printf "    stk/PyJWT %.2f   stk/mbedTLS-alone %.2f (our overhead %.1f%%)   mbedTLS/openssl-speed %.3f\n",
			s / p, s / r, (r / s - 1) * 100, r / o }' >&2
done
say "  ES256 variants: mbedTLS with mbedtls_ecp_group_load per call $(fig rawload ES256)/s;" \
	"stk with the key re-parsed per token $(fig reparse ES256)/s;" \
	"experiment with the public key's comb table cached too $(fig rawq ES256)/s"
say "  (all rounds: $(tr '\n' ';' <"$WORK/v.txt"))"

# ---------------------------------------------------------------- key-sync start-up
# The Hub endpoint: a small HTTPS server serving the JWKS (as tests/test_keysync.c does).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
	-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null || die "openssl req"
mkdir -p "$WORK/www"
cp "$WORK/jwks.json" "$WORK/www/bench_prod.json"
cat >"$WORK/hub.py" <<'EOF'
import sys, ssl, hashlib, os
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
root, cert, key, portfile = sys.argv[1:5]
class H(BaseHTTPRequestHandler):
  protocol_version = 'HTTP/1.1'
  disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
  def log_message(self, *a): pass
  def do_GET(self):
    p = self.path.split('/')
    f = os.path.join(root, '%s_%s.json' % (p[3], p[5])) if len(p) == 7 else None
    if not f or not os.path.exists(f):
      self.send_response(404); self.send_header('Content-Length', '0'); self.end_headers(); return
    body = open(f, 'rb').read(); tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if self.headers.get('If-None-Match') == tag:
      self.send_response(304); self.send_header('ETag', tag); self.send_header('Content-Length', '0'); self.end_headers(); return
    self.send_response(200); self.send_header('ETag', tag)
    self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(body)))
    self.end_headers(); self.wfile.write(body)
srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile + '.tmp', 'w').write(str(srv.server_address[1])); os.rename(portfile + '.tmp', portfile)
srv.serve_forever()
EOF
"$PY" "$WORK/hub.py" "$WORK/www" "$WORK/cert.pem" "$WORK/key.pem" "$WORK/port" &
SRV=$!
for _ in $(seq 200); do [ -f "$WORK/port" ] && break; sleep 0.025; done
[ -f "$WORK/port" ] || die "the local Hub endpoint did not start"
URL=https://127.0.0.1:$(cat "$WORK/port")/

say "key-sync start-up (stkdr_keysync_new + stkdr_keysync_start + free), median of $STARTS (min):"
# cold: no cache, every start fetches the JWKS (200) and writes the cache (fsync)
KS_COLD=$(for i in $(seq "$STARTS"); do rm -rf "$WORK/cache"; "$B" keysync "$URL" "$WORK/cert.pem" "$WORK/cache" 1 3 || exit 1; done |
	awk '{ print $2 }' | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f (min %.2f)", v[int((NR + 1) / 2)], v[1] }') || die "keysync cold"
# warm: the cache's ETag makes the fetch conditional (304)
KS_WARM=$("$B" keysync "$URL" "$WORK/cert.pem" "$WORK/cache" "$STARTS" 3) || die "keysync warm"
kill "$SRV" && wait "$SRV" 2>/dev/null || true
SRV=
# Hub unreachable (connection refused): from the cache; retries 0, and the default 3 (with a valid cache,
# stkdr_keysync_start() makes one attempt whatever keysync.retries is: no backoff before the cache)
KS_CACHE=$("$B" keysync "$URL" "$WORK/cert.pem" "$WORK/cache" "$STARTS" 0 2>/dev/null) || die "keysync from cache"
KS_CACHE3=$("$B" keysync "$URL" "$WORK/cert.pem" "$WORK/cache" 3 3 2>/dev/null) || die "keysync from cache (retries 3)"
say "  from the Hub, no cache (200 + cache write):  $KS_COLD ms"
say "  from the Hub, cache present (304):           $(awk '{ printf "%.2f (min %.2f)", $2, $3 }' <<<"$KS_WARM") ms"
say "  Hub unreachable, from the cache, retries 0:  $(awk '{ printf "%.2f (min %.2f), from_cache=%d", $2, $3, $4 }' <<<"$KS_CACHE") ms  (goal < 5 ms)"
say "  Hub unreachable, from the cache, retries 3:  $(awk '{ printf "%.2f (min %.2f)", $2, $3 }' <<<"$KS_CACHE3") ms (one attempt with a cache)"
