#!/usr/bin/env python3
"""Each public header compiles on its own (libgit2 tests/headertest, libxkbcommon C++ header test).

For every include/stkdr/**/*.h, a one-line translation unit `#include <stkdr/X.h>` (twice, to
exercise the include guard) is compiled
  - as C99:    <cc>  -std=c99   -Wall -Wextra -pedantic -Werror -Wstrict-prototypes
  - as C++11:  <cxx> -std=c++11 -Wall -Wextra -pedantic -Werror
with only include/ on the include path (no -D flags). stkdr/experimental.h is compiled with
-DSTKDR_EXPERIMENTAL as well. A header may include only <stddef.h> and <stdint.h> from the system
and other stkdr headers (STYLE.md rule 3).

Usage: headers.py --source-root DIR --cc "CC ARGS" [--cxx CXX]
Exit status: 0 all good, 1 a failure.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-Wstrict-prototypes"]
CXX_FLAGS = ["-std=c++11", "-Wall", "-Wextra", "-pedantic", "-Werror"]
ALLOWED_SYSTEM = {"stddef.h", "stdint.h"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cxx")
    args = ap.parse_args()

    include_root = os.path.join(args.source_root, "include")
    stkdr_dir = os.path.join(include_root, "stkdr")
    headers = []
    for root, _dirs, files in os.walk(stkdr_dir):
        headers += [os.path.relpath(os.path.join(root, f), include_root) for f in files if f.endswith(".h")]
    headers.sort()
    if not headers:
        print(f"no headers under {stkdr_dir}")
        return 1

    compilers = [("C99", shlex.split(args.cc), C_FLAGS, ".c")]
    if args.cxx:
        compilers.append(("C++11", shlex.split(args.cxx), CXX_FLAGS, ".cpp"))
    else:
        print("FAIL no C++ compiler found (install g++): headers must compile as C++")

    failures = 0 if args.cxx else 1
    with tempfile.TemporaryDirectory(prefix="stkdr-headertest-") as tmp:
        for hdr in headers:
            with open(os.path.join(include_root, hdr), encoding="utf-8") as fh:
                text = fh.read()
            for inc in re.findall(r'^\s*#\s*include\s*<([^>]+)>', text, flags=re.M):
                if inc not in ALLOWED_SYSTEM and not inc.startswith("stkdr/"):
                    print(f"FAIL {hdr}: includes <{inc}>; public headers include only <stddef.h>, <stdint.h> "
                          "and stkdr headers")
                    failures += 1
            defines = [[]]
            if os.path.basename(hdr) == "experimental.h":
                defines.append(["-DSTKDR_EXPERIMENTAL"])
            for lang, cmd, flags, ext in compilers:
                for extra in defines:
                    src = os.path.join(tmp, "t" + ext)
                    with open(src, "w", encoding="utf-8") as fh:
                        fh.write(f"#include <{hdr}>\n#include <{hdr}>\n")
                        # a translation unit must not be empty in ISO C
                        fh.write("typedef int stkdr_headertest_nonempty;\n")
                    argv = cmd + flags + extra + ["-I", include_root, "-c", src, "-o", os.path.join(tmp, "t.o")]
                    r = subprocess.run(argv, capture_output=True, text=True)
                    label = f"{lang}{' ' + ' '.join(extra) if extra else ''}"
                    if r.returncode != 0:
                        failures += 1
                        print(f"FAIL {hdr} as {label}:\n  $ {shlex.join(argv)}\n{r.stdout}{r.stderr}")
                    else:
                        print(f"ok   {hdr} as {label}")
    if failures:
        print(f"{failures} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
