#!/usr/bin/env python3
"""End-to-end point-in-time recovery with the repository on S3 (issue #7): self-hosted PostgreSQL, S3.

The common real-world case, through the `stk` program as an operator wires it: a real PostgreSQL 15
cluster whose configuration has `"objstore": {"backend": "s3", "bucket": ..., "endpoint": <moto>}`;
archive_command = `stk wal push %p` pushes every segment to the bucket; `stk snapshot create` writes the
snapshot there; a table is written one transaction per row (commit timestamps from
track_commit_timestamp) while segments switch; `stk restore --time T --start` (restore_command = `stk wal
get`) restores to a time between two commits, and the rows are exactly those committed before T. Then
`stk hub verify-backup` test-restores the snapshot read from S3, and the bad inputs: a segment
missing from the bucket (exit 4), a snapshot object damaged in the bucket (verification names it,
exit 5), an unknown bucket (named, nothing archived).

The test starts moto (`python3 -m moto.server`) on a free loopback port itself and kills it at the end;
the bucket's contents are also listed by the aws CLI when it is installed (a reader nobody here wrote).
Credentials are fake ones in the environment (moto does not check them by default); the shared files
are pointed at nothing and the instance metadata service is disabled, so the host's never leak in.

Run by meson (`meson test -C build s3_pitr`) with STK set to the built program. Needs root (the cluster
runs as the `postgres` user), PostgreSQL 15 and moto; skipped otherwise. Python 3 standard library, plus
moto's server (a separate program) and boto3 (moto's own dependency) to damage one object.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from pitrlib import PGBIN, STK, PitrCase, cannot_run_postgres, free_port

BUCKET = "stkdr-pitr"
S3NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"

# Fake credentials; nothing from the host (shared files, instance metadata) may be used.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/stkdr-test-credentials",
    "AWS_CONFIG_FILE": "/nonexistent/stkdr-test-config",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_PAGER": "",
}


def env_args():
    return ["env", "-u", "AWS_PROFILE", "-u", "AWS_SESSION_TOKEN"] + ["%s=%s" % kv for kv in AWS_ENV.items()]


def can_run():
    why = cannot_run_postgres()
    if why:
        return why
    if subprocess.run([sys.executable, "-c", "import moto.server"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return "python3 with moto is not installed (pip install 'moto[server]')"
    r = subprocess.run([STK, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if "+s3" not in r.stdout:
        return "stk was built without the S3 backend (libxml2): " + r.stdout.strip()
    return None


SKIP = can_run()


class Moto:
    """moto's server on a free loopback port: started here, killed at the end."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        log = subprocess.DEVNULL if not os.environ.get("STKDR_TEST_SERVER_LOG") else None
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moto exited before listening (status %s)" % self.proc.returncode)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto did not listen on port %d" % self.port)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def http(self, method, path, body=None, headers=None):
        """An unsigned request (moto does not check signatures by default): (status, body)."""
        req = urllib.request.Request(self.endpoint + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def keys(self, bucket, prefix=""):
        """Every key under `prefix` (ListObjectsV2, following continuation tokens)."""
        out, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix}
            if token:
                q["continuation-token"] = token
            st, body = self.http("GET", "/%s?%s" % (bucket, urllib.parse.urlencode(q)))
            assert st == 200, body
            root = ET.fromstring(body)
            out += [c.find(S3NS + "Key").text for c in root.findall(S3NS + "Contents")]
            if root.findtext(S3NS + "IsTruncated") != "true":
                return out
            token = root.findtext(S3NS + "NextContinuationToken")


@unittest.skipIf(SKIP is not None, SKIP or "")
class TestS3Pitr(PitrCase):
    env_prefix = env_args()

    @classmethod
    def setUpClass(cls):
        cls.moto = Moto()
        cls.addClassCleanup(cls.moto.stop)
        st, body = cls.moto.http("PUT", "/" + BUCKET)
        assert st == 200, body
        cls.start_cluster("stk-s3-pitr-", lambda c: c.write_config(c.cfg, BUCKET))

    @classmethod
    def write_config(cls, path, bucket):
        with open(path, "w") as f:
            json.dump({
                "deployment": "pitr",
                "postgres": {"conninfo": "host=127.0.0.1 port=%d user=postgres dbname=postgres" % cls.port,
                             "data_dir": cls.data, "bin_dir": PGBIN},
                "objstore": {"backend": "s3", "bucket": bucket, "endpoint": cls.moto.endpoint,
                             "prefix": "hub/pitr"},
                "secrets": {"backend": "local", "path": os.path.join(cls.tmp, "secrets")},
                "dbprovider": {"backend": "local-postgres"},
                "dns": {"backend": "local", "path": os.path.join(cls.tmp, "dns.json")},
                "verify": {"tables": "postgres.public.counter", "scratch_dir": cls.tmp},
                "restore": {"wal_command": cls.stk_cmd + " --config " + path + " wal get %f \"%p\""},
            }, f, indent=2)
        shutil.chown(path, "postgres", "postgres")

    def wal_keys(self):
        return [k for k in self.moto.keys(BUCKET, "hub/pitr/wal/") if k.rsplit("/", 1)[-1].startswith("0")]

    def test_1_snapshot_wal_and_pitr_through_s3(self):
        self.sql("CREATE TABLE counter (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        self.sql("INSERT INTO counter (id) SELECT g FROM generate_series(1, 20) g")
        r = self.stk("--json", "snapshot", "create", "--kind", "manual")
        self.assertEqual(r.returncode, 0, r.stderr)
        snap = json.loads(r.stdout)
        snap_keys = self.moto.keys(BUCKET, "hub/pitr/snapshots/")
        self.assertFalse([k for k in self.moto.keys(BUCKET)
                          if not k.startswith("hub/pitr/") or k.startswith("hub/pitr/hub/")],
                         "every key once under objstore.prefix")
        self.assertIn("hub/pitr/snapshots/%s/manifest.json" % snap["id"], snap_keys,
                      "the snapshot must be in the bucket: %s" % self.moto.keys(BUCKET)[:20])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "repo")), "nothing may be written locally")
        # One transaction per row, 20 ms apart, segments switching every 25 rows (the archiver pushing
        # each to S3 with stk) while the writer goes on.
        commits = self.write_rows(21, 170)
        with open(os.path.join(self.tmp, "pg.log")) as f:
            self.assertEqual(self.sql("SELECT failed_count FROM pg_stat_archiver"), "0", f.read()[-3000:])
        wal = self.wal_keys()
        self.assertGreaterEqual(len(wal), 6, "the writer should have switched segments: %s" % wal)
        if shutil.which("aws"):
            # a reader nobody here wrote sees the same archive
            r = subprocess.run(["aws", "--endpoint-url", self.moto.endpoint, "s3", "ls", "--recursive",
                                "s3://%s/hub/pitr/wal/" % BUCKET], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, env=dict(os.environ, **AWS_ENV), timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            for k in wal:
                self.assertIn(k, r.stdout)

        # Targets are exclusive: a row's own commit time (cut to the ms: that row is out) and a time
        # halfway between two commits late in the chain (segments fetched from S3 all the way).
        for target, k in (self.target_at_commit(commits, 60), self.target_between(commits, 155)):
            with self.subTest(target=target, expect=k):
                self.check_restore("restored-%d" % k, target, k)

    def test_2_verify_backup_reads_from_s3(self):
        r = self.stk("--json", "hub", "verify-backup", "--snapshot", "latest")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        report = json.loads(r.stdout)
        self.assertTrue(report.get("ok", report.get("passed")), report)
        self.assertIn("counter", r.stdout, "the row count of verify.tables is in the report")
        # the verification result is stored next to the snapshot, in the bucket
        self.assertTrue([k for k in self.moto.keys(BUCKET, "hub/pitr/") if "verif" in k],
                        self.moto.keys(BUCKET, "hub/pitr/"))

    def test_3_missing_segment_is_not_found(self):
        out = os.path.join(self.tmp, "pg_wal")
        os.makedirs(out, exist_ok=True)
        shutil.chown(out, "postgres", "postgres")
        r = self.stk("wal", "get", "0000000100000000000000FE", os.path.join(out, "RECOVERYXLOG"))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "RECOVERYXLOG")))

    def test_4_unknown_bucket_is_named(self):
        cfg = os.path.join(self.tmp, "nobucket.json")
        self.write_config(cfg, "stkdr-no-such-bucket")
        seg = os.path.join(self.tmp, "000000010000000000000099")
        with open(seg, "wb") as f:
            f.write(b"\0" * 16384)
        shutil.chown(seg, "postgres", "postgres")
        r = self.stk("wal", "push", seg, cfg=cfg)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("stkdr-no-such-bucket", r.stderr)
        self.assertIn("NoSuchBucket", r.stderr)

    def test_5_damaged_snapshot_object_fails_verification(self):
        keys = [k for k in self.moto.keys(BUCKET, "hub/pitr/snapshots/") if "/data/" in k or "base" in k]
        if not keys:
            keys = [k for k in self.moto.keys(BUCKET, "hub/pitr/snapshots/") if not k.endswith(".json")]
        if not keys:
            self.skipTest("needs test_1's snapshot (run the whole class)")
        victim = max(keys, key=len)
        # moto answers an unsigned GET of a checksummed object with 403: read and replace it with boto3
        # (moto's own dependency), keeping the library's metadata (its SHA-256) so only the bytes differ.
        import boto3
        s3 = boto3.client("s3", endpoint_url=self.moto.endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        obj = s3.get_object(Bucket=BUCKET, Key=victim)
        body, meta = obj["Body"].read(), obj.get("Metadata", {})
        self.assertTrue(meta, "the library stores the object's SHA-256 in its metadata")
        damaged = bytearray(body)
        damaged[len(damaged) // 2] ^= 0xFF
        s3.put_object(Bucket=BUCKET, Key=victim, Body=bytes(damaged), Metadata=meta)
        try:
            r = self.stk("--json", "hub", "verify-backup", "--snapshot", "latest", "--checksums-only")
            self.assertEqual(r.returncode, 5, r.stdout + r.stderr)
            self.assertIn(victim.rsplit("/", 1)[-1], r.stdout + r.stderr, "the damaged object is named")
        finally:
            s3.put_object(Bucket=BUCKET, Key=victim, Body=body, Metadata=meta)
        r = self.stk("--json", "hub", "verify-backup", "--snapshot", "latest", "--checksums-only")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
