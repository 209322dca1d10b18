#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SEBase

/// What one action did, for the run directory's report and the command's
/// output. Names targets; never holds a secret value.
public struct ActionRecord: Sendable, Equatable {
    public enum Result: String, Sendable, Equatable { case ok, failed, skipped }

    public var phase: String
    /// The policy's name of the secret.
    public var secret: String
    /// The action kind (luks, keyfile, keyscript, file, credential, password-hash).
    public var action: String
    public var target: String
    public var result: Result
    public var message: String
    public var milliseconds: Int
    /// For a failed action: the class of failure (chooses the exit code).
    public var failure: ActionFailure.Kind?
    /// For a luks action: the volume it opened (or checked), with the
    /// keyslot that opened it; `install` binds the new root to these.
    public var volume: OpenedVolume? = nil

    public init(phase: String, secret: String, action: String, target: String, result: Result,
                message: String, milliseconds: Int, failure: ActionFailure.Kind? = nil, volume: OpenedVolume? = nil) {
        self.phase = phase
        self.secret = secret
        self.action = action
        self.target = target
        self.result = result
        self.message = message
        self.milliseconds = milliseconds
        self.failure = failure
        self.volume = volume
    }

    public var json: JSON {
        var members: [(String, JSON)] = [
            ("phase", .string(phase)), ("secret", .string(secret)), ("action", .string(action)),
            ("target", .string(target)), ("result", .string(result.rawValue)), ("message", .string(message)),
            ("ms", .int(Int64(milliseconds))),
        ]
        if let failure { members.append(("failure", .string(failure.rawValue))) }
        if let volume { members.append(("volume", volume.json)) }
        return .object(members)
    }
}

/// The run directory's report (`<run-dir>/report.json`, mode 0600), which
/// the boot run creates. Each phase sets its records in the top-level
/// "actions" array: records of the same phase from an earlier run are
/// replaced (the caller says which), the others and every other key are kept as they are. Without a
/// report, `{"actions": [...]}` is created. The read-modify-write holds an
/// exclusive lock on `<run-dir>/.report.lock`.
public enum RunReport {
    public static let fileName = "report.json"
    public static let lockName = ".report.lock"
    public static let maxSize = 16 << 20

    /// Adds `records` to the report's "actions", removing the old records for
    /// which `replacing` is true (normally: those of the same phase).
    public static func record(_ records: [ActionRecord], runDirectory: String,
                              replacing: (JSON) -> Bool) throws(ActionFailure) {
        if FileIO.kind(of: runDirectory) == nil {
            do { try FileIO.makeDirectories(runDirectory, mode: 0o700) } catch {
                throw ActionFailure(.io, "cannot create the run directory \(runDirectory): \(error)")
            }
        }
        let dir: FileHandle
        do { dir = try FileIO.openDirectory(runDirectory) } catch {
            throw ActionFailure(.io, "cannot open the run directory \(runDirectory): \(error)")
        }
        let lockFD = openat(dir.fd, lockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
        guard lockFD >= 0 else { throw ActionFailure(.io, "cannot open \(runDirectory)/\(lockName): \(SystemError.current("open"))") }
        let lock = FileHandle(fd: lockFD)
        while flock(lock.fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ActionFailure(.io, "cannot lock \(runDirectory)/\(lockName): \(SystemError.current("flock"))") }
        }
        defer { flock(lock.fd, LOCK_UN) }

        let path = runDirectory + "/" + fileName
        var members: [(String, JSON)] = []
        var st = stat()
        if fstatat(dir.fd, fileName, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            let bytes: [UInt8]
            do { bytes = try FileIO.read(at: dir.fd, fileName, displayPath: path, limit: maxSize) } catch {
                throw ActionFailure(.io, "cannot read the report: \(error)")
            }
            guard case let .object(m) = (try? JSON.parse(bytes)) ?? .null else {
                throw ActionFailure(.io, "\(path) is not a JSON object; not touching it")
            }
            members = m
        }
        var kept: [JSON] = []
        if let i = members.firstIndex(where: { $0.0 == "actions" }) {
            guard case let .array(old) = members[i].1 else { throw ActionFailure(.io, "\(path): \"actions\" is not an array") }
            kept = old.filter { !replacing($0) }
            members[i].1 = .array(kept + records.map(\.json))
        } else {
            members.append(("actions", .array(records.map(\.json))))
        }
        let text = JSON.object(members).serialized() + "\n"
        do {
            try FileIO.writeAtomically(at: dir, name: fileName, displayPath: path, Array(text.utf8), mode: 0o600)
        } catch {
            throw ActionFailure(.io, "cannot write the report: \(error)")
        }
    }
}
