import Crypto

/// The signature on every request the hub sends to the application's proxy URLs, so the backend
/// can tell a request comes from the hub and is fresh:
/// `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
///
/// The backend recomputes the HMAC over the timestamp, a dot and the raw body it received,
/// compares in constant time, and refuses timestamps too far from its clock (the README shows
/// how, in Python and JavaScript).
public enum ProxySignature {
    /// The header's name.
    public static let header = "X-Switchboard-Signature"

    /// The header's value for `body` sent at `time` (whole seconds since 1970).
    public static func value(secret: String, time: Int, body: some Collection<UInt8>) -> String {
        var message = Array("\(time).".utf8)
        message.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(time),v1=" + code.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
