import Foundation
import SwitchboardServer

/// The settings of the proxies to the application (`proxy-*`), at the end of ``Setting/all``.
extension Setting {
    static let proxySettings: [Setting] = [
        .url(
            "proxy-connect-url",
            "Ask the application at this URL whether a native client that brings no valid JWT may connect, and as whom (JSON POST; see the README's proxies section). Its error refuses the upgrade with 403; no answer, 503",
            \.server.hub.proxy.connectURL),
        .url(
            "proxy-subscribe-url",
            "Ask the application at this URL before a native client subscribes (to every channel, or those of [[channels]] tables with proxy_subscribe = true)",
            \.server.hub.proxy.subscribeURL),
        .url(
            "proxy-publish-url",
            "Ask the application at this URL before a native client publishes (to every channel, or those of [[channels]] tables with proxy_publish = true); it may replace the data",
            \.server.hub.proxy.publishURL),
        .url(
            "proxy-refresh-url", "Ask the application at this URL when a connection the connect proxy accepted reaches its expire_at",
            \.server.hub.proxy.refreshURL),
        .seconds(
            "proxy-timeout", "How long a proxy request may take, waiting for a free slot included; then the client gets \"unavailable\"",
            example: "0.5", \.server.hub.proxy.timeout),
        Setting(
            key: "proxy-headers", valueName: "names",
            help: "Comma-separated handshake headers passed on to the connect proxy (cookies are the Cookie header)",
            example: "Cookie,X-Tenant", value: { $0.server.hub.proxy.headers.joined(separator: ",") },
            apply: { configuration, value throws(SettingError) in
                let names = try value.text(nonEmpty: true).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard names.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" } }) else {
                    throw SettingError(expected: "header names separated by commas, e.g. Cookie,Authorization")
                }
                configuration.server.hub.proxy.headers = names
            }),
        .integer(
            "proxy-concurrency",
            "Proxy requests in flight at once on this node; \(ProxyConfiguration.queueFactor)x as many more wait, and beyond that the client gets \"overloaded\"",
            range: 1...10_000, example: 8, \.server.hub.proxy.concurrency),
        Setting(
            key: "proxy-secret", valueName: "secret",
            help:
                "Sign every proxy request: X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")> (16+ characters)",
            shownDefault: "off, unsigned", example: "a-proxy-secret-0123456789", value: { $0.server.hub.proxy.secret == nil ? "off" : "set" },
            apply: { configuration, value throws(SettingError) in
                let secret = try value.text(nonEmpty: true)
                guard secret.utf8.count >= 16 else { throw SettingError(expected: "a secret of at least 16 bytes") }
                configuration.server.hub.proxy.secret = secret
            }),
        .integer(
            "proxy-breaker-failures", "Consecutive failures of one proxy (timeout, no connection, 5xx, bad answer) that open its circuit breaker",
            range: 1...1000, example: 3, \.server.hub.proxy.breakerFailures),
        .seconds(
            "proxy-breaker-cooldown", "How long an open proxy circuit refuses at once (\"unavailable\") before one request probes the backend",
            example: "0.5", \.server.hub.proxy.breakerCooldown),
    ]

    /// An `http://` or `https://` URL, off by default.
    static func url(_ key: String, _ help: String, _ path: any WritableKeyPath<SwitchboardSettings, String?> & Sendable) -> Setting {
        Setting(
            key: key, valueName: "url", help: help, example: "http://127.0.0.1:3000/switchboard/\(key)", value: { $0[keyPath: path] ?? "off" },
            apply: { configuration, value throws(SettingError) in
                let url = try value.text(nonEmpty: true)
                guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > "https://".count else {
                    throw SettingError(expected: "an http:// or https:// URL")
                }
                configuration[keyPath: path] = url
            })
    }
}
