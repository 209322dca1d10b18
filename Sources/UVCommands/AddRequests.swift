import ASRCodec
import SEBase
import SECrypto
import UVDevice

/// `se-secretd add FILE...`: every file is read once, checked strictly and
/// (when sysfs lists host-key hashes) checked to have a keyslot for this
/// machine before anything is submitted; then the requests go to the
/// ultravisor in the given order. The first refusal stops the run.
public enum AddRequests {
    public struct Loaded {
        public let path: String
        public let request: AddSecretRequest
        public var sha256: [UInt8] { Digest.sha256(request.bytes) }
    }

    /// Reads and checks the files; nothing is submitted.
    public static func load(_ paths: [String], hostKeys: HostKeyHashes?) throws -> [Loaded] {
        var out: [Loaded] = []
        for path in paths {
            let bytes: [UInt8]
            do {
                bytes = try FileIO.read(path, limit: ASRLayout.maxSize, followSymlinks: true)
            } catch let e as FileIO.TooLarge {
                throw CommandFailure(.invalidInput, "\(e)")
            } catch {
                throw CommandFailure(.input, "cannot read \(path): \(error)")
            }
            let request: AddSecretRequest
            do { request = try AddSecretRequest.parse(bytes) } catch {
                throw CommandFailure(.invalidInput, "\(path): not a valid add-secret request: \(error) [\(error.rule)]")
            }
            if let known = hostKeys?.knownHashes, !known.isEmpty, !request.hasKeyslot(forAnyOf: known) {
                throw CommandFailure(.invalidInput,
                    "\(path): no keyslot is for this machine's host key (the ultravisor would refuse it with 0x0108)")
            }
            out.append(Loaded(path: path, request: request))
        }
        return out
    }

    /// Submits loaded requests in order; `added` is called after each. No
    /// retries: a transient answer is reported as retryable.
    public static func submit(_ requests: [Loaded], client: UVClient, added: (Loaded) -> Void) throws {
        for (i, r) in requests.enumerated() {
            let error: UVError
            switch RequestSubmitter.once.submit(r.request.bytes, to: client) {
            case .added:
                added(r)
                continue
            case let .refused(f, _), let .stillTransient(f, _): error = .ultravisor(f)
            case let .driverFailed(e, _): error = e
            }
            let done = i == 0 ? "nothing was added" : "\(i) request(s) before it were added"
            var f = CommandFailure.from(error, context: r.path)
            if f.callFailure?.isRetryable == true {
                f = CommandFailure(f.kind, f.message + " (retryable)", callFailure: f.callFailure)
            }
            throw CommandFailure(f.kind, "\(f.message); \(done)", callFailure: f.callFailure)
        }
    }
}
