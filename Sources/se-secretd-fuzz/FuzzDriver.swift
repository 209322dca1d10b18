#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFuzzing
import SEBase

enum FuzzDriver {
    /// The target libFuzzer's callback runs (set once, before the driver starts).
    nonisolated(unsafe) static var target: FuzzTarget?

    static let callback: se_fuzz_callback = { data, size in
        let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        FuzzDriver.target!.run(bytes)
        return 0
    }

    /// Hands argv (without the target name) to LLVMFuzzerRunDriver.
    static func runLibFuzzer(programName: String, _ options: [String]) -> Int32 {
        var cArgs: [UnsafeMutablePointer<CChar>?] = ([programName] + options).map { strdup($0) } + [nil]
        var argc = Int32(cArgs.count - 1)
        return cArgs.withUnsafeMutableBufferPointer { buf in
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buf.baseAddress
            return se_fuzz_run_driver(&argc, &argv, callback)
        }
    }

    /// Runs every file named (directories: their regular files) once.
    static func replay(_ paths: [String]) -> Int32 {
        var files: [String] = []
        for p in paths where !p.hasPrefix("-") {
            if FileIO.kind(of: p) == .directory {
                guard let entries = try? FileIO.list(p, limit: 1 << 20) else { continue }
                files += entries.filter { $0.kind == .regular }.map { p + "/" + $0.name }
            } else {
                files.append(p)
            }
        }
        var ran = 0
        for f in files {
            guard let bytes = try? FileIO.read(f, limit: 16 << 20, followSymlinks: true) else {
                Console.err("se-secretd-fuzz: cannot read \(f)\n")
                return 66
            }
            target!.run(bytes)
            ran += 1
        }
        Console.out("replayed \(ran) inputs on \(target!.name) (no libFuzzer in this build)\n")
        return 0
    }
}
