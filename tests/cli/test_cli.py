#!/usr/bin/env python3
"""Black-box tests of the `stk` program: the command-line contract of /work/shared/CLI.md and docs/cli.md.

Run by meson (`meson test -C build cli`) with STK set to the built program and STKDR_TEST_SOURCE_DIR to
the source tree. Python 3 standard library only.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

STK = os.environ.get("STK", "stk")
SOURCE_DIR = os.environ.get(
    "STKDR_TEST_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# The smallest configuration of CLI.md, verbatim; paths are moved into a temporary directory.
SMALLEST = """{
  "deployment": "hub-prod",
  "postgres": {
    "conninfo": "host=127.0.0.1 port=5432 user=postgres dbname=hub",
    "data_dir": "/var/lib/postgresql/15/main",
    "bin_dir": "/usr/lib/postgresql/15/bin"
  },
  "objstore":   { "backend": "local", "path": "/srv/stkdr/repo" },
  "secrets":    { "backend": "local", "path": "/srv/stkdr/secrets" },
  "dbprovider": { "backend": "local-postgres" },
  "dns":        { "backend": "local", "path": "/srv/stkdr/dns.json" }
}
"""


def clean_env(**extra):
    """The environment without any STKDR_* variable (so the host cannot leak in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STKDR_")}
    env.update(extra)
    return env


class StkTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="stk-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # A stand-in for the PostgreSQL server programs, so the test does not depend on the host.
        self.bin_dir = os.path.join(self.tmp, "pgbin")
        os.mkdir(self.bin_dir)
        pg_ctl = os.path.join(self.bin_dir, "pg_ctl")
        with open(pg_ctl, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(pg_ctl, stat.S_IRWXU)

    def smallest_text(self):
        """The smallest configuration with its paths pointed into the temporary directory."""
        text = SMALLEST.replace("/srv/stkdr", self.tmp)
        text = text.replace("/var/lib/postgresql/15/main", os.path.join(self.tmp, "pgdata"))
        return text.replace("/usr/lib/postgresql/15/bin", self.bin_dir)

    def smallest(self):
        return json.loads(self.smallest_text())

    def write_config(self, doc, name="stkdr.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
        return path

    def stk(self, *args, env=None):
        return subprocess.run([STK] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env if env is not None else clean_env(), universal_newlines=True, timeout=60)

    def assertExit(self, r, code):
        self.assertEqual(r.returncode, code,
                         "exit %d, expected %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, code, r.stdout, r.stderr))

    def assertOneLineReason(self, r):
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected a one-line reason on stderr, got:\n" + r.stderr)
        self.assertTrue(lines[0].startswith("stk: "), lines[0])
        return lines[0]


class TestGlobal(StkTestCase):
    def test_help_exits_0(self):
        r = self.stk("--help")
        self.assertExit(r, 0)
        self.assertIn("usage: stk", r.stdout)
        self.assertIn("config check", r.stdout)
        self.assertExit(self.stk("-h"), 0)

    def test_version_exits_0(self):
        r = self.stk("--version")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^stk \d+\.\d+\.\d+ \(libstkdr \d+\.\d+\.\d+\)")
        self.assertIn("zstd", r.stdout)
        self.assertIn("postgres", r.stdout)

    def test_version_json(self):
        r = self.stk("--version", "--json")
        self.assertExit(r, 0)
        doc = json.loads(r.stdout)
        self.assertIn("libstkdr", doc)
        self.assertIsInstance(doc["features"]["postgres"], bool)

    def test_no_arguments_is_usage(self):
        r = self.stk()
        self.assertExit(r, 2)
        self.assertIn("usage: stk", r.stderr)

    def test_unknown_command(self):
        r = self.stk("frobnicate")
        self.assertExit(r, 2)
        self.assertIn("frobnicate", self.assertOneLineReason(r))

    def test_unknown_subcommand(self):
        r = self.stk("config", "chek")
        self.assertExit(r, 2)
        self.assertIn("config check", self.assertOneLineReason(r))

    def test_group_without_command(self):
        r = self.stk("config")
        self.assertExit(r, 2)
        self.assertOneLineReason(r)
        r = self.stk("config", "--help")
        self.assertExit(r, 0)
        self.assertIn("config show", r.stdout)

    def test_unknown_global_option(self):
        r = self.stk("--frobnicate", "config", "check")
        self.assertExit(r, 2)
        self.assertIn("--frobnicate", self.assertOneLineReason(r))

    def test_unknown_command_option(self):
        r = self.stk("config", "check", "--frobnicate")
        self.assertExit(r, 2)
        self.assertIn("--frobnicate", self.assertOneLineReason(r))

    def test_missing_option_argument(self):
        r = self.stk("config", "check", "--config")
        self.assertExit(r, 2)
        self.assertIn("--config", self.assertOneLineReason(r))

    def test_flag_with_value(self):
        r = self.stk("--json=yes", "config", "keys")
        self.assertExit(r, 2)
        self.assertOneLineReason(r)

    def test_unexpected_argument(self):
        r = self.stk("config", "show", "extra")
        self.assertExit(r, 2)
        self.assertIn("extra", self.assertOneLineReason(r))

    def test_command_help(self):
        r = self.stk("config", "keys", "--help")
        self.assertExit(r, 0)
        self.assertIn("--markdown", r.stdout)
        self.assertIn("usage: stk config keys", r.stdout)
        # --help before the command words too
        r = self.stk("--help", "config", "check")
        self.assertExit(r, 0)
        self.assertIn("usage: stk config check", r.stdout)


class TestConfigCheck(StkTestCase):
    def test_smallest_config_is_accepted(self):
        path = self.write_config(self.smallest_text())
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 0)
        self.assertIn("configuration OK: " + path, r.stdout)

    def test_config_from_environment_variable(self):
        path = self.write_config(self.smallest_text())
        r = self.stk("config", "check", env=clean_env(STKDR_CONFIG=path))
        self.assertExit(r, 0)
        self.assertIn(path, r.stdout)

    def test_global_options_after_command(self):
        path = self.write_config(self.smallest_text())
        r = self.stk("config", "check", "--config=" + path, "--json", "-v")
        self.assertExit(r, 0)
        self.assertEqual(json.loads(r.stdout), [])
        r = self.stk("config", "--config", path, "check", "-q")
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "")

    def test_malformed_json(self):
        text = self.smallest_text().replace('"hub-prod",', '"hub-prod"', 1)  # missing comma on line 2
        path = self.write_config(text)
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        line = self.assertOneLineReason(r)
        self.assertIn(path, line)
        self.assertRegex(line, r"line 3\b")

    def test_wrong_type(self):
        doc = self.smallest()
        doc["snapshot"] = {"level": "high"}
        path = self.write_config(doc)
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        self.assertIn("snapshot.level", r.stdout + r.stderr)
        self.assertIn(path, r.stdout + r.stderr)

    def test_missing_required_key(self):
        doc = self.smallest()
        del doc["deployment"]
        path = self.write_config(doc)
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        self.assertRegex(r.stdout, r"(?m)^" + re.escape(path) + r": deployment: ")
        self.assertOneLineReason(r)

    def test_unknown_key_suggestion(self):
        doc = self.smallest()
        doc["objstore"]["pth"] = doc["objstore"].pop("path")
        path = self.write_config(doc)
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        self.assertIn("objstore.pth", r.stdout)
        self.assertIn("did you mean objstore.path", r.stdout)

    def test_problems_as_json(self):
        doc = self.smallest()
        del doc["deployment"]
        doc["objstore"]["pth"] = doc["objstore"].pop("path")
        path = self.write_config(doc)
        r = self.stk("--config", path, "--json", "config", "check")
        self.assertExit(r, 3)
        problems = json.loads(r.stdout)
        fields = {p["field"] for p in problems}
        self.assertIn("deployment", fields)
        self.assertIn("objstore.pth", fields)
        for p in problems:
            self.assertEqual(p["file"], path)
            self.assertTrue(p["message"])

    def test_missing_file(self):
        path = os.path.join(self.tmp, "does-not-exist.json")
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        self.assertIn(path, self.assertOneLineReason(r))

    def test_unreadable_file(self):
        # A directory cannot be read as a file, even by root (permission bits would not stop root).
        path = os.path.join(self.tmp, "a-directory.json")
        os.mkdir(path)
        r = self.stk("--config", path, "config", "check")
        self.assertExit(r, 3)
        self.assertIn(path, self.assertOneLineReason(r))

    def test_unreadable_file_json(self):
        path = os.path.join(self.tmp, "does-not-exist.json")
        r = self.stk("--config", path, "--json", "config", "check")
        self.assertExit(r, 3)
        problems = json.loads(r.stdout)
        self.assertEqual(len(problems), 1)
        self.assertIn(path, problems[0]["message"])


class TestConfigShow(StkTestCase):
    def test_show_is_json(self):
        path = self.write_config(self.smallest_text())
        r = self.stk("--config", path, "config", "show")
        self.assertExit(r, 0)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["deployment"], "hub-prod")
        # defaults are filled in
        self.assertEqual(doc["snapshot"]["compression"], "gzip")
        r = self.stk("config", "show", "--json", "--config", path)
        self.assertExit(r, 0)
        self.assertEqual(json.loads(r.stdout), doc)

    def test_environment_override(self):
        path = self.write_config(self.smallest_text())
        elsewhere = os.path.join(self.tmp, "elsewhere")
        r = self.stk("--config", path, "config", "show", env=clean_env(STKDR_OBJSTORE_PATH=elsewhere))
        self.assertExit(r, 0)
        self.assertEqual(json.loads(r.stdout)["objstore"]["path"], elsewhere)

    def test_password_redacted(self):
        doc = self.smallest()
        doc["postgres"]["conninfo"] = "host=127.0.0.1 user=postgres password=hunter2-s3cret dbname=hub"
        path = self.write_config(doc)
        r = self.stk("--config", path, "config", "show")
        self.assertExit(r, 0)
        self.assertNotIn("hunter2-s3cret", r.stdout + r.stderr)
        conninfo = json.loads(r.stdout)["postgres"]["conninfo"]
        self.assertIn("host=127.0.0.1", conninfo)
        self.assertIn("<redacted>", conninfo)

    def test_show_bad_config_exits_3(self):
        path = self.write_config("{ not json")
        r = self.stk("--config", path, "config", "show")
        self.assertExit(r, 3)
        self.assertIn(path, self.assertOneLineReason(r))


class TestConfigKeys(StkTestCase):
    def test_keys_text(self):
        r = self.stk("config", "keys")
        self.assertExit(r, 0)
        self.assertIn("objstore.path", r.stdout)
        self.assertIn("STKDR_OBJSTORE_PATH", r.stdout)

    def test_keys_json(self):
        r = self.stk("config", "keys", "--json")
        self.assertExit(r, 0)
        keys = {k["key"]: k for k in json.loads(r.stdout)}
        self.assertEqual(keys["deployment"]["required_when"], "always")
        self.assertEqual(keys["objstore.path"]["env"], "STKDR_OBJSTORE_PATH")
        self.assertTrue(keys["postgres.conninfo"]["secret"])

    def test_markdown_and_json_exclusive(self):
        r = self.stk("config", "keys", "--markdown", "--json")
        self.assertExit(r, 2)
        self.assertOneLineReason(r)

    def test_docs_key_table_matches(self):
        """docs/configuration.md's key reference is exactly `stk config keys --markdown`."""
        r = self.stk("config", "keys", "--markdown")
        self.assertExit(r, 0)
        with open(os.path.join(SOURCE_DIR, "docs", "configuration.md"), encoding="utf-8") as f:
            doc = f.read()
        m = re.search(r"<!-- keys:begin -->\n(.*?)<!-- keys:end -->", doc, re.S)
        self.assertIsNotNone(m, "docs/configuration.md lacks the <!-- keys:begin/end --> markers")
        self.assertEqual(m.group(1).strip(), r.stdout.strip(),
                         "docs/configuration.md is out of date: paste the output of "
                         "`stk config keys --markdown` between the markers")
        # every key is also mentioned in the table
        for k in json.loads(self.stk("config", "keys", "--json").stdout):
            self.assertIn("`%s`" % k["key"], m.group(1))


class TestDocs(StkTestCase):
    def test_cli_doc_lists_commands_and_exit_codes(self):
        with open(os.path.join(SOURCE_DIR, "docs", "cli.md"), encoding="utf-8") as f:
            doc = f.read()
        help_text = self.stk("--help").stdout
        for line in help_text.split("Commands:\n", 1)[1].split("\n\n", 1)[0].splitlines():
            words = re.split(r"\s{2,}", line.strip())[0]
            self.assertIn("stk " + words, doc, "docs/cli.md does not document `stk %s`" % words)
        for code in list(range(11)) + [126]:
            self.assertRegex(doc, r"(?m)^\| %d \|" % code)
            self.assertRegex(help_text.split("Exit codes:", 1)[1], r"(^|\s)%d " % code)


if __name__ == "__main__":
    unittest.main(verbosity=2)
