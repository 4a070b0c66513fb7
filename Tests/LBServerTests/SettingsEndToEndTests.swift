import Foundation
import Testing

/// The real binary: a value the flags and the file once read differently is now read by one rule.
@Suite(.serialized) struct SettingsEndToEndTests {
    private func write(_ text: String, in folder: TemporaryFolder) throws -> String {
        let path = folder.url.appendingPathComponent("lb.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The file refused `admin: off` and took `access_log: off` for a file named `off`; the flags
    /// meant "none" by both. Now the file does too.
    @Test func offInTheFileTurnsTheAdminListenerAndTheAccessLogOffAsTheFlagsDo() throws {
        let folder = try TemporaryFolder()
        let config = try write("listen: 127.0.0.1:0\nadmin: off\naccess_log: off\n", in: folder)
        let check = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
        #expect(check.status == 0, "\(check.stderr)")
        let server = try ServerProcess(lbserver: ["--config", config, "--db", folder.database], folder: folder.url)
        defer { server.stop() }
        let port = try server.waitUntilListening()
        _ = try? httpRequest(port: port)
        #expect(!server.stdout.contains("admin listening"))
        #expect(!FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("off").path))
    }

    /// `--admin :9091` was refused while `admin: ":9091"` opened the admin listener on every
    /// interface. Both refuse it now, with the same words.
    @Test func anAdminAddressWithoutAHostIsRefusedByTheFlagAndTheFileAlike() throws {
        let folder = try TemporaryFolder()
        let flag = try runProduct("lbserver", ["--admin", ":0", "--db", folder.database], folder: folder.url)
        #expect(flag.status == 64)
        #expect(flag.stderr.contains("--admin wants HOST:PORT or off, not ':0'"), "\(flag.stderr)")
        let config = try write("listen: 127.0.0.1:0\nadmin: \":0\"\n", in: folder)
        let file = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
        #expect(file.status == 65)
        #expect(file.stderr == "lbserver: \(config):2: admin wants HOST:PORT or off, not ':0'\n")
        // A bad file is 65 when started too, as it is when checked (it was 64, a usage error).
        let start = try runProduct("lbserver", ["--config", config, "--db", folder.database], folder: folder.url)
        #expect(start.status == 65)
        #expect(start.stderr == "lbserver: \(config):2: admin wants HOST:PORT or off, not ':0'\n")
        #expect(!FileManager.default.fileExists(atPath: folder.database))
    }

    /// A bare number was taken as seconds (`interval: 10`); whether seconds or minutes were meant
    /// is a guess not made: the flag and the file both ask for a unit. Zero needs none.
    @Test func aDurationWithoutAUnitIsRefusedWithTheUnitToAdd() throws {
        let folder = try TemporaryFolder()
        let flag = try runProduct("lbserver", ["--health-interval", "10", "--db", folder.database], folder: folder.url)
        #expect(flag.status == 64)
        #expect(flag.stderr.contains("--health-interval: '10' has no unit; add a unit: 10s"), "\(flag.stderr)")
        let config = try write("listen: 127.0.0.1:0\nhealth:\n  interval: 10\n", in: folder)
        let check = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
        #expect(check.status == 65)
        #expect(check.stderr == "lbserver: \(config):3: health.interval: '10' has no unit; add a unit: 10s\n")
        let start = try runProduct("lbserver", ["--config", config, "--db", folder.database], folder: folder.url)
        #expect(start.status == 65)
        #expect(start.stderr == check.stderr)
        let zero = try write("listen: 127.0.0.1:0\nslow_start: 0\n", in: folder)
        #expect(try runProduct("lbserver", ["--check-config", zero], folder: folder.url).status == 0)
    }

    /// A duration past NIO's nanosecond count trapped when turned into a timer; it is a usage error
    /// now, on both paths.
    @Test func aDurationThatOverflowsIsAUsageErrorNeverACrash() throws {
        let folder = try TemporaryFolder()
        for text in ["99999999999999999h", "9999999999h"] {
            let flag = try runProduct("lbserver", ["--health-interval", text, "--db", folder.database], folder: folder.url)
            #expect(flag.status == 64, "\(text): \(flag.stderr)")
            #expect(flag.stderr.contains("--health-interval wants a duration of at most 106751d, not '\(text)'"))
            let config = try write("health:\n  interval: \(text)\n", in: folder)
            let file = try runProduct("lbserver", ["--check-config", config], folder: folder.url)
            #expect(file.status == 65)
            #expect(file.stderr == "lbserver: \(config):2: health.interval must be a duration of at most 106751d, not '\(text)'\n")
        }
    }

    @Test func respondReadsItsAddressWithTheSameParser() throws {
        let folder = try TemporaryFolder()
        let bad = try runProduct("lbserver", ["respond", "--listen", "127.0.0.1:70000"], folder: folder.url)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--listen wants HOST:PORT with a port of 0-65535, not '127.0.0.1:70000'"), "\(bad.stderr)")
    }
}
