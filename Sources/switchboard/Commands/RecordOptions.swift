import ArgumentParser
import ConsoleRuntime
import Foundation
import SwitchboardConfiguration

/// `--record FILE` and `--record-max-size`, for the consoles that can be recorded (`serve`'s
/// local console and `attach`).
struct RecordOptions: ParsableArguments {
    @Option(
        name: .customLong("record"),
        help: ArgumentHelp(
            "Record what the console receives (snapshots, events, trace lines) to this gzip file of JSON lines; `switchboard replay FILE` plays it back.",
            valueName: "file"))
    var path: String?

    @Option(
        name: .customLong("record-max-size"),
        help: ArgumentHelp(
            "Disk the recording may use, e.g. 64MiB or 1GiB: when FILE reaches half of it, it becomes FILE.1 (dropping the older FILE.1) and a new FILE starts.",
            valueName: "bytes"))
    var maxSize = "256MiB"

    /// The recorder `--record` asks for (nil without it); a bad size or an unwritable file
    /// prints one line and exits 2.
    func recorder(server: String) throws -> SessionRecorder? {
        guard let path else { return nil }
        guard let bytes = ByteSize.parse(maxSize), bytes >= SessionRecorder.minimumMaxSize else {
            FileHandle.standardError.write(
                Data("switchboard: --record-max-size must be a size of at least 64KiB, e.g. 256MiB (got '\(maxSize)')\n".utf8))
            throw ExitCode(2)
        }
        do {
            return try SessionRecorder(path: path, server: server, maxSize: bytes)
        } catch {
            FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

extension SessionRecorder {
    /// Ends the recording; says on stderr if it stopped early or had to drop anything.
    func closeAndReport() {
        close()
        if let failure { FileHandle.standardError.write(Data("switchboard: \(failure)\n".utf8)) }
        if dropped > 0 {
            FileHandle.standardError.write(Data("switchboard: the recording left out \(dropped) updates (the disk fell behind)\n".utf8))
        }
    }
}
