import LBStore

/// Reads a backend URL from the command line the way the daemon does (`BackendURL`) and finds the
/// backend it names in the registry.
enum BackendArgument {
    /// The registry's spelling of `text`, or an exit-65 error naming what is wrong with it.
    static func canonical(_ text: String) throws(CLIError) -> String {
        do {
            return try BackendURL(parsing: text).text
        } catch {
            throw .malformed(error.description)
        }
    }

    /// The backend `text` names: by its canonical spelling, else exactly as typed (a row written
    /// by an older version). A removed backend is found only when `includeRemoved` is set.
    static func resolve(_ text: String, in store: Store, includeRemoved: Bool) throws -> Backend {
        let trimmed = text.trimmingSpaces
        let canonicalURL: String?
        let parseError: CLIError?
        do {
            canonicalURL = try canonical(trimmed)
            parseError = nil
        } catch {
            canonicalURL = nil
            parseError = error
        }
        for candidate in [canonicalURL, trimmed].compactMap({ $0 }) {
            if let backend = try store.backend(url: candidate), includeRemoved || !backend.isRemoved {
                return backend
            }
        }
        if let parseError { throw parseError }
        throw CLIError.malformed("no backend \(canonicalURL ?? trimmed) in the registry of \(store.path)")
    }
}
