// IBM's fixed inputs for its request test vectors (add-secret requests and
// attestation requests): public test keys and constants, as hex.
//
// Source: ibm-s390-linux/s390-tools, read at commit
// c66495888dc82070512655ab81ae2c9a13713e9f (v2.43.0-1), MIT license
// (Copyright IBM Corp.; the license text is s390-tools' LICENSE file):
// - rust/pv/tests/assets/keys/private_cust.bin — the customer key scalar and
//   keys/host.pem.crt — the host key, both public test keys ("all parts
//   including the private key are checked in git", rust/pv/src/test_utils.rs),
//   the host key as its public point only;
// - rust/pv/tests/add_secret_request.rs — the request inputs;
// - rust/pv/src/crypto.rs — the KEK constant (add-secret-request.md §5.3).
import SEBase
import SECrypto

public enum IBMInputs {
    /// keys/private_cust.bin (80 bytes, big-endian P-521 scalar).
    public static let customerScalar = [UInt8](hex: "00000000000000000000000000000001" + String(repeating: "88", count: 64))!
    /// The public point of keys/host.pem.crt (04 ‖ X ‖ Y).
    public static let hostPoint = [UInt8](hex: "040176881cd84b8b6de7123c7e900edf78e7f7b684999146b1263ba8b86c8447f08ab6d469c2b128ed9e1c35015805acd3d30233d39122f7e2f8aa1c2b147b7883b40600c34556c25cf92f29ce66bd44114d6b7b3c78e13a3f90bdb90040f6876e5262f778a61a937d1b34802eb257e34e0672dd5f2a347addaa282035092a70c35c2e7973")!
    public static let protectionKey: [UInt8] = .repeating(0x17, 32)
    public static let iv: [UInt8] = .repeating(0x55, 12)
    public static let cuid: [UInt8] = .repeating(0x42, 16)
    public static let associationName = "add_secret_request"
    public static let associationValue: [UInt8] = .repeating(0x11, 32)
    public static let simpleExtensionSecret: [UInt8] = .repeating(0x17, 32)
    public static let cck: [UInt8] = .repeating(0, 32)
    /// HKDF-SHA-512(CCK 0×32, salt 0x04×16, "IBM Z Ultravisor Add-Secret") (§9).
    public static let derivedExtensionSecret = [UInt8](hex: "b7e28c1ed1ecd063afe5eb9b54c6685aca5c193163e82e2071c3150ed6ff6473")!
    /// §5.3: ECDH(customer, host) → SHA-256(Z ‖ 00000001); PHKH of the host key.
    public static let kek = "753277558f3b6003419ef249ae3c4b55aad77d09d97fdd1fc88fd8f0cf22f149"
    public static let hostKeyHash = "415c25a5d19c381e619733e1c1b7fbd88bdd1c31d882d5ade04b97043c5010f0"
    /// §8: SHA-256("add_secret_request").
    public static let associationID = "70dc758d711fef605b1b1b1774a2a4ab701020ea4b2cb399ebbdd5a3971c76a9"

    public static var hostPublicKey: PublicKey {
        get throws { try PublicKey.p521(x: Array(hostPoint[1..<67]), y: Array(hostPoint[67..<133])) }
    }
}
