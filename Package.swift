// swift-tools-version:6.0
//
// se-secretd: the guest side of IBM Secure Execution add-secret requests.
//
// The agent binary must stay small and free of Foundation (no ICU in an
// initramfs): no library target imports Foundation or FoundationEssentials.
// Only the test targets may.
import PackageDescription

let package = Package(
    name: "se-secretd",
    products: [
        // The agent: the initramfs binary and the administrator's tool. No
        // simulator, request builder or example code (scripts/check-linkage.sh).
        .executable(name: "se-secretd", targets: ["se-secretd"]),
        // The workbench: the agent's commands plus the simulated ultravisor,
        // `sim ...`, `example`, request building. Never in an initramfs.
        .executable(name: "se-secretd-dev", targets: ["se-secretd-dev"]),
        // The agent with the simulated ultravisor as a backend, for the boot
        // tests' initramfs images (there is no real ultravisor in QEMU).
        .executable(name: "se-secretd-test", targets: ["se-secretd-test"]),
    ],
    targets: [
        // Thin import of the system's libcrypto (OpenSSL 3, libssl-dev).
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Byte handling, strict JSON, wiped buffers, careful file I/O.
        // prctl/capget for ProcessHardening (variadic or syscall-only in C).
        .target(name: "CProcessHardening"),
        // SE_TEST_HOOKS: SecureBytes' wipe observers exist in debug builds (the
        // tests') only; the release agent carries no test hook.
        .target(name: "SEBase", dependencies: ["CProcessHardening"],
                swiftSettings: [.define("SE_TEST_HOOKS", .when(configuration: .debug))]),
        // The crypto layer: libcrypto behind a small Swift API.
        .target(name: "SECrypto", dependencies: ["CLibcrypto", "SEBase"]),
        // The words both sides share: secret types and IDs, volume names, path rules.
        // No crypto, no policy: the device layers may see these.
        .target(name: "SEVocabulary", dependencies: ["SEBase"]),
        // The add-secret request codec: parser, builder, user-data signatures.
        .target(name: "ASRCodec", dependencies: ["SEBase", "SEVocabulary", "SECrypto"]),
        // The kernel UAPI of /dev/uv, mirrored in C with compile-time layout checks.
        .target(name: "CUVDevice"),
        // The /dev/uv client: transport, control blocks, typed errors, list decoding, sysfs.
        .target(name: "UVDevice", dependencies: ["CUVDevice", "SEBase", "SEVocabulary"]),
        // copy_from_user/copy_to_user for the simulator: process_vm_readv/writev on itself.
        .target(name: "CProcessMemory"),
        // Attestation as pure code: the ARCB (parse, decryption with the
        // protection key), the measurement (HMAC-SHA512), additional data and
        // pvattest's exchange format. No I/O; the agent may link it.
        .target(name: "Attestation", dependencies: ["SEBase", "SECrypto", "ASRCodec"]),
        // A simulated uvdevice driver plus ultravisor behind the same transport.
        // The other ends of a request: the tenant's builder (as `pvsecret create`,
        // `pvattest create`) and the ultravisor's decryption. Workbench, simulator and tests only.
        .target(name: "RequestBuilding", dependencies: ["SEBase", "SEVocabulary", "SECrypto", "ASRCodec", "Attestation"]),
        .target(name: "UVSimulator", dependencies: ["CUVDevice", "CProcessMemory", "UVDevice", "SEBase", "SECrypto", "ASRCodec", "Attestation",
                                                    "SEVocabulary", "RequestBuilding"]),
        // The logic of the guest-side /dev/uv commands (info, list, add, lock, retrieve) and
        // the backends a binary links (UVLinks: the simulator is the workbench's, not the agent's).
        .target(name: "UVCommands", dependencies: ["UVDevice", "SEBase", "SECrypto", "ASRCodec", "SEVocabulary", "Attestation"]),
        // The policy embedded in the initrd and its evaluation.
        .target(name: "SecretPolicy", dependencies: ["SEBase", "SEVocabulary", "SECrypto", "ASRCodec", "Attestation"]),
        // Thin imports of libblkid (libblkid-dev) and libcryptsetup (libcryptsetup-dev).
        .systemLibrary(name: "CBlkid", pkgConfig: "blkid", providers: [.apt(["libblkid-dev"])]),
        .systemLibrary(name: "CCryptsetup", pkgConfig: "libcryptsetup", providers: [.apt(["libcryptsetup-dev"])]),
        // Linux headers Swift's Glibc module leaves out (statfs, xattr).
        .systemLibrary(name: "CLinuxExtras"),
        // DM_TABLE_STATUS on /dev/mapper/control: the kernel's active table of a mapping (a raw ioctl, no libdevmapper).
        .target(name: "CDeviceMapper"),
        // Block devices by LABEL=/UUID=/PARTLABEL=/PARTUUID=/path (libblkid), with a bounded wait.
        .target(name: "SEDevices", dependencies: ["CBlkid", "SEBase", "SEVocabulary"]),
        // The record a boot run hands out of the guest (report, attestation response): raw on a
        // results device, in numbered base64 lines on the console. Pure; nothing secret in it.
        .target(name: "ResultsRecord", dependencies: ["SEBase", "SECrypto"]),
        // The tenant's check of a boot run (`se-secretd verify`), on any machine: the evidence (a
        // response, a results record, a console log), the tenant's request, protection key, image
        // tags, policy and requests in; a verdict with its checks out. Pure: no I/O, no device.
        .target(name: "TenantVerification", dependencies: ["SEBase", "SECrypto", "ASRCodec", "Attestation", "SecretPolicy", "ResultsRecord"]),
        // The boot run: from the request volume to a locked, verified store and a report.
        .target(name: "BootRun", dependencies: ["SEBase", "SECrypto", "ASRCodec", "SecretPolicy", "SEDevices", "ResultsRecord", "Attestation",
                                                "UVDevice", "UVCommands", "SEVocabulary"]),
        // Using the secrets: LUKS (libcryptsetup), key hand-off, files, credentials, report records.
        .target(name: "SecretActions", dependencies: ["CCryptsetup", "CLinuxExtras", "CDeviceMapper", "SEDevices", "SEBase", "SECrypto", "ASRCodec",
                                                      "SecretPolicy", "UVDevice", "SEVocabulary"]),
        // Commands, argument parsing, output formatting.
        .target(name: "SecretdCLI", dependencies: ["SEBase", "SECrypto", "ASRCodec", "SecretPolicy", "Attestation", "ResultsRecord", "TenantVerification",
                                                   "UVDevice", "UVCommands", "BootRun", "SecretActions", "SEDevices", "SEVocabulary"]),
        .executableTarget(name: "se-secretd", dependencies: ["SecretdCLI"]),
        // The workbench's commands: sim ..., example; the simulator backend.
        .target(name: "SecretdWorkbench", dependencies: ["SecretdCLI", "UVCommands", "UVSimulator", "RequestBuilding", "UVDevice", "Attestation",
                                                         "SecretPolicy", "ASRCodec", "SECrypto", "SEBase", "SEVocabulary"]),
        .executableTarget(name: "se-secretd-dev", dependencies: ["SecretdWorkbench"]),
        .executableTarget(name: "se-secretd-test", dependencies: ["SecretdCLI", "UVCommands", "UVSimulator"]),
        // Benchmarks (benchmarks/run.sh); not part of the initramfs.
        .executableTarget(name: "se-secretd-bench", dependencies: ["SecretdCLI", "SecretdWorkbench", "RequestBuilding", "Attestation", "SecretPolicy", "ASRCodec", "SECrypto", "CLibcrypto",
                                                                 "UVSimulator", "SecretActions", "CCryptsetup", "SEVocabulary"]),
        // Fuzz targets (scripts/fuzz.sh, docs/hardening.md): libFuzzer when built with
        // -sanitize=fuzzer, a replayer otherwise. Not part of the initramfs.
        .target(name: "CFuzzing"),
        .executableTarget(name: "se-secretd-fuzz", dependencies: ["CFuzzing", "CUVDevice", "SEBase", "SECrypto", "ASRCodec", "RequestBuilding",
                                                                  "SecretPolicy", "UVDevice", "UVSimulator", "SEVocabulary", "Attestation", "ResultsRecord"]),

        // What the tests share: the in-process CLI runner, self-removing temporary
        // directories, the built binaries, fixed keys, a simulated ultravisor.
        // Foundation is allowed here (tests only); no product or library may depend on it.
        .target(name: "TestSupport", dependencies: ["SecretdCLI", "SecretdWorkbench", "UVSimulator", "UVCommands", "UVDevice",
                                                    "ASRCodec", "SECrypto", "SEBase"],
                path: "Tests/TestSupport"),

        .testTarget(name: "TestSupportTests", dependencies: ["TestSupport"]),
        .testTarget(name: "SEBaseTests", dependencies: ["SEBase", "TestSupport"]),
        .testTarget(name: "ResultsRecordTests", dependencies: ["ResultsRecord", "SEBase", "SECrypto", "TestSupport"]),
        .testTarget(name: "TenantVerificationTests", dependencies: ["TestSupport", "TenantVerification", "ResultsRecord", "Attestation", "SecretPolicy",
                                                               "BootRun", "UVCommands", "UVSimulator", "UVDevice", "RequestBuilding",
                                                               "SecretdWorkbench", "SecretdCLI", "ASRCodec", "SECrypto", "SEBase"]),
        .testTarget(name: "SECryptoTests", dependencies: ["SECrypto", "CLibcrypto", "TestSupport", "SEBase"]),
        .testTarget(name: "AttestationTests", dependencies: ["TestSupport", "Attestation", "ASRCodec", "SECrypto", "SEBase", "CLibcrypto", "RequestBuilding"]),
        .testTarget(name: "ASRCodecTests", dependencies: ["TestSupport", "ASRCodec", "SECrypto", "CLibcrypto", "SEVocabulary", "RequestBuilding"]),
        .testTarget(name: "UVDeviceTests", dependencies: ["TestSupport", "UVDevice", "UVSimulator", "CUVDevice", "ASRCodec", "SECrypto", "SEBase", "SEVocabulary", "RequestBuilding"]),
        .testTarget(name: "UVSimulatorTests", dependencies: ["TestSupport", "UVSimulator", "Attestation", "UVDevice", "CUVDevice", "ASRCodec", "SECrypto", "SEBase", "SEVocabulary", "RequestBuilding"]),
        .testTarget(name: "UVCommandsTests", dependencies: ["TestSupport", "UVCommands", "Attestation", "SecretdCLI", "UVSimulator", "UVDevice", "ASRCodec", "SECrypto", "SEBase", "SEVocabulary", "SecretdWorkbench", "RequestBuilding"]),
        // Fixtures/policies is shared with scripts/check-policy-schema.py; the
        // test reads it through #filePath, so it is not a bundled resource.
        .testTarget(name: "SecretPolicyTests", dependencies: ["TestSupport", "SecretPolicy", "ASRCodec", "SECrypto", "SEVocabulary", "RequestBuilding"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BootRunTests", dependencies: ["TestSupport", "BootRun", "Attestation", "ResultsRecord", "TenantVerification", "SEDevices", "SecretdCLI", "SecretActions", "UVSimulator", "UVDevice", "UVCommands",
                                                    "SecretPolicy", "ASRCodec", "SECrypto", "SEBase", "SEVocabulary", "SecretdWorkbench", "RequestBuilding"]),
        .testTarget(name: "SecretdCLITests", dependencies: ["TestSupport", "SecretdCLI", "SecretPolicy", "ASRCodec", "SECrypto", "SEVocabulary", "SecretdWorkbench", "RequestBuilding"]),
        .testTarget(name: "SEDevicesTests", dependencies: ["TestSupport", "SEDevices", "SEBase", "SEVocabulary", "ResultsRecord"]),
        .testTarget(name: "SecretActionsTests", dependencies: ["TestSupport", "SecretActions", "SEDevices", "SecretdCLI", "CCryptsetup",
                                                               "SecretPolicy", "UVSimulator", "UVDevice", "UVCommands",
                                                               "ASRCodec", "SECrypto", "SEBase", "SEVocabulary", "SecretdWorkbench", "RequestBuilding", "ResultsRecord"]),
        // Secret hygiene: process protections (runs the built se-secretd) and buffer wiping.
        .testTarget(name: "HardeningTests", dependencies: ["TestSupport", "SEBase", "SECrypto", "ASRCodec", "CProcessHardening", "SEVocabulary", "RequestBuilding"]),
    ]
)
