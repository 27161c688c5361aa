import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Facts about the process's share of the machine.
public enum SystemResources {
    /// CPUs in this process's affinity mask (so `taskset -c 0 switchboard` means one event loop);
    /// NIO's own default reads the cgroup quota instead.
    public static var availableCPUs: Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
            let count = cpuCount(inList: line.dropFirst("Cpus_allowed_list:".count)), count > 0
        {
            return count
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Counts the CPUs in a Linux CPU list such as `0-3,8,10-11`.
    static func cpuCount(inList list: Substring) -> Int? {
        var total = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard bounds[0] != nil else { return nil }
                total += 1
            case 2:
                guard let low = bounds[0], let high = bounds[1], high >= low else { return nil }
                total += high - low + 1
            default: return nil
            }
        }
        return total
    }

    /// Raises the soft open-files limit to the hard limit and returns the resulting soft limit.
    @discardableResult
    public static func raiseOpenFileLimit() -> Int {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }
}
