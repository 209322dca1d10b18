import CLibcrypto

/// A libcrypto failure. The detail comes from OpenSSL's error queue, which
/// names functions and reasons but never key material.
public struct CryptoError: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let detail: String

    public init(_ operation: String, detail: String? = nil) {
        self.operation = operation
        self.detail = detail ?? CryptoError.drainErrorQueue()
    }

    public var description: String { detail.isEmpty ? operation : "\(operation): \(detail)" }

    /// Takes every pending error off OpenSSL's (thread-local) queue.
    static func drainErrorQueue() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buf, buf.count)
            parts.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.joined(separator: "; ")
    }

    static func clearErrorQueue() { ERR_clear_error() }
}

@inline(__always)
func check(_ ok: Int32, _ operation: @autoclosure () -> String) throws(CryptoError) {
    if ok <= 0 { throw CryptoError(operation()) }
}
