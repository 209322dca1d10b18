import CLibcrypto
import SEBase

extension EVPKey {
    /// The raw public key of an Ed25519 or Ed448 key (32 or 57 bytes).
    public func rawPublicKey() throws(CryptoError) -> [UInt8] {
        var len = 0
        guard EVP_PKEY_get_raw_public_key(pkey, nil, &len) == 1 else { throw CryptoError("raw public key") }
        var out = [UInt8](repeating: 0, count: len)
        guard EVP_PKEY_get_raw_public_key(pkey, &out, &len) == 1 else { throw CryptoError("raw public key") }
        return Array(out[0..<len])
    }

    /// The modulus and public exponent of an RSA key, big-endian without
    /// leading zero bytes.
    public func rsaPublicNumbers() throws(CryptoError) -> (n: [UInt8], e: [UInt8]) {
        guard case .rsa = keyType else { throw CryptoError("not an RSA key", detail: "") }
        func number(_ name: String) throws(CryptoError) -> [UInt8] {
            var bn: OpaquePointer? = nil
            guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let b = bn else { throw CryptoError("read key parameter \(name)") }
            defer { BN_free(b) }
            let size = Int((BN_num_bits(b) + 7) / 8)
            var out = [UInt8](repeating: 0, count: size)
            _ = BN_bn2bin(b, &out)
            return out
        }
        return (try number("n"), try number("e"))
    }
}
