#!/usr/bin/env python3
"""Looks for any trace of a secret in what a boot test's guest left behind.

  leakscan.py VALUES_DIR [--except OTHER_VALUES_DIR] FILE...

VALUES_DIR holds the example's secret values, one file per secret (the test
material made them, so the scan knows what to look for). A PEM value is also
searched as the DER it encodes (a log that printed the parsed key). Every FILE
(console logs, the result disk's text with the report) is searched for each
secret in the forms in which a leak would show:

  raw     every 16-byte window of the value, in the bytes as they are and with
          carriage returns, NULs and colour escapes removed;
  hex     every 8-byte window as hex, in the FILE's hex digits alone (every
          other character removed, case folded): so plain hex, `hexdump -C`,
          `od -tx1`, colon-separated and `\\xNN` forms are all found;
  base64  the value base64-encoded from each of the three byte alignments,
          every 24-character window on a 4-character boundary, in the FILE's
          base64 characters alone (so line-wrapped base64 is found too).

Windows that are structure, not secret, are not searched: PEM armor lines,
and (with --except) every window that also occurs in OTHER_VALUES_DIR, the
values of an unrelated example made the same way (key-type prefixes, ASN.1
headers, armor). Values shorter than a window are searched whole.

Exit 0: nothing found; 1: a trace found (the message names the secret's file
and the form, never the value); 2: a FILE is missing or empty (a missing log
must not pass as clean); 64: usage.
"""
import base64
import os
import re
import sys

RAW, HEX_BYTES, B64_CHARS = 16, 8, 24
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
NOT_HEX = re.compile(rb"[^0-9a-f]")
NOT_B64 = re.compile(rb"[^A-Za-z0-9+/]")
PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----\s*(.*?)-----END [A-Z0-9 ]+-----", re.S)


def forms_of(value):
    """The byte strings a secret value stands for: itself (armor lines
    dropped), and the DER inside each PEM block."""
    out = [b"\n".join(l for l in value.split(b"\n") if not l.startswith(b"-----"))]
    for body in PEM.findall(value):
        try:
            out.append(base64.b64decode(b"".join(body.split()), validate=True))
        except ValueError:
            pass
    return [v for v in out if v]


def windows(value, n):
    if len(value) <= n:
        yield value
        return
    for i in range(len(value) - n + 1):
        yield value[i:i + n]


def needles(value):
    """(form, bytes) pairs: what a leak of VALUE could look like."""
    for v in forms_of(value):
        for w in windows(v, RAW):
            yield "raw", w
        for w in windows(v, HEX_BYTES):
            yield "hex", w.hex().encode()
        for shift in range(3):
            usable = base64.b64encode(v[shift:]).rstrip(b"=")
            usable = usable[:len(usable) - len(usable) % 4] if len(usable) > B64_CHARS else usable
            if len(usable) < 16:
                continue
            for i in range(0, max(1, len(usable) - B64_CHARS + 1), 4):
                yield "base64", usable[i:i + B64_CHARS]


def views(data):
    """The views of a file each form is searched in."""
    cleaned = ESCAPES.sub(b"", data.replace(b"\r", b"").replace(b"\0", b""))
    return {
        "raw": (data, cleaned),
        "hex": (NOT_HEX.sub(b"", cleaned.lower()),),
        "base64": (NOT_B64.sub(b"", cleaned),),
    }


def read_values(d):
    out = {}
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if os.path.isfile(path):
            value = open(path, "rb").read()
            if value:
                out[name] = value
    return out


def main(argv):
    args = argv[1:]
    if len(args) < 2:
        print("usage: leakscan.py VALUES_DIR [--except OTHER_VALUES_DIR] FILE...", file=sys.stderr)
        return 64
    values_dir, args = args[0], args[1:]
    structure = set()
    if args[:1] == ["--except"]:
        if len(args) < 3:
            print("usage: leakscan.py VALUES_DIR [--except OTHER_VALUES_DIR] FILE...", file=sys.stderr)
            return 64
        for other in read_values(args[1]).values():
            structure.update(needles(other))
        args = args[2:]
    secrets = read_values(values_dir)
    if not secrets:
        print(f"leakscan: no secret values in {values_dir}", file=sys.stderr)
        return 2
    haystacks = {}
    for f in args:
        if not os.path.isfile(f) or os.path.getsize(f) == 0:
            print(f"leakscan: {f} is missing or empty (nothing to scan is not clean)", file=sys.stderr)
            return 2
        haystacks[f] = views(open(f, "rb").read())
    found = 0
    for name, value in secrets.items():
        reported = set()
        for form, needle in needles(value):
            if (form, needle) in structure:
                continue
            for f, view in haystacks.items():
                if (f, form) not in reported and any(needle in h for h in view[form]):
                    print(f"leakscan: secret {name} found in {f} ({form}, a {len(needle)}-character window)")
                    reported.add((f, form))
                    found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
