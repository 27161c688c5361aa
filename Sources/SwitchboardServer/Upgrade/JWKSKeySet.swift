import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOHTTP1

/// The keys an identity provider publishes as a JWK Set (`--auth-jwt-jwks-url`): fetched with
/// async-http-client when first needed, kept, and fetched again when a token names a `kid` the
/// set does not hold (the provider rotated its keys), at most once per ``refetchInterval``, so
/// tokens with made-up `kid`s cannot make the hub hammer the provider. Handshakes that need a
/// fetch at the same time share it.
actor JWKSKeySet {
    static let refetchInterval = Duration.seconds(10)
    /// How long one fetch may take, and the largest key set read.
    static let fetchTimeout = TimeAmount.seconds(5)
    static let maxBytes = 1 << 20

    let url: String
    private let logger: Logger
    /// The last set fetched; nil until a fetch succeeded.
    private var keys: JWTKeyCollection?
    private var kids: Set<String> = []
    private var lastFetch: ContinuousClock.Instant?
    private var fetching: Task<Void, Never>?

    init(url: String, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// Whether the set fetched last holds a key named `kid`.
    func knows(_ kid: String) -> Bool {
        kids.contains(kid)
    }

    /// The claims of `token`, verified with the set's key named `kid` (with no `kid`: any key
    /// of the set), fetching the set first when it is unknown or lacks the key.
    func verify(_ token: String, kid: String?) async throws -> ClientClaims {
        if keys == nil || kid.map({ !kids.contains($0) }) == true {
            await refetch()
        }
        guard let keys else {
            throw AuthenticationFailure(reason: "token rejected: the signing keys at \(url) cannot be fetched right now; try again")
        }
        if let kid, !kids.contains(kid) {
            throw AuthenticationFailure(reason: "token rejected: no key \"\(kid)\" in the JWK Set at \(url)")
        }
        return try await keys.verify(token, as: ClientClaims.self, iteratingKeys: kid == nil)
    }

    /// Fetches the set again unless it was fetched within ``refetchInterval``; joins a fetch
    /// already under way.
    private func refetch() async {
        if let fetching { return await fetching.value }
        if let lastFetch, ContinuousClock.now - lastFetch < Self.refetchInterval { return }
        lastFetch = .now
        let task = Task { await self.fetch() }
        fetching = task
        await task.value
        fetching = nil
    }

    private func fetch() async {
        do {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: Self.fetchTimeout)
            guard response.status == .ok else { throw JWKSFetchError(description: "HTTP \(response.status.code)") }
            let body = try await response.body.collect(upTo: Self.maxBytes)
            let set = try JSONDecoder().decode(JWKS.self, from: Data(body.readableBytesView))
            let collection = JWTKeyCollection()
            var usable: Set<String> = []
            for key in set.keys {
                do {
                    try await collection.add(jwk: key)
                    if let kid = key.keyIdentifier?.string { usable.insert(kid) }
                } catch {
                    logger.warning(
                        "JWK Set key skipped", metadata: ["url": "\(url)", "kid": "\(key.keyIdentifier?.string ?? "none")", "error": "\(error)"])
                }
            }
            keys = collection
            kids = usable
            logger.info("JWK Set fetched", metadata: ["url": "\(url)", "kids": "\(usable.sorted().joined(separator: ","))"])
        } catch {
            logger.warning("cannot fetch the JWK Set; keeping the keys fetched before", metadata: ["url": "\(url)", "error": "\(error)"])
        }
    }
}

/// Why a JWK Set fetch failed.
struct JWKSFetchError: Error, CustomStringConvertible {
    let description: String
}
