// The one version every tool prints (--version) and every trace names (shb_userappl).
public enum FlowTableVersion {
    public static let version = "0.1.0"
}
