import SECrypto
import ASRCodec
import SEBase

/// The tests' keys, each generated once per test process (RSA generation is
/// slow); lazily, so a key no test uses is never made. Distinct names are
/// distinct keys, except where one is said to be an entry of `hosts`.
public enum Keys {
    /// Simulated host keys (EC P-521), for requests with 1, 2 and 7 keyslots.
    public static let hosts: [PrivateKey] = (0..<7).map { _ in try! PrivateKey.generate(.ec(.p521)) }
    /// The host a request is made for: `hosts[0]`.
    public static var host: PrivateKey { hosts[0] }
    /// A second host: `hosts[1]`.
    public static var otherHost: PrivateKey { hosts[1] }
    /// A host that never gets a keyslot.
    public static let outsider = try! PrivateKey.generate(.ec(.p521))

    // User-data signing keys.
    /// The tenant's signer (EC P-521), trusted by the test policies.
    public static let tenant = try! PrivateKey.generate(.ec(.p521))
    /// An EC P-521 signer nobody trusts.
    public static let stranger = try! PrivateKey.generate(.ec(.p521))
    public static let rsa2048 = try! PrivateKey.generate(.rsa(bits: 2048))
    public static let rsa3072 = try! PrivateKey.generate(.rsa(bits: 3072))

    // Keys carried as retrievable EC / Edwards secrets.
    public static let secretP256 = try! PrivateKey.generate(.ec(.p256))
    public static let secretP384 = try! PrivateKey.generate(.ec(.p384))
    public static let secretP521 = try! PrivateKey.generate(.ec(.p521))
    public static let secretEd25519 = try! PrivateKey.generate(.ed25519)
    public static let secretEd448 = try! PrivateKey.generate(.ed448)
}

/// Fixed SE-header tags, as in s390-tools' request tests (1×64, 2×64, 3×64, 4×16).
public let fixedTags = SEHeaderTags(pld: .repeating(1, 64), ald: .repeating(2, 64), tld: .repeating(3, 64), tag: .repeating(4, 16))
