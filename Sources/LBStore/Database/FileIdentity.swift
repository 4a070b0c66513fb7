import Foundation

/// Which file a path names: its device and inode. A database opened at a path and the file at
/// that path now differ when the file was deleted, renamed or replaced since.
public struct FileIdentity: Equatable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    /// The identity of the file at `path`, or nil when there is none.
    public static func of(_ path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Throws `orphaned` when the file at `path` is no longer `opened`, saying what happened.
    static func check(_ path: String, opened: FileIdentity) throws(StoreError) {
        guard let now = of(path) else {
            throw StoreError(.orphaned, "\(path) was deleted or renamed after it was opened; not writing into the "
                             + "file left open (put it back, or restart on the database now at that path)")
        }
        guard now == opened else {
            throw StoreError(.orphaned, "\(path) was replaced by another file after it was opened; not writing into "
                             + "the old one (restart on the new database to use it)")
        }
    }
}
