// se-secretd-fuzz: libFuzzer entry points into se-secretd's parsers (see
// docs/hardening.md and scripts/fuzz.sh).
//
//   se-secretd-fuzz list                      targets: name, max length, summary
//   se-secretd-fuzz seeds DIR                 writes seed inputs to DIR/TARGET/
//   se-secretd-fuzz TARGET [libFuzzer args]   fuzzes (when linked with -sanitize=fuzzer)
//   se-secretd-fuzz TARGET FILE|DIR...        replays inputs once (plain builds)
//
// One executable holds every target so that one instrumented build serves
// them all. Built without -sanitize=fuzzer (as `swift build` does) it only
// replays, which keeps the harness compiling with the code it calls.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CFuzzing
import SEBase

let args = CommandLine.arguments

func usage() -> Never {
    Console.err("usage: se-secretd-fuzz list | seeds DIR | TARGET [libFuzzer options] [CORPUS...]\n")
    exit(64)
}

guard args.count >= 2 else { usage() }

switch args[1] {
case "list":
    for t in FuzzTarget.all { Console.out("\(t.name) \(t.maxLength) \(t.summary)\n") }
    exit(0)

case "seeds":
    guard args.count == 3 else { usage() }
    do {
        for t in FuzzTarget.all {
            let dir = args[2] + "/" + t.name
            try FileIO.makeDirectories(dir, mode: 0o755)
            let seeds = try t.seeds()
            for (i, s) in seeds.enumerated() {
                try FileIO.writeAtomically(dir + "/seed-\(i)", s, mode: 0o644)
            }
            Console.out("\(t.name): \(seeds.count) seeds\n")
        }
    } catch {
        Console.err("se-secretd-fuzz: cannot write seeds: \(error)\n")
        exit(1)
    }
    exit(0)

default:
    guard let target = FuzzTarget.named(args[1]) else {
        Console.err("se-secretd-fuzz: unknown target '\(args[1])'; targets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))\n")
        exit(64)
    }
    target.prepare()
    FuzzDriver.target = target
    se_fuzz_set_mutator(target.mutator)
    let rest = Array(args.dropFirst(2))
    if se_fuzz_driver_available() == 1 {
        exit(FuzzDriver.runLibFuzzer(programName: args[0], rest))
    }
    exit(FuzzDriver.replay(rest))
}
