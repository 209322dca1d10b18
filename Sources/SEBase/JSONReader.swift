// Typed, strict reading of JSON documents whose shape we define (the policy):
// every error names the JSON path, and unknown keys are errors, so a typo in
// a policy is never silently ignored.

public struct JSONSchemaError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

public struct JSONObjectReader {
    public let path: String
    private let members: [(String, JSON)]
    private var used: Set<String> = []

    public init(_ value: JSON, path: String) throws(JSONSchemaError) {
        guard case let .object(m) = value else {
            throw JSONSchemaError(path: path, message: "expected an object, found \(value.typeName)")
        }
        self.path = path
        self.members = m
    }

    public func childPath(_ key: String) -> String { path == "$" ? "$.\(key)" : "\(path).\(key)" }

    public mutating func value(_ key: String) -> JSON? {
        used.insert(key)
        return members.first { $0.0 == key }?.1
    }

    public mutating func has(_ key: String) -> Bool {
        members.contains { $0.0 == key }
    }

    public mutating func require(_ key: String) throws(JSONSchemaError) -> JSON {
        guard let v = value(key) else { throw JSONSchemaError(path: path, message: "missing required key \"\(key)\"") }
        return v
    }

    public mutating func string(_ key: String) throws(JSONSchemaError) -> String? {
        guard let v = value(key), v != .null else { return nil }
        guard case let .string(s) = v else { throw typeError(key, "a string", v) }
        return s
    }

    public mutating func requireString(_ key: String) throws(JSONSchemaError) -> String {
        guard let s = try string(key) else { throw JSONSchemaError(path: path, message: "missing required key \"\(key)\"") }
        return s
    }

    public mutating func bool(_ key: String) throws(JSONSchemaError) -> Bool? {
        guard let v = value(key), v != .null else { return nil }
        guard case let .bool(b) = v else { throw typeError(key, "true or false", v) }
        return b
    }

    public mutating func int(_ key: String, range: ClosedRange<Int64>) throws(JSONSchemaError) -> Int64? {
        guard let v = value(key), v != .null else { return nil }
        guard case let .int(i) = v else { throw typeError(key, "an integer", v) }
        guard range.contains(i) else {
            throw JSONSchemaError(path: childPath(key), message: "\(i) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    public mutating func array(_ key: String) throws(JSONSchemaError) -> [JSON]? {
        guard let v = value(key), v != .null else { return nil }
        guard case let .array(a) = v else { throw typeError(key, "an array", v) }
        return a
    }

    public mutating func stringArray(_ key: String) throws(JSONSchemaError) -> [String]? {
        guard let items = try array(key) else { return nil }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else {
                throw JSONSchemaError(path: "\(childPath(key))[\(i)]", message: "expected a string, found \(item.typeName)")
            }
            out.append(s)
        }
        return out
    }

    public mutating func object(_ key: String) throws(JSONSchemaError) -> JSONObjectReader? {
        guard let v = value(key), v != .null else { return nil }
        return try JSONObjectReader(v, path: childPath(key))
    }

    /// Fails on any key that was never asked for.
    public func finish() throws(JSONSchemaError) {
        for (k, _) in members where !used.contains(k) {
            throw JSONSchemaError(path: path, message: "unknown key \"\(k)\"")
        }
    }

    private func typeError(_ key: String, _ expected: String, _ found: JSON) -> JSONSchemaError {
        JSONSchemaError(path: childPath(key), message: "expected \(expected), found \(found.typeName)")
    }
}
