#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A fixed-size buffer for secret material. Its storage is allocated once,
/// never grows (so no unwiped copy is left behind by a reallocation), is
/// locked against swapping where the system allows, and is wiped when the
/// buffer is released or `wipe()` is called.
///
/// `description` never shows the contents.
public final class SecureBytes: @unchecked Sendable, CustomStringConvertible {
    private let storage: UnsafeMutableRawBufferPointer
    public let count: Int
    private var locked: Bool

    /// Test hook: called with the buffer's contents right after each wipe, so
    /// a test can assert that every secret buffer really ends up zeroed.
    nonisolated(unsafe) public static var wipeObserver: ((UnsafeRawBufferPointer) -> Void)?

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        self.storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        self.storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.locked = mlock(storage.baseAddress!, storage.count) == 0
    }

    /// Copies `bytes` into a new secure buffer. The caller still owns (and
    /// should wipe) the source.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count)
        var i = 0
        for b in bytes { storage[i] = b; i += 1 }
    }

    /// Takes `bytes` and wipes the source array.
    public convenience init(consuming bytes: inout [UInt8]) {
        self.init(copying: bytes)
        bytes.wipe()
    }

    deinit {
        wipe()
        if locked { munlock(storage.baseAddress!, storage.count) }
        storage.deallocate()
    }

    public func wipe() {
        secureZero(storage)
        if let observer = SecureBytes.wipeObserver { observer(UnsafeRawBufferPointer(storage)) }
    }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }

    public subscript(i: Int) -> UInt8 {
        get { precondition(i >= 0 && i < count); return storage[i] }
        set { precondition(i >= 0 && i < count); storage[i] = newValue }
    }

    /// A copy of a range as a new secure buffer.
    public func slice(_ range: Range<Int>) -> SecureBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let out = SecureBytes(count: range.count)
        out.withUnsafeMutableBytes { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[range]))
        }
        return out
    }

    /// Copies the contents out into an ordinary array. Only for code that
    /// hands the bytes to a consumer right away and wipes the array after.
    public func unsafeCopyToArray() -> [UInt8] {
        Array(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    public func equals(_ other: [UInt8]) -> Bool {
        guard other.count == count else { return false }
        var diff: UInt8 = 0
        for i in 0..<count { diff |= storage[i] ^ other[i] }
        return diff == 0
    }

    public var description: String { "SecureBytes(\(count) bytes, redacted)" }
}
