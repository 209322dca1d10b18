#!/usr/bin/env python3
"""The dependency rules of se-secretd's targets (docs/design.md, "Targets"),
checked on the package as SwiftPM reads it (`swift package dump-package`), so
that an edge that runs the wrong way cannot come back unnoticed:

  - the agent (the se-secretd executable) reaches no workbench code: not the
    simulated ultravisor, the request builder or the workbench's commands;
  - the tenant's verification (TenantVerification) reaches no device, boot
    run or workbench code: it runs on any machine;
  - the device layers (UVDevice, SEDevices) and the shared vocabulary reach
    neither libcrypto nor the policy nor the request codec;
  - no library target reaches a test target or the test support.

Usage: scripts/check-architecture.py   (exit 1 on a broken rule)
"""
import json
import subprocess
import sys

WORKBENCH = {"UVSimulator", "RequestBuilding", "SecretdWorkbench", "CProcessMemory"}
CRYPTO_AND_POLICY = {"SECrypto", "CLibcrypto", "SecretPolicy", "ASRCodec", "RequestBuilding"}
RULES = [
    # (target, what its closure must not contain, why)
    ("se-secretd", WORKBENCH, "the agent has no simulator, builder or example code"),
    ("se-secretd-test", {"SecretdWorkbench"}, "the boot tests' agent is the agent plus the simulator backend, not the workbench"),
    ("UVDevice", CRYPTO_AND_POLICY, "the ioctl layer is free of the policy and of libcrypto"),
    ("SEDevices", CRYPTO_AND_POLICY, "the block-device layer is free of the policy and of libcrypto"),
    ("SEVocabulary", CRYPTO_AND_POLICY | {"UVDevice", "SEDevices"}, "the shared words depend on nothing but SEBase"),
    ("UVCommands", WORKBENCH, "the /dev/uv commands do not link the simulator (a binary brings its UVLinks)"),
    ("SecretdCLI", WORKBENCH, "the agent's commands do not link the workbench"),
    ("BootRun", WORKBENCH, "the boot run does not link the simulator"),
    ("Attestation", WORKBENCH | {"UVDevice", "SEDevices", "SecretPolicy"},
     "the attestation codec is pure (no builder, simulator, device or policy) so that the agent may link it"),
    ("SecretActions", WORKBENCH, "the actions do not link the simulator"),
    ("TenantVerification", WORKBENCH | {"UVDevice", "SEDevices", "UVCommands", "BootRun", "SecretActions", "SecretdCLI"},
     "the tenant's check is pure (inputs in, a verdict out): no device, no boot run, no simulator, no CLI"),
    ("ResultsRecord", WORKBENCH | {"UVDevice", "SEDevices", "SecretPolicy", "ASRCodec", "Attestation"},
     "the results record is a container: it knows no request, policy, device or attestation format"),
]


def main():
    dump = subprocess.run(["swift", "package", "dump-package"], capture_output=True, text=True, check=True).stdout
    targets = {t["name"]: t for t in json.loads(dump)["targets"]}

    def deps(name):
        out = []
        for d in targets[name]["dependencies"]:
            for kind in ("byName", "target"):
                if kind in d:
                    out.append(d[kind][0])
            if "product" in d:
                out.append(d["product"][0])
        return [x for x in out if x in targets]

    def closure(name):
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            for d in deps(n):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    problems = 0
    for name, banned, why in RULES:
        if name not in targets:
            print(f"check-architecture: no target {name} (has the package changed? update this script)")
            problems += 1
            continue
        bad = sorted(closure(name) & banned)
        if bad:
            print(f"check-architecture: {name} reaches {', '.join(bad)}: {why}")
            problems += 1
    tests = {n for n, t in targets.items() if t["type"] == "test"} | {"TestSupport"}
    for n, t in targets.items():
        if t["type"] in ("regular", "executable", "system") and n != "TestSupport":
            bad = sorted(closure(n) & tests)
            if bad:
                print(f"check-architecture: {n} reaches {', '.join(bad)}: no product or library may depend on test code")
                problems += 1
    print(f"check-architecture: {len(RULES)} dependency rules, {len(targets)} targets, {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
