// SecureBytes locks its pages against swapping; mlock does not nest, so
// the pages are reference-counted.
import Testing
@testable import SEBase

/// VmFlags of the mapping that contains `address` (from /proc/self/smaps).
func vmFlags(at address: UnsafeRawPointer) -> [String]? {
    guard let bytes = try? FileIO.read("/proc/self/smaps", limit: 64 << 20, followSymlinks: true) else { return nil }
    let a = UInt(bitPattern: address)
    var inside = false
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
        if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
           let lo = UInt(line[..<dash], radix: 16), let hi = UInt(line[line.index(after: dash)..<space], radix: 16) {
            inside = lo <= a && a < hi
        } else if inside, line.hasPrefix("VmFlags:") {
            return line.dropFirst("VmFlags:".count).split(separator: " ").map(String.init)
        }
    }
    return nil
}

@Suite struct PageLockTests {
    /// mlock does not nest: releasing one buffer must not unlock a page
    /// that another live buffer still uses.
    @Test func releasingANeighbourKeepsThePageLocked() throws {
        var buffers: [SecureBytes] = [SecureBytes(count: 24)]
        func base(_ b: SecureBytes) -> UnsafeRawPointer { b.withUnsafeBytes { $0.baseAddress! } }
        func page(_ b: SecureBytes) -> UInt { UInt(bitPattern: base(b)) / PageLocks.pageSize }
        guard PageLocks.lockCount(at: base(buffers[0])) > 0 else {
            // mlock is not allowed here (RLIMIT_MEMLOCK); nothing to check.
            return
        }
        // Two buffers on one page. Other tests allocate on other threads at
        // the same time, so a fixed number of small buffers may land on as
        // many pages: allocate until two share one.
        var firstOnPage: [UInt: Int] = [page(buffers[0]): 0]
        var pair: (Int, Int)? = nil
        while pair == nil, buffers.count < 8192 {
            let b = SecureBytes(count: 24)
            buffers.append(b)
            if let i = firstOnPage[page(b)] { pair = (i, buffers.count - 1) } else { firstOnPage[page(b)] = buffers.count - 1 }
        }
        guard let (i, j) = pair else { Issue.record("no two of \(buffers.count) buffers share a page"); return }
        let survivor = buffers[j]
        let lockedBefore = vmFlags(at: base(survivor))?.contains("lo")
        buffers.remove(at: i)
        #expect(PageLocks.lockCount(at: base(survivor)) >= 1)
        if lockedBefore == true {
            // The kernel agrees (not under ASan, whose mlock does nothing).
            #expect(vmFlags(at: base(survivor))?.contains("lo") == true)
        }
        buffers.removeAll()
        _ = survivor.count
    }
}
