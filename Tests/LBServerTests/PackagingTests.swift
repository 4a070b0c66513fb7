import Foundation
import Testing

/// `scripts/install` and `scripts/package`: what a host without Swift gets, installed into a clean
/// root and run from there. The test packages the binaries of this build (which load the Swift
/// runtime; a production build links it in, and scripts/package refuses one that does not).
@Suite(.serialized) struct PackagingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs a script of the repository with `environment` added to the test's own.
    private func script(_ name: String, _ arguments: [String], environment: [String: String], folder: URL,
                        timeout: Duration = .seconds(120)) throws -> (status: Int32, stdout: String, stderr: String) {
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let wrapper = folder.appendingPathComponent("run-\(name).sh")
        let exports = environment.map { "export \($0.key)='\($0.value)'" }.joined(separator: "\n")
        try "#!/bin/sh\n\(exports)\nexec \(Self.root.path)/scripts/\(name) \"$@\"\n"
            .write(to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        return try runTool(wrapper.path, arguments, folder: folder, timeout: timeout)
    }

    @Test func theDebianPackageInstallsIntoACleanRootAndItsDaemonRunsFromThere() throws {
        let folder = try TemporaryFolder()
        let products = ServerProcess.productsFolder.path
        let built = try script("package", [folder.url.path],
                               environment: ["LB_BINARIES": products, "LB_ALLOW_UNPACKAGED": "1", "LB_DEB_COMPRESSION": "none"],
                               folder: folder.url)
        #expect(built.status == 0, "\(built.stderr)")
        let deb = try #require(built.stdout.split(separator: "\n").last.map(String.init))
        #expect(deb.hasSuffix(".deb") && FileManager.default.fileExists(atPath: deb), "\(built.stdout)")

        let info = try runTool("/usr/bin/dpkg-deb", ["--field", deb, "Package", "Version", "Depends"], folder: folder.url)
        #expect(info.stdout.contains("Package: lbserver"), "\(info.stdout)")
        #expect(info.stdout.contains("libsqlite3-0") && info.stdout.contains("adduser"), "\(info.stdout)")
        let control = folder.url.appendingPathComponent("control").path
        #expect(try runTool("/usr/bin/dpkg-deb", ["--control", deb, control], folder: folder.url).status == 0)
        #expect(try String(contentsOfFile: control + "/conffiles", encoding: .utf8) == "/etc/lb/lb.yaml\n")
        for maintainerScript in ["postinst", "prerm", "postrm"] {
            let checked = try runTool("/bin/sh", ["-n", control + "/" + maintainerScript], folder: folder.url)
            #expect(checked.status == 0, "\(maintainerScript): \(checked.stderr)")
        }
        let postinst = try String(contentsOfFile: control + "/postinst", encoding: .utf8)
        #expect(postinst.contains("adduser --system") && postinst.contains("/var/lib/lb"))

        // The clean root: nothing but what the package holds.
        let clean = folder.url.appendingPathComponent("root")
        #expect(try runTool("/usr/bin/dpkg-deb", ["--extract", deb, clean.path], folder: folder.url).status == 0)
        for path in ["usr/bin/lbserver", "usr/bin/lbctl", "etc/lb/lb.yaml", "lib/systemd/system/lbserver.service",
                     "usr/share/bash-completion/completions/lbctl", "usr/share/zsh/vendor-completions/_lbserver",
                     "usr/share/fish/vendor_completions.d/lbctl.fish", "usr/share/doc/lbserver/README.md",
                     "usr/share/man/man1/lbserver.1.gz", "usr/share/man/man1/lbctl.1.gz", "usr/share/man/man1/lbctl.why.1.gz"] {
            #expect(FileManager.default.fileExists(atPath: clean.appendingPathComponent(path).path), "\(path) missing")
        }
        let unit = try String(contentsOf: clean.appendingPathComponent("lib/systemd/system/lbserver.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/lbserver --config /etc/lb/lb.yaml --db /var/lib/lb/lb.sqlite3"))

        let lbserver = clean.appendingPathComponent("usr/bin/lbserver").path
        let config = clean.appendingPathComponent("etc/lb/lb.yaml").path
        let checked = try runTool(lbserver, ["--check-config", config], folder: folder.url)
        #expect(checked.status == 0, "\(checked.stderr)")
        // The installed daemon on the installed config (ports moved to ones the OS chooses).
        let server = try ServerProcess(lbserver: ["--config", config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                                                  "--db", folder.database], folder: folder.url, executable: lbserver)
        defer { server.stop() }
        try server.waitUntilListening()
        #expect(try httpRequest(port: server.adminPort, "GET", "/status").status == 200)
        let backends = try runTool(clean.appendingPathComponent("usr/bin/lbctl").path, ["backends", "--db", folder.database],
                                   folder: folder.url)
        #expect(backends.status == 0 && backends.stdout.contains("http://127.0.0.1:8081"), "\(backends.stdout)\(backends.stderr)")
    }

    @Test func installHonoursPrefixAndDestdirAndKeepsAnEditedConfiguration() throws {
        let folder = try TemporaryFolder()
        let stage = folder.url.appendingPathComponent("stage")
        try FileManager.default.createDirectory(at: stage.appendingPathComponent("etc/lb"), withIntermediateDirectories: true)
        try "listen: 127.0.0.1:9999\n".write(to: stage.appendingPathComponent("etc/lb/lb.yaml"), atomically: true, encoding: .utf8)
        let installed = try script("install", [], environment: [
            "LB_BINARIES": ServerProcess.productsFolder.path, "DESTDIR": stage.path, "PREFIX": "/opt/lb",
        ], folder: folder.url)
        #expect(installed.status == 0, "\(installed.stderr)")
        #expect(FileManager.default.isExecutableFile(atPath: stage.appendingPathComponent("opt/lb/bin/lbserver").path))
        let unit = try String(contentsOf: stage.appendingPathComponent("lib/systemd/system/lbserver.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/lb/bin/lbserver"), "\(unit)")
        #expect(unit.contains("ExecReload=/opt/lb/bin/lbserver reload"))
        #expect(try String(contentsOf: stage.appendingPathComponent("etc/lb/lb.yaml"), encoding: .utf8) == "listen: 127.0.0.1:9999\n",
                "an edited configuration is kept")
    }
}
