"""What the end-to-end recovery tests (test_pitr.py: local repository, test_s3_pitr.py: S3) share: a
real PostgreSQL 15 cluster run as the postgres user, archiving with `stk wal push`, a writer with one
transaction per row and commit timestamps, and `stk restore` into new directories. Python 3 standard
library only."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

STK = os.environ.get("STK", "stk")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_as_pg(args, env_prefix=(), **kw):
    """Runs `args` as the postgres user (PostgreSQL refuses to run as root; archive_command runs as it),
    after `env_prefix` (e.g. ["env", "A=b"])."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("universal_newlines", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(["runuser", "-u", "postgres", "--"] + list(env_prefix) + list(args), **kw)


def cannot_run_postgres():
    """Why a cluster cannot be run here, or None."""
    if os.geteuid() != 0:
        return "needs root (runs PostgreSQL as the postgres user)"
    if not os.path.exists(os.path.join(PGBIN, "initdb")):
        return "PostgreSQL 15 server programs not found in " + PGBIN
    try:
        subprocess.run(["id", "postgres"], check=True, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return "no postgres user"
    return None


def rfc3339_ms(t):
    """Unix seconds as an RFC 3339 UTC time with milliseconds (stk's precision)."""
    ms = int(round(t * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class PitrCase(unittest.TestCase):
    """A source cluster archiving with `stk wal push`; subclasses write the configuration."""
    env_prefix = ()  # for every command run as postgres (archive_command inherits it)

    @classmethod
    def start_cluster(cls, prefix, write_config):
        """Makes cls.tmp (owned by postgres), copies stk there, calls write_config(cls) to write cls.cfg,
        then initdb's and starts cls.data on cls.port with archive_command = stk wal push."""
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        os.chmod(cls.tmp, 0o755)
        # The program and its library where the postgres user can run them whatever the build
        # directory's permissions (a CI checkout may sit under a private home).
        cls.bindir = os.path.join(cls.tmp, "bin")
        os.mkdir(cls.bindir)
        shutil.copy2(STK, os.path.join(cls.bindir, "stk"))
        libs = subprocess.run(["ldd", STK], stdout=subprocess.PIPE, universal_newlines=True).stdout
        for line in libs.splitlines():
            if "libstkdr" in line and "=>" in line:
                shutil.copy2(line.split("=>")[1].split()[0], cls.bindir)
        cls.stk_cmd = "LD_LIBRARY_PATH=%s %s/stk" % (cls.bindir, cls.bindir)
        cls.port = free_port()
        cls.data = os.path.join(cls.tmp, "data")
        cls.cfg = os.path.join(cls.tmp, "stkdr.json")
        write_config(cls)
        subprocess.run(["chown", "-R", "postgres:postgres", cls.tmp], check=True)
        r = run_as_pg([PGBIN + "/initdb", "-D", cls.data, "--data-checksums", "-U", "postgres",
                       "--auth=trust", "--no-sync"], cls.env_prefix)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(cls.data, "postgresql.conf"), "a") as f:
            f.write("port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    "wal_level = replica\narchive_mode = on\ntrack_commit_timestamp = on\n"
                    "archive_command = '%s --config %s -q wal push %%p'\n"
                    % (cls.port, cls.tmp, cls.stk_cmd, cls.cfg))
        r = run_as_pg([PGBIN + "/pg_ctl", "-D", cls.data, "-l", os.path.join(cls.tmp, "pg.log"), "-w",
                       "start"], cls.env_prefix)
        assert r.returncode == 0, r.stderr
        cls.addClassCleanup(cls.stop, cls.data)

    @classmethod
    def stop(cls, data):
        run_as_pg([PGBIN + "/pg_ctl", "-D", data, "-m", "immediate", "stop"], cls.env_prefix)

    def as_pg(self, args, **kw):
        return run_as_pg(args, self.env_prefix, **kw)

    def sql(self, query, port=None):
        r = self.as_pg(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(port or self.port), "-U", "postgres", "-d", "postgres", "-c", query])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def stk(self, *args, cfg=None):
        return self.as_pg(["env", "LD_LIBRARY_PATH=" + self.bindir, os.path.join(self.bindir, "stk"),
                           "--config", cfg or self.cfg] + list(args))

    def wait_archived(self, seconds=90):
        """Switches to a new segment and waits until the archiver has pushed everything before it."""
        seg = self.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
        self.sql("SELECT pg_switch_wal()")
        deadline = time.time() + seconds
        while time.time() < deadline:
            last = self.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
            if last >= seg:
                return
            time.sleep(0.2)
        self.fail("segment %s was not archived within %d s: %s" %
                  (seg, seconds, self.sql("SELECT * FROM pg_stat_archiver")))

    def restore(self, name, *args):
        """`stk --json restore --target-dir TMP/name --port P ARGS`: (result, directory, port)."""
        target = os.path.join(self.tmp, name)
        port = free_port()
        r = self.stk("--json", "restore", "--target-dir", target, "--port", str(port), *args)
        return r, target, port

    def write_rows(self, first, last, switch_every=25):
        """One transaction per row of `counter`, 20 ms apart, switching segments every `switch_every`
        rows while the writer goes on; returns [(id, commit time RFC 3339 with microseconds)]."""
        script = []
        for i in range(first, last + 1):
            script.append("INSERT INTO counter (id) VALUES (%d);" % i)
            script.append("SELECT pg_sleep(0.02);")
            if i % switch_every == 0:
                script.append("SELECT pg_switch_wal();")
        r = self.as_pg(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                        str(self.port), "-U", "postgres", "-d", "postgres"], input="\n".join(script))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_archived()
        commits = [(int(i), ts) for i, ts in (line.split("|") for line in self.sql(
            "SELECT id, to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM counter WHERE id >= %d ORDER BY id" % first).splitlines())]
        self.assertEqual([c[0] for c in commits], list(range(first, last + 1)))
        return commits

    def epoch(self, ts):
        return float(self.sql("SELECT extract(epoch FROM '%s'::timestamptz)" % ts))

    def target_at_commit(self, commits, k):
        """Row k's own commit time cut to the millisecond: targets are exclusive, so rows < k are in."""
        ts = dict(commits)[k]
        return ts[:23] + "Z", k - 1

    def target_between(self, commits, k):
        """Halfway between the commits of rows k and k+1: rows <= k are in."""
        c = dict(commits)
        return rfc3339_ms((self.epoch(c[k]) + self.epoch(c[k + 1])) / 2), k

    def check_restore(self, name, target, k, extra=None):
        """Restores to `target` with --start and checks that exactly rows 1..k are there (every row
        committed before the target, none after, no gaps); `extra(report, dir, port)` may check more."""
        r, dir_, port = self.restore(name, "--time", target, "--start")
        try:
            self.assertEqual(r.returncode, 0, r.stderr)
            report = json.loads(r.stdout)
            self.assertEqual(report["target"], "time")
            got = self.sql("SELECT count(*), max(id), count(DISTINCT id) FROM counter", port=port)
            self.assertEqual(got, "%d|%d|%d" % (k, k, k), "target %s" % target)
            self.assertEqual(self.sql("SELECT pg_is_in_recovery()", port=port), "f")
            with open(os.path.join(dir_, "postgresql.auto.conf")) as f:
                self.assertIn("wal get", f.read(), "recovery must fetch WAL with stk wal get")
            if extra:
                extra(report, dir_, port)
        finally:
            self.stop(dir_)
            shutil.rmtree(dir_, True)
