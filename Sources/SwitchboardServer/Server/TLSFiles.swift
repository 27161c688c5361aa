public import NIOSSL

/// The certificate chain and private key of `wss://` and `https://` (`--tls-cert`, `--tls-key`),
/// PEM files as Let's Encrypt and `openssl req` write them.
public enum TLSFiles {
    /// A server TLS configuration from the two files; throws a readable error when either file
    /// is missing, unreadable or not PEM.
    public static func load(certificateChain certificatePath: String, privateKey keyPath: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSFileError(description: "\(certificatePath): cannot read a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFileError(description: "\(certificatePath): no certificate in the file") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSFileError(description: "\(keyPath): cannot read a PEM private key (\(error))")
        }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }
}

/// Why the TLS files could not be used.
public struct TLSFileError: Error, CustomStringConvertible {
    public let description: String
}
