#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Zeroes memory so that the compiler cannot drop the store (explicit_bzero).
public func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    explicit_bzero(base, buffer.count)
}
