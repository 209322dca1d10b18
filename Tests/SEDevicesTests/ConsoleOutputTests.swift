import Foundation
import Testing
import TestSupport
import SEBase
@testable import SEDevices

/// The error `body` throws, nil when it throws none (another error type is a failure).
func consoleFailure(_ body: () throws -> Void) -> ConsoleOutputError? {
    do { try body(); return nil } catch let e as ConsoleOutputError { return e } catch {
        Issue.record("not a ConsoleOutputError: \(error)")
        return nil
    }
}

/// A FIFO with its reader open (non-blocking), so a writer can open it.
func makeFIFO(_ tmp: TempDir) throws -> (path: String, reader: Int32) {
    let path = tmp.appending("console")
    try #require(mkfifo(path, 0o600) == 0)
    let reader = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    try #require(reader >= 0)
    return (path, reader)
}

/// Everything in the pipe now (non-blocking reader).
func drain(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buf[..<n]
    }
    return out
}

@Suite struct ConsoleOutputTests {
    @Test func linesInOrderWithNewlinesAndPausesBetween() throws {
        let tmp = try TempDir("console")
        let path = tmp.appending("console")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        var pauses: [(ms: Int, seen: String)] = []
        let out = ConsoleOutput(path: path, pauseMilliseconds: 7, pause: { ms in
            // What had arrived when the pause came: the lines before it, whole.
            pauses.append((ms, String(decoding: contents(path), as: UTF8.self)))
        })
        let lines = ["SESD-RESULT aaaa 1/3 x AAAA", "SESD-RESULT aaaa 2/3 y BBBB", "SESD-RESULT aaaa 3/3 z CC=="]
        #expect(try out.write(lines) == 3)
        #expect(String(decoding: contents(path), as: UTF8.self) == lines.joined(separator: "\n") + "\n")
        #expect(pauses.map(\.ms) == [7, 7])
        #expect(pauses.map(\.seen) == [lines[0] + "\n", lines[0] + "\n" + lines[1] + "\n"])

        var none = 0
        let quiet = ConsoleOutput(path: path, pause: { _ in none += 1 })
        #expect(try quiet.write([]) == 0)
        #expect(try quiet.write(["one"]) == 1)
        #expect(none == 0, "no pause before the first line or after the last")
        // A file keeps what it had: the writer appends, as a console log does.
        #expect(String(decoding: contents(path), as: UTF8.self) == lines.joined(separator: "\n") + "\none\n")
    }

    @Test func aFIFOGetsEveryLine() throws {
        let tmp = try TempDir("console")
        let (path, reader) = try makeFIFO(tmp)
        defer { close(reader) }
        let lines = (1...200).map { "line \($0) " + String(repeating: "x", count: $0 % 50) }
        #expect(try ConsoleOutput(path: path, pause: { _ in }).write(lines) == 200)
        #expect(String(decoding: drain(reader), as: UTF8.self) == lines.joined(separator: "\n") + "\n")
    }

    /// A line far larger than the pipe: short writes and EAGAIN while a
    /// reader drains it; every byte arrives once, in order.
    @Test func shortWritesAndEAGAINAreRetried() throws {
        let tmp = try TempDir("console")
        let (path, reader) = try makeFIFO(tmp)
        defer { close(reader) }
        let big = String(decoding: pseudoRandom(300_000).map { 0x41 + $0 % 26 }, as: UTF8.self)
        let received = ReceivedBytes()
        let thread = Thread {
            var fds = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && fds.revents & Int16(POLLNVAL) == 0 {
                _ = poll(&fds, 1, 2000)
                let chunk = drain(reader)
                received.append(chunk)
                if received.count >= 300_005 { break }
                if chunk.isEmpty && fds.revents & Int16(POLLHUP) != 0 { break }
                usleep(1000)  // slower than the writer: it fills the pipe
            }
            received.finish()
        }
        thread.start()
        #expect(try ConsoleOutput(path: path, pause: { _ in }).write([big, "end"]) == 2)
        received.wait()
        // Compared as a Bool: a failing comparison of 300 KB arrays renders for minutes.
        let expected = Array(big.utf8) + [0x0A] + Array("end\n".utf8)
        #expect(received.count == expected.count)
        let allArrived = received.bytes.elementsEqual(expected)
        #expect(allArrived)
    }

    @Test func aConsoleThatTakesAByteNowAndThenStopsAtTheTotalDeadline() throws {
        let tmp = try TempDir("console")
        let (path, reader) = try makeFIFO(tmp)
        defer { close(reader) }
        // A host that reads one byte every 20 ms: never a stall of 10 s, so only the total deadline ends it.
        let lines = (0..<2000).map { String(format: "%04d ", $0) + String(repeating: "z", count: 95) }
        let out = ConsoleOutput(path: path, stallTimeoutMilliseconds: 10_000, totalTimeoutMilliseconds: 300, pause: { _ in })
        final class Flag: @unchecked Sendable { var done = false }
        let flag = Flag()
        let trickle = Thread {
            // One byte at a time only: a drain here could race the writer and
            // empty the pipe as fast as it fills (this made the test flaky under load).
            var b: UInt8 = 0
            while !flag.done { _ = read(reader, &b, 1); usleep(20_000) }
        }
        trickle.start()
        let started = MonotonicClock.nanoseconds()
        let e = consoleFailure { _ = try out.write(lines) }
        flag.done = true
        #expect(e?.rule == .stalled)
        // Well before the 10 s stall timeout: the deadline, not a stall, ended it.
        #expect(MonotonicClock.nanoseconds() - started < 5_000_000_000)
    }

    @Test func aConsoleThatTakesNothingStallsWithACount() throws {
        let tmp = try TempDir("console")
        let (path, reader) = try makeFIFO(tmp)
        defer { close(reader) }
        // 200 KB into a 64 KiB pipe that nobody reads.
        let lines = (0..<2000).map { String(format: "%04d ", $0) + String(repeating: "y", count: 95) }
        let out = ConsoleOutput(path: path, stallTimeoutMilliseconds: 50, pause: { _ in })
        let e = consoleFailure { _ = try out.write(lines) }
        #expect(e?.rule == .stalled)
        let written = e?.linesWritten ?? -1
        #expect(written > 0 && written < 2000)
        #expect(e?.description == "console \(path): it took no output for too long, after \(written) lines [stalled]")
        // The lines counted arrived whole.
        let got = String(decoding: drain(reader), as: UTF8.self)
        #expect(got.hasPrefix(lines[..<max(0, written)].joined(separator: "\n") + "\n"))
    }

    @Test func aMissingConsoleIsAnOpenFailure() throws {
        let tmp = try TempDir("console")
        let e = consoleFailure { _ = try ConsoleOutput(path: tmp.appending("missing"), pause: { _ in }).write(["x"]) }
        #expect(e?.rule == .openFailed)
        #expect(e?.systemError?.errno == ENOENT)
        #expect(e?.linesWritten == 0)
        // A FIFO without a reader: ENXIO, not a boot run blocked in open.
        let fifo = tmp.appending("fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        #expect(consoleFailure { _ = try ConsoleOutput(path: fifo, pause: { _ in }).write(["x"]) }?.systemError?.errno == ENXIO)
    }

    @Test func kmsgAcceptsBurstsOnlyWhenOn() throws {
        let tmp = try TempDir("proc")
        try FileManager.default.createDirectory(atPath: tmp.appending("sys/kernel"), withIntermediateDirectories: true)
        let file = tmp.appending("sys/kernel/printk_devkmsg")
        func with(_ text: String?) -> Bool {
            try? FileManager.default.removeItem(atPath: file)
            if let text { #expect(FileManager.default.createFile(atPath: file, contents: Data(text.utf8))) }
            return ConsoleOutput.kmsgAcceptsBursts(procRoot: tmp.path)
        }
        #expect(with("on\n"))
        #expect(with("on"))
        #expect(!with("ratelimit\n"))
        #expect(!with("off\n"))
        #expect(!with(nil), "missing")
        #expect(!with(""))
        #expect(!with("onn\n"))
        #expect(!with("ON\n"))
        #expect(!with("\u{0}on\n"))
        #expect(!with("on\nrest"))
        #expect(!with("on" + String(repeating: " ", count: 100)), "larger than the bound")
        // A symlink to a file that says "on" is not followed.
        let target = tmp.appending("on")
        #expect(FileManager.default.createFile(atPath: target, contents: Data("on\n".utf8)))
        try? FileManager.default.removeItem(atPath: file)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: target)
        #expect(!ConsoleOutput.kmsgAcceptsBursts(procRoot: tmp.path))
        #expect(!ConsoleOutput.kmsgAcceptsBursts(procRoot: tmp.appending("nowhere")))
    }
}

/// Bytes a reader thread collects, and a way to wait until it is done.
final class ReceivedBytes: @unchecked Sendable {
    private let lock = NSCondition()
    private var data: [UInt8] = []
    private var done = false

    func append(_ chunk: [UInt8]) { lock.lock(); data += chunk; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return data.count }
    var bytes: [UInt8] { lock.lock(); defer { lock.unlock() }; return data }
    func finish() { lock.lock(); done = true; lock.broadcast(); lock.unlock() }
    func wait() {
        lock.lock()
        let deadline = Date().addingTimeInterval(30)
        while !done { if !lock.wait(until: deadline) { break } }
        lock.unlock()
    }
}
