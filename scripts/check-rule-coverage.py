#!/usr/bin/env python3
"""Fails when a rule id of docs/policy.md has no test that asserts it.

Usage: scripts/check-rule-coverage.py [--verbose] [--root DIR]

DIR (default: this checkout) holds docs/policy.md and Tests/.

The rules are the first column of the tables in the section "Rules reported
by `se-secretd check`" of docs/policy.md (with its subsection for `unlock` and
`install`). A rule counts as asserted when a string literal that is the id
("untrusted") or holds it in brackets ("... [root-unbound]") is an argument of
an assertion in a Swift file under Tests/: #expect(...), #require(...), or a
call of one of the assertion helpers below, each of which must be defined
under Tests/ with an #expect or #require in its body. Comments do not count
(they are dropped before looking), nor does a literal anywhere else (a
fixture, a message, a variable used later).

Rules that no test can reach on any machine of this project are listed in
KNOWN_GAPS with the reason; they are printed on every run, and listing one
that is asserted after all is an error (the list stays true).

Exit status: 0 every rule is asserted, 1 otherwise (one line per missing rule).
"""

import importlib.util
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("evidence", os.path.join(ROOT, "scripts", "check-test-evidence.py"))
evidence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evidence)

# Helpers that assert the rule they are given (checked to contain #expect/#require).
ASSERTION_HELPERS = ["only", "expectRefused", "expectProblems"]

KNOWN_GAPS = {
    "luks-table-unverified": "needs a real dm-crypt activation (root and /dev/mapper/control) with the kernel's table "
                             "then unreadable; LUKSVolume.activate has no seam, and no machine of this project has "
                             "device-mapper",
}


def rule_ids(doc_text):
    """Rule ids of the tables under '## Rules reported by `se-secretd check`', up to the next '## '."""
    start = doc_text.index("## Rules reported by `se-secretd check`")
    end = doc_text.find("\n## ", start + 1)
    section = doc_text[start:end if end > 0 else len(doc_text)]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, re.M)


def helper_problems(sources):
    problems = []
    for helper in ASSERTION_HELPERS:
        bodies = []
        for src in sources:
            for m in re.finditer(r"\bfunc\s+%s\s*\(" % re.escape(helper), src.code):
                brace = src.code.find("{", src.matching(m.end() - 1))
                bodies.append(src.code[brace:src.matching(brace)])
        if not bodies:
            problems.append("assertion helper %s is not defined under Tests/" % helper)
        elif not all(re.search(r"#expect|#require", b) for b in bodies):
            problems.append("assertion helper %s has a definition that asserts nothing" % helper)
    return problems


def asserted(sources, ids):
    found = {}
    for src in sources:
        for name, at, args in src.calls(["#expect", "#require"] + ASSERTION_HELPERS):
            for s in src.strings_in(args):
                for rule in ids:
                    if s == rule or "[%s]" % rule in s:
                        found.setdefault(rule, "%s:%d" % (src.path, src.line_of(at)))
    return found


def main(argv):
    verbose = "--verbose" in argv
    root = argv[argv.index("--root") + 1] if "--root" in argv else ROOT
    with open(os.path.join(root, "docs", "policy.md"), encoding="utf-8") as f:
        ids = rule_ids(f.read())
    sources = []
    for path in evidence.swift_files(os.path.join(root, "Tests")):
        with open(path, encoding="utf-8") as f:
            sources.append(evidence.Source(f.read(), path))
    problems = helper_problems(sources)
    if len(ids) < 40:
        problems.append("only %d rule ids read from docs/policy.md; has the rule table moved?" % len(ids))
    found = asserted(sources, ids)
    for rule in ids:
        if rule in found:
            if rule in KNOWN_GAPS:
                problems.append("%s is listed in KNOWN_GAPS but asserted at %s: remove it from the list" % (rule, found[rule]))
            elif verbose:
                print("%-26s %s" % (rule, found[rule]))
        elif rule in KNOWN_GAPS:
            print("known gap: %s: %s" % (rule, KNOWN_GAPS[rule]))
        else:
            problems.append("%s: no test asserts it (docs/policy.md names it)" % rule)
    for gap in KNOWN_GAPS:
        if gap not in ids:
            problems.append("%s is listed in KNOWN_GAPS but not in docs/policy.md" % gap)
    for p in problems:
        print(p)
    covered = len([r for r in ids if r in found])
    print("check-rule-coverage: %d of %d rules asserted, %d known gap(s), %d problem(s)"
          % (covered, len(ids), len([g for g in KNOWN_GAPS if g in ids and g not in found]), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
