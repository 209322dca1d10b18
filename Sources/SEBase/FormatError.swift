/// The rules of one format's strict reader: each a stable name (its raw
/// value, or the string itself), printed in messages and matched by tests.
public protocol FormatRule: Hashable, Sendable {
    /// How `FormatError.description` shows the offset; `.byteAndHex` unless
    /// the rule type says otherwise.
    static var offsetStyle: FormatOffsetStyle { get }
}

extension FormatRule {
    public static var offsetStyle: FormatOffsetStyle { .byteAndHex }
}

/// How a format error's description shows where in the input it is.
public enum FormatOffsetStyle: Sendable {
    /// "message (at byte 44 / 0x2c)"
    case byteAndHex
    /// "message (at 0x2c)"
    case hex
}

/// Rules named by strings (the add-secret request's, which share their
/// names with the policy layer's rule identifiers).
extension String: FormatRule {}

/// Why bytes are not well-formed in a format: the rule they break, a
/// message naming the field, and the byte offset where that is known. Each
/// format names its own (`RequestFormatError`, `ARCBFormatError`,
/// `ExchangeFormatError`, `ResultsRecordError`).
public struct FormatError<R: FormatRule>: Error, Equatable, Sendable, CustomStringConvertible {
    public typealias Rule = R

    public let rule: Rule
    public let message: String
    public let offset: Int?

    public init(_ rule: Rule, _ message: String, offset: Int? = nil) {
        self.rule = rule
        self.message = message
        self.offset = offset
    }

    public var description: String {
        guard let offset else { return message }
        switch Rule.offsetStyle {
        case .byteAndHex: return "\(message) (at byte \(offset) / 0x\(String(offset, radix: 16)))"
        case .hex: return "\(message) (at 0x\(String(offset, radix: 16)))"
        }
    }
}
