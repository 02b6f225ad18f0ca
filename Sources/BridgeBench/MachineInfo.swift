import Foundation

/// The machine and build a bench ran on, so figures from different runs can be compared fairly.
public struct MachineInfo: Codable, Sendable {
    public var cores: Int
    public var memoryBytes: UInt64
    /// The distribution's name and the kernel release, e.g. `Ubuntu 24.04.2 LTS (Linux 6.8.0)`.
    public var os: String
    /// `debug` or `release`: debug builds are several times slower on the Swift side.
    public var buildConfiguration: String
    /// The server's `server_version`.
    public var postgresVersion: String
    /// The server settings that bound commit rates: `fsync`, `synchronous_commit`, `shared_buffers`.
    public var postgresSettings: String
    /// The database server measured against, without credentials.
    public var database: String

    /// This machine's facts; the database ones come from the caller.
    static func current(postgresVersion: String, postgresSettings: String, database: String) -> MachineInfo {
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return MachineInfo(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryBytes: ProcessInfo.processInfo.physicalMemory,
            os: osDescription(),
            buildConfiguration: build,
            postgresVersion: postgresVersion,
            postgresSettings: postgresSettings,
            database: database
        )
    }

    /// One line for people: `2 cores, 7.8 GiB, Ubuntu 24.04 (Linux 6.8.0), release build, PostgreSQL 16.4`.
    public var summary: String {
        let gibibytes = Double(memoryBytes) / 1_073_741_824
        return "\(cores) cores, \(String(format: "%.1f", gibibytes)) GiB, \(os), \(buildConfiguration) build, PostgreSQL \(postgresVersion)"
    }

    private static func osDescription() -> String {
        var name = "unknown OS"
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
            let line = release.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") })
        {
            name = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        var info = utsname()
        guard uname(&info) == 0 else { return name }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return "\(name) (\(text(info.sysname)) \(text(info.release)))"
    }
}
