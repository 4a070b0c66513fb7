import ArgumentParser

/// `lbserver`'s flags about the config file itself: the file to read, or one to check and exit.
/// Not settings: they say where the settings come from.
struct ConfigFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("YAML config file; flags override what it says.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Validate this config file, print what it sets, and exit (65 if it is bad).",
                               valueName: "file"))
    var checkConfig: String?
}
