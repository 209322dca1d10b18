import CProcessMemory

/// The simulator's copy_from_user / copy_to_user: addresses from a control
/// block are only ever touched through process_vm_readv/writev on our own
/// process, so a NULL, unmapped or PROT_NONE address fails with EFAULT (as
/// in the kernel) instead of crashing the test process.
enum UserMemory {
    /// Copies `destination.count` bytes from user address `address`.
    static func copyFromUser(_ destination: UnsafeMutableRawBufferPointer, _ address: UInt64) -> Bool {
        guard destination.count > 0 else { return true }
        guard valid(address, destination.count) else { return false }
        return se_process_memory_read(destination.baseAddress, address, destination.count) == 0
    }

    /// Copies `source` to user address `address`.
    static func copyToUser(_ address: UInt64, _ source: UnsafeRawBufferPointer) -> Bool {
        guard source.count > 0 else { return true }
        guard valid(address, source.count) else { return false }
        return se_process_memory_write(address, source.baseAddress, source.count) == 0
    }

    static func copyFromUser(_ address: UInt64, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { copyFromUser($0, address) }
        return ok ? out : nil
    }

    static func copyToUser(_ address: UInt64, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { copyToUser(address, $0) }
    }

    /// Reads a C struct from user memory.
    static func read<T>(_ value: inout T, from address: UInt64) -> Bool {
        withUnsafeMutableBytes(of: &value) { copyFromUser($0, address) }
    }

    /// Writes a C struct to user memory.
    static func write<T>(_ value: T, to address: UInt64) -> Bool {
        withUnsafeBytes(of: value) { copyToUser(address, $0) }
    }

    /// NULL (page 0 is never mapped) and ranges that wrap around are as
    /// inaccessible as an unmapped page; the rest is for the system call to
    /// judge.
    private static func valid(_ address: UInt64, _ count: Int) -> Bool {
        address != 0 && !address.addingReportingOverflow(UInt64(count)).overflow
    }
}
