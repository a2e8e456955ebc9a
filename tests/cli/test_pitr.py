#!/usr/bin/env python3
"""End-to-end point-in-time recovery through the `stk` program, as an operator wires it (issue #4).

A real PostgreSQL 15 cluster archives with archive_command = `stk wal push %p`; a table is written with
a monotonically increasing counter, one transaction per row, while segments switch; `stk restore
--time T --start` restores to several target times with restore_command = `stk wal get %f "%p"` (and
its background prefetch). After each restore every row committed before T is present and none after
(the commit timestamps come from track_commit_timestamp, so the expectation is exact). Then the bad
inputs: a target before the oldest snapshot, and a corrupt archived segment in the chain, which is
named before anything is started.

Run by meson (`meson test -C build pitr`) with STK set to the built program. Needs root (the cluster
runs as the `postgres` user) and PostgreSQL 15; skipped otherwise. Python 3 standard library only.
"""
import glob
import json
import os
import shutil
import unittest

from pitrlib import PGBIN, PitrCase, cannot_run_postgres

SKIP = cannot_run_postgres()


@unittest.skipIf(SKIP is not None, SKIP or "")
class TestPitr(PitrCase):
    @classmethod
    def setUpClass(cls):
        cls.start_cluster("stk-pitr-", cls.write_config)

    @staticmethod
    def write_config(cls):
        cls.repo = os.path.join(cls.tmp, "repo")
        with open(cls.cfg, "w") as f:
            json.dump({
                "deployment": "pitr",
                "postgres": {"conninfo": "host=127.0.0.1 port=%d user=postgres dbname=postgres" % cls.port,
                             "data_dir": cls.data, "bin_dir": PGBIN},
                "objstore": {"backend": "local", "path": cls.repo},
                "secrets": {"backend": "local", "path": os.path.join(cls.tmp, "secrets")},
                "dbprovider": {"backend": "local-postgres"},
                "dns": {"backend": "local", "path": os.path.join(cls.tmp, "dns.json")},
                "restore": {"wal_command": cls.stk_cmd + " --config " + cls.cfg + " wal get %f \"%p\""},
            }, f, indent=2)

    def test_1_restores_to_several_target_times(self):
        self.sql("CREATE TABLE counter (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        self.sql("INSERT INTO counter (id) SELECT g FROM generate_series(1, 20) g")
        r = self.stk("snapshot", "create", "--kind", "manual")
        self.assertEqual(r.returncode, 0, r.stderr)
        # One transaction per row, 20 ms apart, segments switching every 25 rows (and the archiver
        # pushing each with stk) while the writer goes on.
        commits = self.write_rows(21, 220)
        segments = len(glob.glob(os.path.join(self.repo, "pitr", "wal", "00000001", "0*")))
        self.assertGreaterEqual(segments, 8, "the writer should have switched segments")

        def spool_gone(report, dir_, port):
            # the prefetch spool is gone once recovery is over
            self.assertFalse(os.path.exists(os.path.join(dir_, "pg_wal", "stkdr-prefetch")))

        # Targets (stk takes milliseconds; targets are exclusive, as the runbook's "restore to just
        # before"): a row's own commit time (that row is out, the one before in), and times halfway
        # between two commits, early, middle and late in the chain.
        for target, k in (self.target_at_commit(commits, 40), self.target_between(commits, 123),
                          self.target_between(commits, 205)):
            with self.subTest(target=target, expect=k):
                self.check_restore("restored-%d" % k, target, k, spool_gone)

    def test_2_target_before_the_oldest_snapshot(self):
        r, dir_, _ = self.restore("too-early", "--time", "2001-01-01T00:00:00Z", "--start")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("2001-01-01", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(dir_, "PG_VERSION")), "nothing may be laid down")

    def flip_middle_byte(self, path):
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))

    def test_3_corrupt_segment_is_named_before_anything_starts(self):
        self.sql("CREATE TABLE IF NOT EXISTS more (x int)")
        self.sql("INSERT INTO more SELECT generate_series(1, 1000)")
        self.wait_archived()
        segs = sorted(glob.glob(os.path.join(self.repo, "pitr", "wal", "00000001", "0*")))
        if len(segs) < 2 or not glob.glob(os.path.join(self.repo, "pitr", "snapshots", "*")):
            self.skipTest("needs test_1's snapshot and archive (run the whole class)")
        victim = segs[-2]
        name = os.path.basename(victim)[:24]
        os.chmod(victim, 0o644)
        self.flip_middle_byte(victim)
        try:
            r, dir_, port = self.restore("corrupt", "--latest", "--start")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn(name, r.stderr)
            self.assertIn("nothing was restored", r.stderr)
            # nothing started on the port, nothing left that looks like a cluster
            self.assertFalse(os.path.exists(os.path.join(dir_, "postmaster.pid")))
            # as restore_command: a damaged segment stops recovery (exit > 125), a missing one ends it
            out = os.path.join(self.tmp, "pg_wal")
            os.makedirs(out, exist_ok=True)
            shutil.chown(out, "postgres", "postgres")
            r = self.stk("wal", "get", name, os.path.join(out, "RECOVERYXLOG"))
            self.assertEqual(r.returncode, 126, r.stderr)
            self.assertIn(name, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(out, "RECOVERYXLOG")))
            r = self.stk("wal", "get", "0000000100000000000000FF", os.path.join(out, "RECOVERYXLOG"))
            self.assertEqual(r.returncode, 4, r.stderr)
        finally:
            self.flip_middle_byte(victim)

    def test_4_push_is_idempotent_and_conflicts_are_refused(self):
        seg = sorted(glob.glob(os.path.join(self.data, "pg_wal", "0*")))[0]
        name = os.path.basename(seg)
        if not glob.glob(os.path.join(self.repo, "pitr", "wal", "00000001", name + "-*")):
            self.skipTest("oldest segment in pg_wal not archived yet")
        copy = os.path.join(self.tmp, name)
        shutil.copy(seg, copy)
        shutil.chown(copy, "postgres", "postgres")
        r = self.stk("wal", "push", copy)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(copy, "r+b") as f:
            f.write(b"\x01\x02\x03")
        r = self.stk("wal", "push", copy)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DIFFERENT content", r.stderr)
        os.unlink(copy)


if __name__ == "__main__":
    unittest.main(verbosity=2)
