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
        .executable(name: "se-secretd", targets: ["se-secretd"]),
    ],
    targets: [
        // Thin import of the system's libcrypto (OpenSSL 3, libssl-dev).
        .systemLibrary(name: "CLibcrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        // Byte handling, strict JSON, wiped buffers, careful file I/O.
        .target(name: "SEBase"),
        // The crypto layer: libcrypto behind a small Swift API.
        .target(name: "SECrypto", dependencies: ["CLibcrypto", "SEBase"]),
        // The add-secret request codec: parser, builder, user-data signatures.
        .target(name: "ASRCodec", dependencies: ["SEBase", "SECrypto"]),
        // The policy embedded in the initrd and its evaluation.
        .target(name: "SecretPolicy", dependencies: ["SEBase", "SECrypto", "ASRCodec"]),
        // Commands, argument parsing, output formatting.
        .target(name: "SecretdCLI", dependencies: ["SEBase", "SECrypto", "ASRCodec", "SecretPolicy"]),
        .executableTarget(name: "se-secretd", dependencies: ["SecretdCLI"]),
        // Benchmarks (benchmarks/run.sh); not part of the initramfs.
        .executableTarget(name: "se-secretd-bench", dependencies: ["SecretdCLI", "SecretPolicy", "ASRCodec", "SECrypto", "CLibcrypto"]),

        .testTarget(name: "SEBaseTests", dependencies: ["SEBase"]),
        .testTarget(name: "SECryptoTests", dependencies: ["SECrypto", "CLibcrypto"]),
        .testTarget(name: "ASRCodecTests", dependencies: ["ASRCodec", "SECrypto", "CLibcrypto"]),
        // Fixtures/policies is shared with scripts/check-policy-schema.py; the
        // test reads it through #filePath, so it is not a bundled resource.
        .testTarget(name: "SecretPolicyTests", dependencies: ["SecretPolicy", "ASRCodec", "SECrypto"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "SecretdCLITests", dependencies: ["SecretdCLI", "SecretPolicy", "ASRCodec", "SECrypto"]),
    ]
)
