import Foundation
import JWTKit
import Logging
import Synchronization
import SwitchboardCore

/// Checks the JSON Web Tokens clients present on the hub's path, at the handshake and in a
/// `refresh`, through jwt-kit: the signature with a key for the token's `alg` (the HS256
/// secret, the RS256 and ES256 public keys, or the JWK Set's key named by its `kid`), `exp` and
/// `nbf`, a non-empty `sub`, `aud` and `iss` when configured, and an optional `channels` array
/// limiting what the client may subscribe and publish to.
final class ClientAuthenticator: Sendable {
    private let configuration: ClientTokenConfiguration
    /// One collection per configured key, each with its key as the default, so a token without
    /// a `kid` is tried against every key of its algorithm.
    private let fixedKeys: [(algorithm: String, keys: JWTKeyCollection)]
    private let jwks: JWKSKeySet?
    /// jwt-kit's key collections are actors whose keys are added asynchronously, so the keys are
    /// added on first use rather than from a task started in the initialiser.
    private let keysAdded = Atomic<Bool>(false)

    init(configuration: ClientTokenConfiguration, logger: Logger) {
        self.configuration = configuration
        var fixed = configuration.secret.map { _ in [(algorithm: "HS256", keys: JWTKeyCollection())] } ?? []
        fixed += configuration.publicKeys.map { (algorithm: $0.algorithm, keys: JWTKeyCollection()) }
        self.fixedKeys = fixed
        self.jwks = configuration.jwksURL.map { JWKSKeySet(url: $0, logger: logger) }
    }

    /// The algorithms of the configured keys, for messages: `ES256, HS256`.
    private var accepted: String {
        Set(fixedKeys.map(\.algorithm)).sorted().joined(separator: ", ")
    }

    private func addKeys() async {
        guard !keysAdded.load(ordering: .acquiring) else { return }
        // Adding the same key twice (two first handshakes at once) is harmless.
        var collections = fixedKeys.map(\.keys)[...]
        if let secret = configuration.secret {
            await collections.removeFirst().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        }
        for (key, collection) in zip(configuration.publicKeys, collections) {
            switch key.material {
            case .rs256(let key): await collection.add(rsa: key, digestAlgorithm: .sha256)
            case .es256(let key): await collection.add(ecdsa: key)
            }
        }
        keysAdded.store(true, ordering: .releasing)
    }

    /// The identity in `token`, or why it was refused (said to the client in the 401 or the
    /// `invalid_token` error).
    func authenticate(_ token: String?) async -> Result<ClientIdentity, AuthenticationFailure> {
        guard let token, !token.isEmpty else {
            return .failure(AuthenticationFailure(reason: "a token is required: send Authorization: Bearer <jwt> or ?token=<jwt>"))
        }
        let header: JWTHeader
        do {
            header = try DefaultJWTParser().parse([UInt8](token.utf8), as: ClientClaims.self).header
        } catch {
            return .failure(AuthenticationFailure(reason: "token rejected: malformed token"))
        }
        do {
            let claims = try await verify(token, algorithm: header.alg ?? "none", kid: header.kid)
            if let audience = configuration.audience {
                guard let claimed = claims.aud, claimed.value.contains(audience) else {
                    return .failure(AuthenticationFailure(reason: "token rejected: its aud does not name \"\(audience)\""))
                }
            }
            if let issuer = configuration.issuer, claims.iss?.value != issuer {
                return .failure(AuthenticationFailure(reason: "token rejected: its iss is not \"\(issuer)\""))
            }
            let identity = ClientIdentity(
                user: claims.sub.value, grant: claims.channels.map(ChannelGrant.init), expiresAt: claims.exp?.value.timeIntervalSince1970)
            return .success(identity)
        } catch let failure as AuthenticationFailure {
            return .failure(failure)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            return .failure(AuthenticationFailure(reason: "token rejected: \(error.reason ?? "a claim is not valid")"))
        } catch {
            return .failure(AuthenticationFailure(reason: "token rejected: bad signature or malformed token"))
        }
    }

    /// The verified claims: a `kid` the JWK Set knows goes to it, anything else to the
    /// configured keys of the token's `alg` (and, failing those, the JWK Set).
    private func verify(_ token: String, algorithm: String, kid: String?) async throws -> ClientClaims {
        await addKeys()
        if let jwks, let kid, await jwks.knows(kid) {
            return try await jwks.verify(token, kid: kid)
        }
        let candidates = fixedKeys.filter { $0.algorithm == algorithm }
        for candidate in candidates {
            do {
                return try await candidate.keys.verify(token, as: ClientClaims.self)
            } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
                continue
            }
        }
        if let jwks {
            return try await jwks.verify(token, kid: kid)
        }
        if candidates.isEmpty {
            throw AuthenticationFailure(reason: "token rejected: alg \(algorithm) is not accepted; this server takes \(accepted)")
        }
        throw JWTError.signatureVerificationFailed
    }
}

/// Why a client's token was refused.
struct AuthenticationFailure: Error {
    let reason: String
}

/// The claims Switchboard reads from a client token.
struct ClientClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?
    var aud: AudienceClaim?
    var iss: IssuerClaim?
    var channels: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
        guard !sub.value.isEmpty else { throw JWTError.claimVerificationFailure(failedClaim: sub, reason: "sub is empty") }
    }
}
