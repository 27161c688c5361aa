#if FUZZING
/// libFuzzer's driver, linked in by `-sanitize=fuzzer`.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// One input, as libFuzzer calls it.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ClientInputPath.exercise(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// The program's entry point when built with `-sanitize=fuzzer -D FUZZING` (scripts/fuzz.sh).
/// SwiftPM links an executable's `main` to `<module>_main`, so this hands control to libFuzzer's
/// driver rather than relying on libFuzzer's own `main`.
@_cdecl("SwitchboardFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
import Foundation

/// Without libFuzzer the target replays inputs: every file named on the command line, or found
/// in a directory named there, runs through the same path. The test command replays the seed
/// corpus and every crash ever found (`Tests/FuzzCorpus`) this way.
@main
struct Replay {
    static func main() {
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            for path in files(at: argument) {
                guard let bytes = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("SwitchboardFuzz: cannot read \(path)\n".utf8))
                    exit(2)
                }
                bytes.withUnsafeBytes(ClientInputPath.exercise)
                count += 1
            }
        }
        print("replayed \(count) inputs through the client input path")
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [path] }
        guard isDirectory.boolValue else { return [path] }
        let enumerator = FileManager.default.enumerator(atPath: path)
        return (enumerator?.allObjects as? [String] ?? []).sorted().map { "\(path)/\($0)" }.filter {
            var directory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &directory) && !directory.boolValue
        }
    }
}
#endif
