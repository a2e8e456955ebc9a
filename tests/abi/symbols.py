#!/usr/bin/env python3
"""Symbol hygiene of libstkdr (libxkbcommon symbols-leak-test, curl tests 1119/1167 style).

Checks, each reported separately:
  headers   every STKDR_API declaration in include/stkdr/**/*.h is a function named stkdr_<...>
            (no `__`), and carries a Doxygen comment (`/** ... */` or `///`) right before it;
  map       src/libstkdr.map is well formed: nodes STKDR_<major>.<minor> (+ STKDR_EXPERIMENTAL),
            the first one is STKDR_1.0 and ends with `local: *;`, later nodes inherit the previous
            one, no symbol is listed twice, every symbol has the stkdr_ prefix;
  map<->hdr the STKDR_API set equals the map's set; functions of stkdr/experimental.h, and only
            those, are in STKDR_EXPERIMENTAL;
  library   `nm -D --defined-only` of the built libstkdr.so exports exactly the map's set plus the
            version-node symbols, each under the node the map gives it; nothing else leaks; the
            SONAME is libstkdr.so.<major>;
  structs   every `stkdr_<x>_init(stkdr_<x> *, unsigned int version)` function has
            STKDR_<X>_VERSION and STKDR_<X>_INIT macros and is covered by tests/abi/structinit.c,
            and every STKDR_<X>_OPTIONS_INIT macro has its stkdr_<x>_options_init() function.

Usage: symbols.py --source-root DIR [--lib libstkdr.so] [--nm nm] [--readelf readelf]
Exit status: 0 all good, 1 a problem (all problems are listed), 77 skipped.
"""

import argparse
import os
import re
import subprocess
import sys

EXPERIMENTAL_NODE = "STKDR_EXPERIMENTAL"
EXPERIMENTAL_HEADER = "experimental.h"
NAME_RE = re.compile(r"^stkdr_[a-z0-9]+(?:_[a-z0-9]+)*$")
NODE_RE = re.compile(r"^STKDR_(\d+)\.(\d+)$")

problems = []


def problem(section, msg):
    problems.append((section, msg))


def blank_comments_and_strings(text):
    """Returns `text` with comments, string/char literals and preprocessor lines replaced by spaces
    (newlines kept), so offsets and line numbers still match the original."""
    out = list(text)
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c in " \t":
            i += 1
            continue
        if at_line_start and c == "#":
            # preprocessor directive, with backslash continuations (comments inside are blanked too)
            j = i
            while j < n:
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                j += 1
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        at_line_start = False
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                out[k] = " "
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            for k in range(i, min(j + 1, n)):
                if out[k] != "\n":
                    out[k] = " "
            i = j + 1
            continue
        if c == "\n":
            at_line_start = True
        i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def doc_comment_before(text, pos):
    """True if the declaration starting at `pos` is immediately preceded by a Doxygen comment."""
    before = text[:pos].rstrip()
    if before.endswith("*/"):
        start = before.rfind("/*")
        if start < 0:
            return False
        opener = before[start:start + 4]
        # `/**<` and `/*!<` document the previous member, not what follows
        return (opener.startswith("/**") or opener.startswith("/*!")) and not opener[3:4] == "<"
    last = before.rsplit("\n", 1)[-1].strip()
    return last.startswith("///") or last.startswith("//!")


def declaration_start(clean, api_pos):
    """Start of the declaration containing the STKDR_API at `api_pos` (after the previous ; } { or
    the start of the file), so that `STKDR_DEPRECATED(...) STKDR_API` is one declaration."""
    clean = re.sub(r"\bSTKDR_(?:BEGIN|END)_DECL\b", lambda m: ";" * len(m.group(0)), clean)
    i = api_pos
    while i > 0 and clean[i - 1] not in ";{}":
        i -= 1
    while i < api_pos and clean[i].isspace():
        i += 1
    return i


def scan_headers(include_dir):
    """Returns {symbol: (relpath, line)} of STKDR_API functions, plus the list of header files."""
    declared = {}
    headers = []
    for root, _dirs, files in os.walk(include_dir):
        for f in sorted(files):
            if f.endswith(".h"):
                headers.append(os.path.join(root, f))
    headers.sort()
    if not headers:
        problem("headers", f"no headers found under {include_dir}")
    for path in headers:
        rel = os.path.relpath(path, os.path.dirname(include_dir))
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        clean = blank_comments_and_strings(text)
        for m in re.finditer(r"\bSTKDR_API\b", clean):
            ln = line_of(text, m.start())
            rest = clean[m.end():]
            end = rest.find(";")
            body = rest[:end if end >= 0 else len(rest)]
            fm = re.search(r"\b([A-Za-z_]\w*)\s*\(", body)
            if not fm or "{" in body[:fm.start()]:
                problem("headers", f"{rel}:{ln}: STKDR_API on something that is not a function declaration")
                continue
            name = fm.group(1)
            if end < 0 or "{" in body:
                problem("headers", f"{rel}:{ln}: {name}: a public header must declare, not define, functions")
            if not NAME_RE.match(name) or "__" in name:
                problem("headers", f"{rel}:{ln}: {name}: exported names are stkdr_<module>_<verb> "
                        "(lower case, no `__`, which marks semi-private names)")
            if name in declared:
                problem("headers", f"{rel}:{ln}: {name} declared STKDR_API twice (also {declared[name][0]}:{declared[name][1]})")
                continue
            declared[name] = (rel, ln)
            line_start = text.rfind("\n", 0, m.start()) + 1
            start = declaration_start(clean, m.start())
            if not (doc_comment_before(text, line_start) or doc_comment_before(text, start)):
                problem("headers", f"{rel}:{ln}: {name} has no Doxygen comment (/** ... */) right before it")
    return declared, headers


def parse_map(map_path):
    """Returns (nodes, symbols) where nodes is a list of (name, parent) in file order and symbols
    maps each global symbol to its node."""
    with open(map_path, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    nodes, symbols = [], {}
    pos = 0
    node_re = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([A-Za-z_][\w.]*)?\s*;", re.S)
    has_local_star = False
    while True:
        rest = text[pos:]
        if not rest.strip():
            break
        m = node_re.match(text, pos)
        if not m:
            problem("map", f"{map_path}: cannot parse near: {rest.strip()[:60]!r}")
            break
        name, body, parent = m.group(1), m.group(2), m.group(3)
        nodes.append((name, parent))
        section = None
        for item in body.split(";"):
            item = item.strip()
            if not item:
                continue
            sm = re.match(r"^(global|local)\s*:\s*(.*)$", item, re.S)
            if sm:
                section, item = sm.group(1), sm.group(2).strip()
                if not item:
                    continue
            if section == "local":
                if item == "*":
                    has_local_star = True
                    if len(nodes) != 1:
                        problem("map", f"node {name}: `local: *;` belongs in the first node only")
                else:
                    problem("map", f"node {name}: unexpected local entry {item!r}")
                continue
            if section != "global":
                problem("map", f"node {name}: {item!r} is outside a global: section")
                continue
            if any(ch in item for ch in "*?[") or not re.match(r"^\w+$", item):
                problem("map", f"node {name}: {item!r}: list symbols one by one, no patterns")
                continue
            if not item.startswith("stkdr_"):
                problem("map", f"node {name}: {item} lacks the stkdr_ prefix")
            if item in symbols:
                problem("map", f"{item} is listed in both {symbols[item]} and {name}")
                continue
            symbols[item] = name
        pos = m.end()
    if not nodes:
        problem("map", f"{map_path}: no version nodes")
        return nodes, symbols
    if nodes[0][0] != "STKDR_1.0" or nodes[0][1] is not None:
        problem("map", f"the first node must be `STKDR_1.0 {{ ... }};` (found {nodes[0][0]})")
    if not has_local_star:
        problem("map", "the first node must end with `local: *;` so nothing else is exported")
    previous = None
    seen = set()
    for name, parent in nodes:
        if name in seen:
            problem("map", f"node {name} appears twice")
        seen.add(name)
        if name == EXPERIMENTAL_NODE:
            continue
        nm = NODE_RE.match(name)
        if not nm:
            problem("map", f"node {name}: release nodes are named STKDR_<major>.<minor>")
        elif previous is not None:
            if parent != previous:
                problem("map", f"node {name} must inherit the previous release node ({name} {{...}} {previous};)")
            pm = NODE_RE.match(previous)
            if pm and (int(nm.group(1)), int(nm.group(2))) <= (int(pm.group(1)), int(pm.group(2))):
                problem("map", f"node {name} comes after {previous}: release nodes go in increasing order")
        previous = name
    return nodes, symbols


def check_map_vs_headers(declared, mapped, include_dir):
    for name in sorted(set(declared) - set(mapped)):
        rel, ln = declared[name]
        problem("map<->hdr", f"{name} ({rel}:{ln}) is declared STKDR_API but missing from src/libstkdr.map")
    for name in sorted(set(mapped) - set(declared)):
        problem("map<->hdr", f"{name} is in src/libstkdr.map ({mapped[name]}) but no public header declares it STKDR_API")
    for name in sorted(set(declared) & set(mapped)):
        rel = declared[name][0]
        in_exp_header = os.path.basename(rel) == EXPERIMENTAL_HEADER
        in_exp_node = mapped[name] == EXPERIMENTAL_NODE
        if in_exp_header and not in_exp_node:
            problem("map<->hdr", f"{name} is declared in {rel} but exported from {mapped[name]}, not {EXPERIMENTAL_NODE}")
        if in_exp_node and not in_exp_header:
            problem("map<->hdr", f"{name} is in {EXPERIMENTAL_NODE} but declared in {rel}, not stkdr/{EXPERIMENTAL_HEADER}")


def check_library(lib, nm, readelf, nodes, mapped, major):
    try:
        out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        problem("library", f"cannot run {nm} -D --defined-only {lib}: {e}")
        return
    node_names = {n for n, _ in nodes}
    exported = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        sym = parts[-1]
        base, _, version = sym.partition("@")
        version = version.lstrip("@")
        exported.setdefault(base, set()).add(version)
    for base in sorted(exported):
        versions = exported[base]
        if base in node_names:
            continue  # the version-node symbols (A STKDR_1.0)
        if not base.startswith("stkdr_"):
            problem("library", f"{base} is exported without the stkdr_ prefix (a leak: make it static or hidden)")
            continue
        if base not in mapped:
            problem("library", f"{base} is exported but not in src/libstkdr.map")
            continue
        want = mapped[base]
        if any(v and v != want for v in versions) or versions == {""}:
            problem("library", f"{base} is exported as {sorted(versions)}, the map puts it in {want}")
    for name in sorted(set(mapped) - set(exported)):
        problem("library", f"{name} is in src/libstkdr.map but the library does not export it (not defined "
                "in src/, or defined static)")
    if readelf:
        try:
            dyn = subprocess.run([readelf, "-d", lib], check=True, capture_output=True, text=True).stdout
            m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
            want = f"libstkdr.so.{major}"
            if not m:
                problem("library", f"{lib} has no SONAME")
            elif m.group(1) != want:
                problem("library", f"SONAME is {m.group(1)}, expected {want}")
        except (OSError, subprocess.CalledProcessError) as e:
            problem("library", f"cannot run {readelf} -d {lib}: {e}")
    return exported


def check_structs(headers, declared, source_root):
    """Versioned structs with an init function must have VERSION/INIT macros and a structinit test;
    every *_OPTIONS_INIT macro needs its init function (bindings cannot use macros)."""
    macros = set()
    init_funcs = {}
    for path in headers:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        macros.update(re.findall(r"^\s*#\s*define\s+(STKDR_\w+)", text, flags=re.M))
        clean = blank_comments_and_strings(text)
        for m in re.finditer(r"\bSTKDR_API\s+int\s+(stkdr_(\w+)_init)\s*\(\s*(?:struct\s+)?(stkdr_\w+)\s*\*\s*\w*\s*,"
                             r"\s*unsigned\s+int\s+\w*\s*\)", clean):
            func, stem, typ = m.group(1), m.group(2), m.group(3)
            if typ == "stkdr_" + stem:
                init_funcs[func] = stem
    structinit = os.path.join(source_root, "tests", "abi", "structinit.c")
    try:
        with open(structinit, encoding="utf-8") as fh:
            structinit_text = fh.read()
    except OSError:
        structinit_text = ""
        problem("structs", f"{structinit} is missing")
    for func, stem in sorted(init_funcs.items()):
        up = stem.upper()
        for macro in (f"STKDR_{up}_VERSION", f"STKDR_{up}_INIT"):
            if macro not in macros:
                problem("structs", f"{func}() exists but {macro} is not defined")
        if not re.search(r"\b" + re.escape(func) + r"\b", structinit_text):
            problem("structs", f"{func}() is not checked by tests/abi/structinit.c (add a STRUCTINIT line)")
    for macro in sorted(macros):
        m = re.match(r"^STKDR_(\w+_OPTIONS)_INIT$", macro)
        if m:
            func = f"stkdr_{m.group(1).lower()}_init"
            if func not in init_funcs:
                problem("structs", f"{macro} has no {func}(stkdr_{m.group(1).lower()} *opts, unsigned int version) "
                        "(bindings cannot use macros: STYLE.md rule 12)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--lib")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("--major", default="1")
    args = ap.parse_args()

    include_dir = os.path.join(args.source_root, "include", "stkdr")
    map_path = os.path.join(args.source_root, "src", "libstkdr.map")

    declared, headers = scan_headers(include_dir)
    nodes, mapped = parse_map(map_path)
    check_map_vs_headers(declared, mapped, include_dir)
    if args.lib:
        check_library(args.lib, args.nm, args.readelf, nodes, mapped, args.major)
    check_structs(headers, declared, args.source_root)

    print(f"{len(declared)} STKDR_API functions in {len(headers)} headers; {len(mapped)} symbols in "
          f"{len(nodes)} map node(s)" + (f"; checked {args.lib}" if args.lib else ""))
    if problems:
        sections = []
        for section, msg in problems:
            if section not in sections:
                sections.append(section)
        for section in sections:
            print(f"\n[{section}]")
            for s, msg in problems:
                if s == section:
                    print(f"  FAIL {msg}")
        print(f"\n{len(problems)} problem(s). Every public function is declared STKDR_API with a /** */ "
              "comment in include/stkdr/, listed in src/libstkdr.map in the node of the release that "
              "adds it, and defined in src/ (see docs/abi.md).")
        return 1
    print("OK: headers, map and exported symbols agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
