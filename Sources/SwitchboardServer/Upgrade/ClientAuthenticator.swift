import JWTKit
import Synchronization
import SwitchboardCore

/// Who a native-protocol client is, once its token checked out.
struct ClientIdentity: Sendable {
    /// The token's `sub`; nil when authentication is off.
    var user: String?
    /// The token's `channels` claim; nil grants every channel.
    var grant: ChannelGrant?

    static let anonymous = ClientIdentity(user: nil, grant: nil)

    /// Whether this client may subscribe or publish to `channel`.
    func permits(_ channel: String) -> Bool {
        grant?.permits(channel) ?? true
    }

    /// Whether a token names `channel` in its `channels` claim (anonymous clients have no grant).
    func grantsExplicitly(_ channel: String) -> Bool {
        grant?.permits(channel) ?? false
    }
}

/// Checks the HS256 JSON Web Tokens clients present on the hub's path (`--auth-jwt-secret`),
/// through jwt-kit: signature, `exp` and `nbf`, a non-empty `sub`, and an optional `channels`
/// array limiting what the client may subscribe and publish to.
final class ClientAuthenticator: Sendable {
    private let secret: String
    /// jwt-kit's key collection is an actor whose keys are added asynchronously, so the key is
    /// added on first use rather than from a task started in the initialiser.
    private let keys = JWTKeyCollection()
    private let keyAdded = Atomic<Bool>(false)

    init(secret: String) {
        self.secret = secret
    }

    /// The key collection, with the secret in it.
    private func verifier() async -> JWTKeyCollection {
        if !keyAdded.load(ordering: .acquiring) {
            // Adding the same key twice (two first handshakes at once) is harmless.
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            keyAdded.store(true, ordering: .releasing)
        }
        return keys
    }

    /// The identity in `token`, or why it was refused (said to the client in the 401).
    func authenticate(_ token: String?) async -> Result<ClientIdentity, AuthenticationFailure> {
        guard let token, !token.isEmpty else {
            return .failure(AuthenticationFailure(reason: "a token is required: send Authorization: Bearer <jwt> or ?token=<jwt>"))
        }
        do {
            let claims = try await verifier().verify(token, as: ClientClaims.self)
            return .success(ClientIdentity(user: claims.sub.value, grant: claims.channels.map(ChannelGrant.init)))
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            return .failure(AuthenticationFailure(reason: "token rejected: \(error.reason ?? "a claim is not valid")"))
        } catch {
            return .failure(AuthenticationFailure(reason: "token rejected: bad signature or malformed token"))
        }
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
    var channels: [String]?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
        guard !sub.value.isEmpty else { throw JWTError.claimVerificationFailure(failedClaim: sub, reason: "sub is empty") }
    }
}
