/// The version reported in the welcome frame (`"server":"switchboard/<version>"`), `--version`
/// and the dashboard.
public enum SwitchboardVersion {
    public static let current = "0.2.0"
}
