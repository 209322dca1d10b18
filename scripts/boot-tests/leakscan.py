#!/usr/bin/env python3
"""Looks for any trace of a secret in what a boot test's guest left behind.

  leakscan.py VALUES_DIR FILE...

VALUES_DIR holds the example's secret values, one file per secret (the test
material made them, so the scan knows what to look for). Every FILE (console
logs, the report, the result disk's text) is searched for each secret in the
forms in which a leak would show:

  raw     every 16-byte window of the value (a PEM key's base64 lines are
          in here too: each line is text of the value), with the console's
          carriage returns and colour escapes removed, so a line cut by the
          terminal still matches within a line;
  hex     every 16-byte window as lower- or upper-case hex;
  base64  the whole value base64-encoded from each of the three byte
          alignments, every 24-character window on a 4-character boundary
          (so a secret printed as base64 from any offset is found).

Values shorter than 16 bytes are searched whole. Exit 0: nothing found; 1: a
trace found (the message names the secret's file and the form, never the
value); 2: a FILE is missing or empty (a missing log must not pass as clean).
"""
import base64
import os
import re
import sys

WINDOW = 16
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def windows(value):
    if len(value) <= WINDOW:
        yield value
        return
    for i in range(len(value) - WINDOW + 1):
        yield value[i:i + WINDOW]


def needles(value):
    """(form, bytes) pairs; the forms a leak of VALUE could take."""
    for w in windows(value):
        yield "raw", w
        yield "hex", w.hex().encode()
        yield "hex", w.hex().upper().encode()
    for shift in range(3):
        enc = base64.b64encode(value[shift:])
        # the last 4 characters may carry padding that depends on the length
        usable = enc.rstrip(b"=")
        if len(usable) < 24:
            if len(usable) >= 16:
                yield "base64", usable[:len(usable) - len(usable) % 4]
            continue
        for i in range(0, len(usable) - 24 + 1, 4):
            yield "base64", usable[i:i + 24]


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 64
    values_dir, files = argv[1], argv[2:]
    secrets = {}
    for name in sorted(os.listdir(values_dir)):
        path = os.path.join(values_dir, name)
        if os.path.isfile(path):
            value = open(path, "rb").read()
            if value:
                secrets[name] = value
    if not secrets:
        print(f"leakscan: no secret values in {values_dir}", file=sys.stderr)
        return 2
    haystacks = {}
    for f in files:
        if not os.path.isfile(f) or os.path.getsize(f) == 0:
            print(f"leakscan: {f} is missing or empty (nothing to scan is not clean)", file=sys.stderr)
            return 2
        data = open(f, "rb").read()
        # As the bytes are, and as a reader sees them: no NULs (the result
        # disk), no carriage returns, no colour escapes.
        cleaned = ESCAPES.sub(b"", data.replace(b"\r", b"").replace(b"\0", b""))
        haystacks[f] = (data, cleaned)
    found = 0
    for name, value in secrets.items():
        # A PEM value also as its lines without line breaks (a value that a
        # log printed on one line).
        forms = [value]
        if b"\n" in value:
            forms.append(value.replace(b"\n", b""))
        reported = set()
        for v in forms:
            for form, needle in needles(v):
                for f, (data, cleaned) in haystacks.items():
                    if (f, form) in reported:
                        continue
                    if needle in data or needle in cleaned:
                        print(f"leakscan: secret {name} found in {f} ({form}, a {len(needle)}-byte window)")
                        reported.add((f, form))
                        found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
