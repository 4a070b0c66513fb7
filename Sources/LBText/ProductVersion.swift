/// This build's version, the one both programs print (`lbserver --version`, `lbctl --version`) and
/// the daemon records (its row of `instances`, its `startup` event, `/status`).
public enum ProductVersion {
    /// The version of swift-lb this build is.
    public static let current = "0.18.0-dev"
}
