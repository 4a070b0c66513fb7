import LBServer

/// `lbserver`: the daemon and its stand-in backend, all in the `LBServer` library.
@main
enum EntryPoint {
    static func main() async {
        await LBServerMain.main()
    }
}
