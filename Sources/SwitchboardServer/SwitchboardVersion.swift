/// The version reported in the welcome frame (`"server":"switchboard/<version>"`) and `--version`.
public enum SwitchboardVersion {
    public static let current = "0.1.0"
}
