#if !LB_FUZZ
/// The process entry point; left out of the fuzzing build, where libFuzzer brings its own.
@main
enum EntryPoint {
    static func main() async {
        await LBServerMain.main()
    }
}
#endif
