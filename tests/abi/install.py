#!/usr/bin/env python3
"""The installed library is usable by a stranger with nothing but pkg-config.

1. builds the installed targets, then `meson install --no-rebuild --destdir <tmp>`;
2. checks the installed tree: libstkdr.so -> libstkdr.so.<major> symlinks, stkdr.pc, and the public
   headers exactly as in include/stkdr (no internal header installed);
3. compiles examples/minimal/minimal.c with only
   `pkg-config --define-variable=prefix=<tmp><prefix> --cflags --libs stkdr`
   (the .pc file names the real prefix, so it is redirected into the destdir), with -Wall -Wextra
   -Werror, outside the source and build trees;
4. checks the binary resolves libstkdr.so.<major> from the destdir (ldd) and runs it with
   LD_LIBRARY_PATH, expecting exit status 0.

Usage: install.py --meson MESON [--ninja NINJA] --build-root DIR --source-root DIR --prefix /usr/local
                  --libdir lib/x86_64-linux-gnu --cc CC [--pkg-config pkg-config] [--major 1]
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile


def run(argv, **kw):
    print("$ " + shlex.join(argv), flush=True)
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.stdout.strip():
        print(r.stdout.rstrip())
    if r.stderr.strip():
        print(r.stderr.rstrip())
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--libdir", required=True)
    ap.add_argument("--includedir", default="include")
    ap.add_argument("--cc", required=True)
    ap.add_argument("--pkg-config", default="pkg-config")
    ap.add_argument("--ninja", default="ninja")
    ap.add_argument("--major", default="1")
    ap.add_argument("--keep", action="store_true", help="keep the destdir for inspection")
    args = ap.parse_args()

    example = os.path.join(args.source_root, "examples", "minimal", "minimal.c")
    if not os.path.isfile(example):
        print(f"FAIL {example} is missing")
        return 1

    tmp = tempfile.mkdtemp(prefix="stkdr-install-")
    try:
        destdir = os.path.join(tmp, "dest")
        # Build only what gets installed (not, say, a unit test that is broken right now), then install
        # without the rebuild `meson install` would do of the whole tree.
        r = subprocess.run(shlex.split(args.meson) + ["introspect", "--targets", args.build_root],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL meson introspect --targets failed:\n{r.stderr}")
            return 1
        outputs = sorted({os.path.relpath(f, args.build_root)
                          for t in json.loads(r.stdout) if t.get("installed") for f in t.get("filename", [])})
        r = run([args.ninja, "-C", args.build_root] + outputs)
        if r.returncode != 0:
            print("FAIL building the installed targets failed")
            return 1
        r = run(shlex.split(args.meson) + ["install", "-C", args.build_root, "--no-rebuild", "--quiet",
                                           "--destdir", destdir])
        if r.returncode != 0:
            print("FAIL meson install failed")
            return 1

        root = destdir + os.path.abspath(args.prefix)
        libdir = args.libdir if os.path.isabs(args.libdir) else os.path.join(args.prefix, args.libdir)
        libdir = destdir + os.path.abspath(libdir)
        incdir = args.includedir if os.path.isabs(args.includedir) else os.path.join(args.prefix, args.includedir)
        incdir = destdir + os.path.abspath(incdir)
        pcdir = os.path.join(libdir, "pkgconfig")
        failures = 0

        soname = f"libstkdr.so.{args.major}"
        for name in ("libstkdr.so", soname):
            if not os.path.exists(os.path.join(libdir, name)):
                print(f"FAIL {name} is not installed in {libdir}")
                failures += 1
        if os.path.exists(os.path.join(libdir, "libstkdr.so")):
            target = os.path.realpath(os.path.join(libdir, "libstkdr.so"))
            if not os.path.basename(target).startswith(soname):
                print(f"FAIL libstkdr.so points at {target}, expected {soname}*")
                failures += 1
        if not os.path.isfile(os.path.join(pcdir, "stkdr.pc")):
            print(f"FAIL stkdr.pc is not installed in {pcdir}")
            return 1

        src_inc = os.path.join(args.source_root, "include", "stkdr")
        want = sorted(os.path.relpath(os.path.join(d, f), src_inc)
                      for d, _, fs in os.walk(src_inc) for f in fs if f.endswith(".h"))
        inst_inc = os.path.join(incdir, "stkdr")
        got = sorted(os.path.relpath(os.path.join(d, f), inst_inc)
                     for d, _, fs in os.walk(inst_inc) for f in fs)
        if want != got:
            print(f"FAIL installed headers differ from include/stkdr:\n  missing: {sorted(set(want) - set(got))}"
                  f"\n  extra:   {sorted(set(got) - set(want))}")
            failures += 1

        env = dict(os.environ)
        env.pop("PKG_CONFIG_SYSROOT_DIR", None)
        env["PKG_CONFIG_PATH"] = pcdir
        r = run([args.pkg_config, f"--define-variable=prefix={root}", "--cflags", "--libs", "stkdr"], env=env)
        if r.returncode != 0:
            print("FAIL pkg-config --cflags --libs stkdr failed")
            return 1
        flags = shlex.split(r.stdout)
        # PKG_CONFIG_PATH comes first, so a stkdr.pc installed on this machine cannot win; the flags
        # must point into the destdir, i.e. the .pc file is relative to ${prefix}.
        for want_flag in ("-I" + incdir, "-L" + libdir):
            if want_flag not in flags:
                print(f"FAIL pkg-config does not give {want_flag} (is stkdr.pc relative to ${{prefix}}?)")
                failures += 1

        work = os.path.join(tmp, "work")
        os.mkdir(work)
        shutil.copy(example, os.path.join(work, "minimal.c"))
        exe = os.path.join(work, "minimal")
        r = run(shlex.split(args.cc) + ["-Wall", "-Wextra", "-Werror", "minimal.c", "-o", exe] + flags, cwd=work)
        if r.returncode != 0:
            print("FAIL examples/minimal/minimal.c does not build against the installed library")
            return 1

        run_env = dict(os.environ)
        run_env["LD_LIBRARY_PATH"] = libdir
        ldd = shutil.which("ldd")
        if ldd:
            r = run([ldd, exe], env=run_env)
            line = next((l for l in r.stdout.splitlines() if soname in l), "")
            if "=>" not in line or not line.split("=>")[1].strip().startswith(libdir):
                print(f"FAIL the program does not load {soname} from {libdir}: {line.strip() or 'not linked'}")
                failures += 1
        try:
            r = run([exe], env=run_env, cwd=work, timeout=120)
        except subprocess.TimeoutExpired:
            print("FAIL minimal timed out")
            return 1
        if r.returncode != 0:
            print(f"FAIL minimal exited with status {r.returncode}")
            failures += 1

        if failures:
            print(f"{failures} failure(s)")
            return 1
        print("OK: installed library builds, links and runs via pkg-config")
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
