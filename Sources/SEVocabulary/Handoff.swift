/// Where the phases hand secrets over to other programs of the boot (the
/// one home of these paths): key files for systemd-cryptsetup, credentials
/// for systemd. The boot run wipes what the policy names there when it
/// fails, so no secret outlives a failed boot.
public struct HandoffPaths: Sendable, Equatable {
    public static let defaultKeyFileDirectory = "/run/cryptsetup-keys.d"
    public static let defaultCredentialDirectory = "/run/credentials/@initrd"
    public var keyFileDirectory = HandoffPaths.defaultKeyFileDirectory
    public var credentialDirectory = HandoffPaths.defaultCredentialDirectory
    public init() {}
    public init(keyFileDirectory: String, credentialDirectory: String) {
        self.keyFileDirectory = keyFileDirectory
        self.credentialDirectory = credentialDirectory
    }

    /// systemd-cryptsetup's name for a volume's key file: VOLUME.key.
    public static func keyFileName(volume: String) -> String { volume + ".key" }
    public func keyFile(volume: String) -> String { keyFileDirectory + "/" + HandoffPaths.keyFileName(volume: volume) }
    public func credential(_ name: String) -> String { credentialDirectory + "/" + name }
}

/// The longest wait se-secretd accepts anywhere (the boot run's deadline, a
/// device's appearance, the policy's wait for the request volume): an hour.
public enum WaitLimit {
    public static let seconds: ClosedRange<Int> = 0...3600
    public static func accepts(_ v: Double) -> Bool { v >= Double(seconds.lowerBound) && v <= Double(seconds.upperBound) }
}
