#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

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

    #if SE_TEST_HOOKS
    /// Test hook, compiled into debug builds only (Package.swift defines
    /// SE_TEST_HOOKS for them; the release agent has no such global):
    /// called with the buffer's contents right after each wipe, so a test
    /// can assert that every secret buffer really ends up zeroed.
    nonisolated(unsafe) public static var wipeObserver: ((UnsafeRawBufferPointer) -> Void)?

    public enum Lifecycle: Sendable { case created, wiped, released }
    /// Test hook (debug builds only): called at every creation, wipe and
    /// release (after the final wipe, before the memory is freed) with the
    /// buffer's storage, so a test can pair creations with releases and
    /// check what was left.
    nonisolated(unsafe) public static var lifecycleObserver: ((Lifecycle, UnsafeRawBufferPointer) -> Void)?
    #endif

    private enum Event { case created, wiped, released }

    @inline(__always)
    private func observe(_ event: Event) {
        #if SE_TEST_HOOKS
        let bytes = UnsafeRawBufferPointer(storage)
        switch event {
        case .created: SecureBytes.lifecycleObserver?(.created, bytes)
        case .released: SecureBytes.lifecycleObserver?(.released, bytes)
        case .wiped:
            SecureBytes.wipeObserver?(bytes)
            SecureBytes.lifecycleObserver?(.wiped, bytes)
        }
        #endif
    }

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        self.storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        self.storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.locked = PageLocks.lock(storage)
        observe(.created)
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
        observe(.released)
        if locked { PageLocks.unlock(storage) }
        storage.deallocate()
    }

    public func wipe() {
        secureZero(storage)
        observe(.wiped)
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

/// mlock(2) does not nest: one munlock unlocks a page for every buffer on
/// it. Small buffers share pages, so each page's locked buffers are counted
/// and the page is unlocked only when the last of them is released. When
/// `ProcessHardening` has locked all memory, nothing is done per buffer
/// (a munlock would undo the process-wide lock for that page).
enum PageLocks {
    static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
    private static let counts = Mutex<[UInt: Int]>([:])

    private static func pages(_ buffer: UnsafeMutableRawBufferPointer) -> StrideTo<UInt> {
        let start = UInt(bitPattern: buffer.baseAddress!) & ~(pageSize - 1)
        let end = UInt(bitPattern: buffer.baseAddress!) + UInt(buffer.count)
        return stride(from: start, to: end, by: Int(pageSize))
    }

    /// Locks the buffer's pages; false when it is not locked by this call
    /// (failure, or everything is locked already).
    static func lock(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard !ProcessHardening.allMemoryLocked else { return false }
        return counts.withLock { c in
            guard mlock(buffer.baseAddress!, buffer.count) == 0 else { return false }
            for p in pages(buffer) { c[p, default: 0] += 1 }
            return true
        }
    }

    /// Releases a buffer locked by `lock`.
    static func unlock(_ buffer: UnsafeMutableRawBufferPointer) {
        counts.withLock { c in
            for p in pages(buffer) {
                let n = (c[p] ?? 1) - 1
                if n > 0 {
                    c[p] = n
                } else {
                    c[p] = nil
                    munlock(UnsafeRawPointer(bitPattern: p), Int(pageSize))
                }
            }
        }
    }

    /// Buffers currently counted on the page of `address` (tests).
    static func lockCount(at address: UnsafeRawPointer) -> Int {
        let p = UInt(bitPattern: address) & ~(pageSize - 1)
        return counts.withLock { $0[p] ?? 0 }
    }
}
