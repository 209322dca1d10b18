#!/usr/bin/env python3
"""Checks that schema/policy.schema.json accepts exactly the valid policies.

Usage: scripts/check-policy-schema.py [--schema FILE] [--verbose] [DIR]

DIR (default: Tests/SecretPolicyTests/Fixtures/policies) holds policy
documents named valid-*.json and invalid-*.json. The same corpus is parsed by
the Swift policy parser in Tests/SecretPolicyTests/PolicyFixtureTests.swift,
so schema and parser are held to the same documents.

Every valid-* document must be accepted by the schema and every invalid-*
document rejected. One line per disagreement; the last line is
"N passed, N failed". Exit status: 0 when all agree, 1 on any disagreement,
2 when the check cannot run (no jsonschema package, unreadable schema or
directory).

JSON Schema patterns are ECMA-262 regular expressions, where "$" matches only
at the very end of the string. Python's "$" also matches before a final
newline, so patterns are translated ("$" outside a character class becomes
"\\Z") to keep editors, other validators and this check in agreement.
"""

import argparse
import functools
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMA = os.path.join(ROOT, "schema", "policy.schema.json")
DEFAULT_DIR = os.path.join(ROOT, "Tests", "SecretPolicyTests", "Fixtures", "policies")


def load_jsonschema():
    """Imports jsonschema (draft 2020-12 support), installing it with pip if missing."""
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        print("check-policy-schema: the Python package 'jsonschema' is missing; installing it with pip ...",
              file=sys.stderr)
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
        for extra in ([], ["--user"]):
            cmd = [sys.executable, "-m", "pip", "install", "--quiet", *extra, "jsonschema>=4.0"]
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env).returncode == 0:
                break
        import importlib
        import site
        importlib.invalidate_caches()
        user_site = site.getusersitepackages()
        if user_site not in sys.path:
            sys.path.append(user_site)
    try:
        import jsonschema
        from jsonschema import Draft202012Validator  # noqa: F401
        return jsonschema
    except ImportError:
        print("check-policy-schema: cannot import the Python package 'jsonschema' (version 4 or later, for JSON\n"
              "Schema draft 2020-12), even after trying to install it with pip. Install it, for example with\n"
              "  python3 -m pip install 'jsonschema>=4'      or, on Debian 12,   apt-get install python3-jsonschema\n"
              "and run this script again.", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)


def ecma_to_python(pattern):
    """Translates an ECMA-262 pattern to Python: '$' outside a class becomes '\\Z'."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=None)
def compiled(pattern):
    return re.compile(ecma_to_python(pattern))


def make_validator_class(jsonschema):
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not compiled(patrn).search(instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    return jsonschema.validators.extend(Draft202012Validator, {"pattern": pattern})


def describe(error):
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    best = error
    # For anyOf/oneOf/if-then failures, the deepest sub-error usually names the real problem.
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path)
    message = best.message if len(best.message) <= 160 else best.message[:157] + "..."
    return f"{path}: {message}"


def main():
    ap = argparse.ArgumentParser(description="Check that the policy schema accepts exactly the valid-*.json fixtures.")
    ap.add_argument("directory", nargs="?", default=DEFAULT_DIR, help="directory of valid-*.json / invalid-*.json")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA, help="the schema (default: schema/policy.schema.json)")
    ap.add_argument("--verbose", "-v", action="store_true", help="also print why each invalid document is rejected")
    args = ap.parse_args()

    jsonschema = load_jsonschema()
    try:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
        names = sorted(os.listdir(args.directory))
    except (OSError, ValueError) as e:
        print(f"check-policy-schema: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2

    Validator = make_validator_class(jsonschema)
    try:
        Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print(f"FAIL {args.schema} is not a valid draft 2020-12 schema: {e.message}")
        print("0 passed, 1 failed")
        return 1
    validator = Validator(schema)

    passed = failed = 0
    for name in names:
        if not name.endswith(".json"):
            continue
        expect_valid = name.startswith("valid-")
        if not expect_valid and not name.startswith("invalid-"):
            print(f"FAIL {name}: fixture names start with valid- or invalid-")
            failed += 1
            continue
        try:
            with open(os.path.join(args.directory, name), encoding="utf-8") as f:
                document = json.load(f)
            errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
            reason = describe(errors[0]) if errors else None
        except (OSError, ValueError) as e:
            errors, reason = [e], f"not JSON: {e}"
        accepted = not errors
        if accepted == expect_valid:
            passed += 1
            if args.verbose:
                print(f"ok   {name}" + (f"  (rejected: {reason})" if reason else ""))
        else:
            failed += 1
            if expect_valid:
                print(f"FAIL {name}: the schema rejects it: {reason}")
            else:
                print(f"FAIL {name}: the schema accepts it")

    if passed + failed == 0:
        print(f"FAIL no valid-*.json or invalid-*.json in {args.directory}")
        failed = 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
