#!/usr/bin/env python3
"""Makes a broken twin of a boot's evidence: one thing changed (checks.sh).

  twin.py CONSOLE RC RESULT VALUES INITIAL-SIM MUTATION [RESULTS-DEVICE]

CONSOLE, RC and RESULT are the twin's copies of the console text, QEMU's
exit code and the result disk, changed in place; RESULTS-DEVICE the copy of
the product's results device (the disk se-secretd wrote its record to). VALUES holds the secret
values (for the leak twins), INITIAL-SIM the simulated ultravisor's state
before the boot. MUTATION is KIND or KIND:ARG:

  drop:REGEX        console lines matching REGEX removed
  add:TEXT          TEXT appended to the console as a line
  late:REGEX        console lines matching REGEX moved to the end
  subst:REGEX => R  on console lines, REGEX replaced by R
  empty             the console empty
  rc:N              QEMU's exit code N
  leak:FORM         a 16-byte window of a secret appended to the console as a
                    log line would show it: raw, hex, hexdump (hexdump -C
                    style: spaced pairs) or base64
  leakresult:FORM   the same window put into the result disk's report
  result:KEY=VALUE  the result disk's KEY set to VALUE (KEY= removes it)
  resultsub:KEY:REGEX => R   in the result disk's KEY, REGEX replaced by R
  report:PYTHON     the report (r) changed by a Python statement
  simstate:WHAT     the ultravisor's state on the result disk: initial (as
                    before the boot), unlock, drop-tag / dup-tag (an accepted
                    request's tag removed / replaced by another's),
                    drop-secret (the store's last secret removed)
  resultsdev:WHAT   the results device's record (docs/results.md), re-encoded
                    with every digest and checksum right, as a host that
                    forges one would: zero (the device blank: nothing
                    written), flip-measurement (one bit of the attestation
                    response's measurement), report:PYTHON / facts:PYTHON (the
                    record's report or facts document, r, changed by a Python
                    statement), leak:FORM (a secret's window in its report)
  consolerec:WHAT   the console's SESD-RESULT lines replaced by the frame of
                    the results device's record changed by resultsdev:WHAT
                    (framed with every check right)
"""
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile

from simstate import entries


def leak_text(values, form):
    """A window of a secret as FORM: raw needs a text secret (a PEM key)."""
    def text(v):
        return all(32 <= c < 127 or c in (9, 10) for c in v)
    vals = [open(os.path.join(values, f), "rb").read() for f in sorted(os.listdir(values))]
    value = next(v for v in vals if text(v)) if form == "raw" else vals[0]
    window = value[len(value) // 2 - 8:][:16]
    if form == "raw":
        return window.decode("latin-1").replace("\n", " ")
    if form == "hex":
        return window.hex()
    if form == "hexdump":
        return "00000010  " + " ".join("%02x" % b for b in window[:8]) + "  " + " ".join("%02x" % b for b in window[8:])
    if form == "base64":
        return base64.b64encode(value).decode()[8:40]
    raise SystemExit(f"twin.py: unknown leak form {form}")


def console_mutation(path, kind, arg, values):
    lines = open(path, "rb").read().decode("utf-8", "surrogateescape").split("\n")
    if kind == "drop":
        lines = [l for l in lines if not re.search(arg, l)]
    elif kind == "add":
        lines.append(arg)
    elif kind == "late":
        lines = [l for l in lines if not re.search(arg, l)] + [l for l in lines if re.search(arg, l)]
    elif kind == "subst":
        pattern, repl = arg.split(" => ", 1)
        lines = [re.sub(pattern, repl, l) for l in lines]
    elif kind == "empty":
        lines = []
    elif kind == "leak":
        lines.append("some message " + leak_text(values, arg))
    open(path, "wb").write("\n".join(lines).encode("utf-8", "surrogateescape") if lines else b"")


def simstate_files(encoded, what, initial):
    if what == "initial":
        return {f: open(os.path.join(initial, f), "rb").read() for f in sorted(os.listdir(initial)) if f != "sysfs"}
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(encoded))) as tar:
        files = {m.name[2:] if m.name.startswith("./") else m.name: tar.extractfile(m).read()
                 for m in tar.getmembers() if m.isfile()}
    state = json.loads(files["state.json"])
    if what == "unlock":
        state["locked"] = False
    elif what == "drop-tag":
        state["accepted_request_tags"] = state["accepted_request_tags"][:-1]
    elif what == "dup-tag":
        state["accepted_request_tags"][-1] = state["accepted_request_tags"][0]
    elif what == "drop-secret":
        raw = files["secrets.bin"]
        count_at, stored = entries(raw)
        last = stored[-1][0]
        files["secrets.bin"] = raw[:count_at] + (len(stored) - 1).to_bytes(4, "big") + raw[count_at + 4:last]
        state["store_size"] = len(stored) - 1
    else:
        raise SystemExit(f"twin.py: unknown simstate mutation {what}")
    files["state.json"] = json.dumps(state, indent=2).encode()
    return files


# The results record (docs/results.md, "The record"): read and written again
# here, independently of se-secretd's ResultsRecord, so a twin can change a
# payload and keep every digest right.
RECORD_MAGIC = b"SE-SECRETD-RSLT1"
KINDS = {"report": 1, "response": 2, "facts": 3}


def record_entries(raw):
    """[(kind, payload)] of the record at the start of raw."""
    assert raw[:16] == RECORD_MAGIC, "no results record on the device"
    be = lambda b: int.from_bytes(b, "big")
    n, total = be(raw[20:24]), be(raw[24:32])
    assert raw[total - 32:total] == hashlib.sha256(raw[:total - 32]).digest(), "record checksum"
    out = []
    for i in range(n):
        e = raw[32 + 56 * i:32 + 56 * (i + 1)]
        off, size = be(e[8:16]), be(e[16:24])
        out.append((be(e[0:4]), bytearray(raw[off:off + size])))
    return out


def record_bytes(entries):
    head = 32 + 56 * len(entries)
    total = head + sum(len(p) for _, p in entries) + 32
    out = bytearray(RECORD_MAGIC + (1).to_bytes(4, "big") + len(entries).to_bytes(4, "big") + total.to_bytes(8, "big"))
    off = head
    for kind, p in entries:
        out += kind.to_bytes(4, "big") + bytes(4) + off.to_bytes(8, "big") + len(p).to_bytes(8, "big") + hashlib.sha256(p).digest()
        off += len(p)
    for _, p in entries:
        out += p
    return bytes(out + hashlib.sha256(out).digest())


def frame_lines(record):
    """The record as ConsoleFrame writes it (docs/results.md, "On the console")."""
    rid = hashlib.sha256(record).hexdigest()[:16]
    text = base64.b64encode(record).decode()
    chunks = [text[i:i + 64] for i in range(0, len(text), 64)]
    for n, c in enumerate(chunks, 1):
        check = hashlib.sha256(f"{rid} {n}/{len(chunks)} {c}".encode()).hexdigest()[:8]
        yield f"SESD-RESULT {rid} {n}/{len(chunks)} {check} {c}"


def changed_record(device, what, values):
    """The device's record changed by WHAT (None: zero, nothing written)."""
    what, _, arg = what.partition(":")
    if what == "zero":
        return None
    entries = record_entries(open(device, "rb").read())
    payload = {k: p for k, p in entries}
    if what == "flip-measurement":
        resp = payload[KINDS["response"]]
        size, off = int.from_bytes(resp[0x20:0x24], "big"), int.from_bytes(resp[0x24:0x28], "big")
        assert resp[:8] == b"pvattest" and size == 64 and off > 0, "no measurement in the response"
        resp[off + 10] ^= 0x01
    elif what in ("report", "facts", "leak"):
        kind = KINDS["report" if what == "leak" else what]
        r = json.loads(bytes(payload[kind]))
        statement = 'r["leaked"] = leak' if what == "leak" else arg
        exec(statement, {"r": r, "leak": leak_text(values, arg) if what == "leak" else None})
        payload[kind][:] = json.dumps(r, indent=2).encode()
    else:
        raise SystemExit(f"twin.py: unknown resultsdev mutation {what}")
    return record_bytes(entries)


def device_mutation(device, what, values):
    size = os.path.getsize(device)
    record = changed_record(device, what, values)
    with open(device, "r+b") as f:
        f.write(record or bytes(min(size, 1 << 22)))


def console_record_mutation(console, device, what, values):
    record = changed_record(device, what, values)
    lines = open(console, "rb").read().decode("utf-8", "surrogateescape").split("\n")
    lines = [l for l in lines if "SESD-RESULT" not in l] + (list(frame_lines(record)) if record else [])
    open(console, "wb").write("\n".join(lines).encode("utf-8", "surrogateescape"))


def result_mutation(path, kind, arg, values, initial):
    raw = open(path, "rb").read()
    lines = raw.replace(b"\0", b"").decode("utf-8", "surrogateescape").split("\n")

    def edit(key, fn):
        """KEY's line changed by fn (None removes it); added if missing."""
        nonlocal lines
        out, seen = [], False
        for l in lines:
            if l.startswith(key + "="):
                seen = True
                v = fn(l[len(key) + 1:])
                if v is not None:
                    out.append(key + "=" + v)
            else:
                out.append(l)
        if not seen:
            v = fn("")
            if v is not None:
                out.insert(1 if out and out[0] == "SE-SECRETD-RESULT-DISK" else 0, key + "=" + v)
        lines = out

    def change_report(statement):
        def change(v):
            r = json.loads(v)
            exec(statement, {"r": r, "leak": leak_text(values, arg) if kind == "leakresult" else None})
            return json.dumps(r)
        edit("report", change)

    if kind == "result":
        key, value = arg.split("=", 1)
        edit(key, lambda v: value if value else None)
    elif kind == "resultsub":
        key, rest = arg.split(":", 1)
        pattern, repl = rest.split(" => ", 1)
        edit(key, lambda v: re.sub(pattern, repl, v))
    elif kind == "report":
        change_report(arg)
    elif kind == "leakresult":
        change_report('r["actions"][0]["message"] += " " + leak')
    elif kind == "simstate":
        def retar(v):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for name, data in simstate_files(v, arg, initial).items():
                    info = tarfile.TarInfo("./" + name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            return base64.b64encode(buf.getvalue()).decode()
        edit("simstate", retar)
    out = "\n".join(lines).encode("utf-8", "surrogateescape")
    open(path, "wb").write(out + b"\0" * max(0, len(raw) - len(out)))


def main(argv):
    console, rc, result, values, initial, mutation = argv[1:7]
    device = argv[7] if len(argv) > 7 else None
    kind, _, arg = mutation.partition(":")
    if kind in ("drop", "add", "late", "subst", "empty", "leak"):
        console_mutation(console, kind, arg, values)
    elif kind == "rc":
        open(rc, "w").write(arg + "\n")
    elif kind in ("result", "resultsub", "report", "leakresult", "simstate"):
        result_mutation(result, kind, arg, values, initial)
    elif kind in ("resultsdev", "consolerec") and device and os.path.exists(device):
        if kind == "resultsdev":
            device_mutation(device, arg, values)
        else:
            console_record_mutation(console, device, arg, values)
    else:
        print(f"twin.py: unknown mutation {mutation!r}", file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
