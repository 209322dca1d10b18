import Foundation
import Testing
import TestSupport
import SEBase
@testable import SecretActions

/// A new root at `root` with the usual account files.
func makeRoot(at root: String) throws -> String {
    for d in ["etc/ssh", "etc/ssl/private", "root"] {
        try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
    }
    try write(root + "/etc/passwd", Array("root:x:0:0:root:/root:/bin/bash\nsshd:x:105:65534::/run/sshd:/usr/sbin/nologin\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nalice:x:1234:1234:Alice:/home/alice:/bin/bash\n".utf8))
    try write(root + "/etc/group", Array("root:x:0:\nssl-cert:x:111:\nwww-data:x:33:\nalice:x:1234:\n".utf8))
    try write(root + "/etc/shadow", Array(shadowText.utf8), mode: 0o640)
    chown(root + "/etc/shadow", 0, 42)
    return root
}

let shadowText = """
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
alice:!:19001:0:99999:7:::
bob:$6$old$abcdefg:19002:0:99999:7::: 
# a comment line kept as it is
rootless:x:1:2:3:4:5:6:
"""

extension SafeTree {
    func write(_ path: String, _ bytes: [UInt8], _ a: FileAttributes, replace: Bool = false, createParents: Bool = false) throws -> WriteOutcome {
        try bytes.withUnsafeBytes { try write(path, $0, attributes: a, replace: replace, createParents: createParents) }
    }
}

@Suite struct FileTests {
    @Test func modesOwnersAndAtomicReplacement() throws {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let tree = try SafeTree(root)
        #expect(try tree.write("/etc/app.conf", Array("one".utf8), FileAttributes(mode: 0o640, uid: 1234, gid: 33)) == .created)
        let m = fileMode(root + "/etc/app.conf")
        #expect(m?.mode == 0o640 && m?.uid == 1234 && m?.gid == 33)
        // Same contents and attributes: nothing to do, even without replace.
        #expect(try tree.write("/etc/app.conf", Array("one".utf8), FileAttributes(mode: 0o640, uid: 1234, gid: 33)) == .unchanged)
        // Other contents: refused without replace, file untouched.
        let e = #expect(throws: ActionFailure.self) {
            try tree.write("/etc/app.conf", Array("two".utf8), FileAttributes(mode: 0o640, uid: 1234, gid: 33))
        }
        #expect(e?.kind == .io && e?.message.contains("replace") == true)
        #expect(try read(root + "/etc/app.conf") == Array("one".utf8))
        // With replace: a new inode renamed over the old one, no temporary left behind.
        var before = stat()
        lstat(root + "/etc/app.conf", &before)
        #expect(try tree.write("/etc/app.conf", Array("two".utf8), FileAttributes(mode: 0o600), replace: true) == .replaced)
        var after = stat()
        lstat(root + "/etc/app.conf", &after)
        #expect(before.st_ino != after.st_ino)
        #expect(try read(root + "/etc/app.conf") == Array("two".utf8))
        #expect(fileMode(root + "/etc/app.conf")?.mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/etc").filter { $0.contains("se-secretd") }.isEmpty)
        // Set-user-ID survives the chown (mode is applied after the owner).
        #expect(try tree.write("/etc/suid", [1], FileAttributes(mode: 0o4755, uid: 33, gid: 33)) == .created)
        #expect(fileMode(root + "/etc/suid")?.mode == 0o4755)
    }

    @Test func missingParentsOnlyWhenAllowed() throws {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let tree = try SafeTree(root)
        let e = #expect(throws: ActionFailure.self) { try tree.write("/opt/app/conf/key", [1], FileAttributes(mode: 0o600)) }
        #expect(e?.message.contains("create_parents") == true)
        #expect(!FileManager.default.fileExists(atPath: root + "/opt"))
        #expect(try tree.write("/opt/app/conf/key", [1], FileAttributes(mode: 0o600), createParents: true) == .created)
        for d in ["/opt", "/opt/app", "/opt/app/conf"] {
            let m = fileMode(root + d)
            #expect(m?.mode == 0o755 && m?.uid == 0 && m?.gid == 0)
        }
    }

    @Test func symlinksAreNeverFollowed() throws {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let outsideDir = try TempDir("outside")
        let outside = outsideDir.path
        try write(outside + "/victim", Array("untouched".utf8))
        let tree = try SafeTree(root)
        // At the target.
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/ssh/ssh_host_ed25519_key", withDestinationPath: outside + "/victim")
        for replace in [false, true] {
            let e = #expect(throws: ActionFailure.self) {
                try tree.write("/etc/ssh/ssh_host_ed25519_key", Array("secret".utf8), FileAttributes(mode: 0o600), replace: replace)
            }
            #expect(e?.message.contains("symbolic link") == true)
        }
        // A dangling link at the target.
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/dangling", withDestinationPath: outside + "/new")
        #expect(throws: ActionFailure.self) { try tree.write("/etc/dangling", [1], FileAttributes(mode: 0o600), replace: true) }
        #expect(!FileManager.default.fileExists(atPath: outside + "/new"))
        // In a parent directory, also with create_parents.
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/ssl/certs", withDestinationPath: outside)
        for create in [false, true] {
            let e = #expect(throws: ActionFailure.self) {
                try tree.write("/etc/ssl/certs/server.crt", [1], FileAttributes(mode: 0o644), replace: true, createParents: create)
            }
            #expect(e?.message.contains("symbolic link") == true)
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/home", withDestinationPath: outside)
        #expect(throws: ActionFailure.self) {
            try tree.write("/home/alice/.ssh/authorized_keys", [1], FileAttributes(mode: 0o600), createParents: true)
        }
        #expect(try read(outside + "/victim") == Array("untouched".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["victim"])
        // Reading account files through a link is refused too.
        try FileManager.default.removeItem(atPath: root + "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/passwd", withDestinationPath: "/etc/passwd")
        #expect(throws: ActionFailure.self) { try Accounts(tree: tree) }
    }

    @Test func ownersFromTheNewRootsAccounts() throws {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let a = try Accounts(tree: try SafeTree(root))
        #expect(try a.uid(.name("alice")) == 1234)
        #expect(try a.uid(.name("sshd")) == 105)
        #expect(try a.uid(.id(7)) == 7)
        #expect(try a.gid(.name("ssl-cert")) == 111)
        #expect(try a.gid(.name("www-data")) == 33)
        #expect(throws: ActionFailure.self) { try a.uid(.name("nobody-here")) }
        #expect(throws: ActionFailure.self) { try a.gid(.name("alice2")) }
    }

    @Test func shadowChangesOneFieldOnly() throws {
        let rootDir = try TempDir("root")
        let root = try makeRoot(at: rootDir.path)
        let tree = try SafeTree(root)
        let hash = "$y$j9T$abcdefghijklmnop$ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./abcde"
        let h = try ShadowFile.hash(from: SecureBytes(copying: Array((hash + "\n").utf8)))
        #expect(h.equals(Array(hash.utf8)))
        #expect(try ShadowFile.set(user: "alice", hash: h, in: tree) == .replaced)
        let expected = shadowText.replacingOccurrences(of: "alice:!:", with: "alice:\(hash):")
        #expect(try read(root + "/etc/shadow") == Array(expected.utf8))
        let m = fileMode(root + "/etc/shadow")
        #expect(m?.mode == 0o640 && m?.uid == 0 && m?.gid == 42)
        #expect(try ShadowFile.set(user: "alice", hash: h, in: tree) == .unchanged)
        #expect(try ShadowFile.set(user: "root", hash: h, in: tree) == .replaced)
        let lines = try String(contentsOfFile: root + "/etc/shadow", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "root:\(hash):19000:0:99999:7:::")
        #expect(lines[3] == "bob:$6$old$abcdefg:19002:0:99999:7::: ", "other lines keep every byte, trailing blanks included")
        // Unknown user, a clear-text password, a hash with a colon: refused.
        #expect(throws: ActionFailure.self) { try ShadowFile.set(user: "mallory", hash: h, in: tree) }
        for bad in ["hunter2", "$6$salt$has:colon", "$6$", "$6$salt$with space"] {
            #expect(throws: ActionFailure.self) { try ShadowFile.hash(from: SecureBytes(copying: Array(bad.utf8))) }
        }
    }

    @Test(.enabled(if: TempDir.hasMemoryFilesystem, "no tmpfs at /dev/shm"))
    func handoffDirectory() throws {
        let shmDir = try #require(try TempDir.inMemory("handoff"))
        let shm = shmDir.path
        let dir = try HandoffDirectory(shm + "/credentials/@initrd", mode: 0o700)
        #expect(fileMode(shm + "/credentials")?.mode == 0o755 && fileMode(shm + "/credentials/@initrd")?.mode == 0o700)
        #expect(try dir.write("ssh.authorized_keys.root", SecureBytes(copying: [1, 2, 3]), mode: 0o400) == .created)
        #expect(fileMode(shm + "/credentials/@initrd/ssh.authorized_keys.root")?.mode == 0o400)
        #expect(try dir.wipeAndRemove("ssh.authorized_keys.root"))
        #expect(try !dir.wipeAndRemove("ssh.authorized_keys.root"))
        // Not on tmpfs: refused, unless waived.
        let diskDir = try TempDir("disk")
        let disk = diskDir.path
        if (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8))?.contains(" \(FileManager.default.temporaryDirectory.path) tmpfs") != true {
            let e = #expect(throws: ActionFailure.self) { try HandoffDirectory(disk + "/keys", mode: 0o700) }
            #expect(e?.message.contains("tmpfs") == true)
        }
        _ = try HandoffDirectory(disk + "/keys", mode: 0o700, requireMemoryFileSystem: false)
        // A symlink as the directory itself: refused.
        try FileManager.default.createSymbolicLink(atPath: shm + "/linked", withDestinationPath: disk)
        #expect(throws: ActionFailure.self) { try HandoffDirectory(shm + "/linked", mode: 0o700) }
    }

    @Test func reportRecordsReplaceTheirPhase() throws {
        let runDir = try TempDir("run")
        let run = runDir.path
        try write(run + "/report.json", Array(#"{"verdict": "ok", "requests": [1, 2], "actions": [{"phase": "unlock", "x": 1}, {"phase": "other"}]}"#.utf8), mode: 0o600)
        let r = ActionRecord(phase: "unlock", secret: "luks-root", action: "luks", target: "LABEL=root as /dev/mapper/root",
                             result: .ok, message: "opened", milliseconds: 3)
        try RunReport.record([r, r], runDirectory: run) { $0["phase"] == .string("unlock") }
        let json = try JSON.parse(try read(run + "/report.json"))
        #expect(json["verdict"] == .string("ok") && json["requests"] == .array([.int(1), .int(2)]))
        guard case let .array(actions)? = json["actions"] else { Issue.record("no actions"); return }
        #expect(actions.count == 3 && actions[0] == .object([("phase", .string("other"))]) && actions[1] == r.json)
        #expect(fileMode(run + "/report.json")?.mode == 0o600)
        // A fresh run directory gets {"actions": [...]}.
        let freshDir = try TempDir("run")
        let fresh = freshDir.appending("sub")
        try RunReport.record([r], runDirectory: fresh) { _ in true }
        #expect(try JSON.parse(try read(fresh + "/report.json")) == .object([("actions", .array([r.json]))]))
        // Something that is not a JSON object is left alone.
        try write(run + "/report.json", Array("[1]".utf8), mode: 0o600)
        #expect(throws: ActionFailure.self) { try RunReport.record([r], runDirectory: run) { _ in true } }
        #expect(try read(run + "/report.json") == Array("[1]".utf8))
    }
}
