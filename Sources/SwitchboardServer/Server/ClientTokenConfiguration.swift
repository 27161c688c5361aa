import Foundation
import JWTKit

/// How the hub's path checks client tokens (JWTs): the keys they may be signed with and the
/// claims they must carry. Authentication is on when any key source is set.
public struct ClientTokenConfiguration: Sendable {
    /// HS256 secret (`--auth-jwt-secret`).
    public var secret: String?
    /// RS256 and ES256 public keys (`--auth-jwt-public-key`).
    public var publicKeys: [ClientTokenKey] = []
    /// Where the identity provider publishes its keys as a JWK Set (`--auth-jwt-jwks-url`).
    public var jwksURL: String?
    /// When set, a token's `aud` must name it (`--auth-jwt-audience`).
    public var audience: String?
    /// When set, a token's `iss` must be it (`--auth-jwt-issuer`).
    public var issuer: String?

    public init() {}

    /// Whether clients on the hub's path must present a token.
    public var isEnabled: Bool { secret != nil || !publicKeys.isEmpty || jwksURL != nil }
}

/// A public key client tokens may be signed with, read from a PEM file: RS256 for an RSA key
/// (2048 bits or more), ES256 for a P-256 EC key. The file may hold the bare public key
/// (`BEGIN PUBLIC KEY`) or a certificate (`BEGIN CERTIFICATE`) whose key is used.
public struct ClientTokenKey: Sendable {
    /// The key, by algorithm.
    enum Material: Sendable {
        case rs256(JWTKit.Insecure.RSA.PublicKey)
        case es256(ES256PublicKey)
    }

    /// The file it came from, for messages.
    public let file: String
    let material: Material

    /// The JWS algorithm this key verifies: `RS256` or `ES256`.
    public var algorithm: String {
        switch material {
        case .rs256: "RS256"
        case .es256: "ES256"
        }
    }

    /// The key in the PEM file at `path`; throws a readable error when the file is missing,
    /// unreadable, or holds no RSA or P-256 public key.
    public static func load(pemFile path: String) throws -> ClientTokenKey {
        let pem: String
        do {
            pem = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ClientTokenKeyError(description: "\(path): cannot read the file (\(error.localizedDescription))")
        }
        let isCertificate = pem.contains("-----BEGIN CERTIFICATE-----")
        if let key = try? isCertificate ? JWTKit.Insecure.RSA.PublicKey(certificatePEM: pem) : JWTKit.Insecure.RSA.PublicKey(pem: pem) {
            return ClientTokenKey(file: path, material: .rs256(key))
        }
        if let key = try? isCertificate ? ES256PublicKey(certificate: pem) : ES256PublicKey(pem: pem) {
            return ClientTokenKey(file: path, material: .es256(key))
        }
        let hint =
            pem.contains("PRIVATE KEY")
            ? "it holds a private key; give the public one (openssl pkey -in key.pem -pubout)"
            : "expected a PEM RSA public key of 2048 bits or more (RS256) or a P-256 EC public key (ES256), or a certificate with one"
        throw ClientTokenKeyError(description: "\(path): not a usable token key: \(hint)")
    }
}

/// Why a token key file could not be used.
public struct ClientTokenKeyError: Error, CustomStringConvertible {
    public let description: String
}
