import lbctl

/// `lbctl`: the operator's command line, all in the `lbctl` library.
@main
enum EntryPoint {
    static func main() {
        LBCtl.main()
    }
}
