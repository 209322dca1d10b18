#!/usr/bin/env python3
"""The host's hands on a boot test's serial console.

QEMU serves the guest's serial console on a Unix socket (and logs it to the
console log itself). This script connects and types, as a host that wants a
shell would:

  hammer  Enter every 0.25 s and "se-secretd list" every 2 s, from the first
          moment until the guest powers off: a shell that is live for even a
          moment (a sulogin prompt, an (initramfs) prompt) would take the
          input and print the store's list on the console. Once the list has
          been printed (the host got its shell), it types "poweroff -f", so
          that the console ends whole and the checks see it all.
  shell   for a boot whose policy allows an emergency shell: waits for the
          shell's prompt, presses Enter, asks the ultravisor to lock the store
          again (it must answer "already locked", rc 0x0102), marks the end
          and powers off.

It never decides a check; run.sh reads the console log afterwards. Exits when
QEMU closes the socket (the guest stopped) or after --timeout seconds.
"""
import argparse
import re
import socket
import time

PROMPTS = re.compile(rb"Press Enter for maintenance|\(initramfs\) |Dropping to debug shell")
# The output of a "se-secretd list" that ran (the typed text itself is echoed).
LISTED = re.compile(rb"Total number of secrets")
# (sync and a pause before poweroff -f, so the shell's output has left the
# emulated UART before the machine stops.)
SHELL_COMMANDS = [
    b'se-secretd lock; echo "SE-SECRETD-BOOTTEST-SHELL: lock exit $?"',
    b"echo SE-SECRETD-BOOTTEST-SHELL: done $((6 * 7)); sync; sleep 2; poweroff -f",
]


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.settimeout(0.25)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--mode", choices=["hammer", "shell"], required=True)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout
    s = connect(a.socket, time.monotonic() + 20)
    if s is None:
        return 1
    seen = b""

    def pump(seconds):
        """Reads (and keeps) the console for a while instead of sleeping."""
        nonlocal seen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return False
            seen = (seen + data)[-65536:]
        return True

    last_enter = last_list = 0.0
    shell_state = 0  # 0: waiting for a prompt, 1: Enter pressed, 2: commands sent
    prompt_at = 0.0
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
            if not data:
                break  # the guest stopped
            seen = (seen + data)[-65536:]
        except socket.timeout:
            pass
        except OSError:
            break
        now = time.monotonic()
        try:
            if a.mode == "hammer":
                if now - last_enter >= 0.25:
                    s.sendall(b"\r")
                    last_enter = now
                if now - last_list >= 2:
                    if LISTED.search(seen):
                        s.sendall(b"sync; poweroff -f\r")
                    else:
                        s.sendall(b"se-secretd list\r")
                    last_list = now
            else:
                if shell_state == 0 and PROMPTS.search(seen):
                    if not pump(1):
                        break
                    s.sendall(b"\r")
                    shell_state, prompt_at = 1, now
                elif shell_state == 1 and now - prompt_at >= 3:
                    for c in SHELL_COMMANDS:
                        s.sendall(c + b"\r")
                        if not pump(2):
                            break
                    shell_state = 2
        except OSError:
            break
    s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
