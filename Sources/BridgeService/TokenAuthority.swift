import BridgeCore
import Foundation
import JWTKit
import Synchronization

/// Issues and checks agent-bridge tokens (ARCHITECTURE.md, Identity and policy): JWTs signed with HS256 or EdDSA, with `sub` (handle),
/// `ws` (workspace), `role`, `iat`, `exp` and `aud = agent-bridge`.
///
/// The key file is read on every check, not once, so rotating or removing it takes effect at the next call;
/// an unreadable or unparsable key fails closed with `UNAVAILABLE` / `TOKEN_VALIDATION_UNAVAILABLE`.
public final class TokenAuthority: Sendable {
    /// The audience every token names.
    public static let audience = "agent-bridge"

    /// The signing algorithms a key file can hold.
    public enum Algorithm: String, Sendable, CaseIterable {
        /// A shared secret: the key file's text (at least 32 bytes). Anyone holding it can issue tokens.
        case hs256 = "HS256"
        /// An Ed25519 key as PEM: a private key issues and verifies; a public key only verifies.
        case eddsa = "EdDSA"
    }

    /// The verified facts of a token.
    public struct Claims: Sendable, Equatable {
        public let handle: String
        public let workspace: String
        public let role: Role
        public let issuedAt: Date
        public let expiresAt: Date
    }

    public let keyFile: String
    private let cachedKey = Mutex<(text: String, key: LoadedKey)?>(nil)

    public init(keyFile: String) {
        self.keyFile = keyFile
    }

    // MARK: - Issuing

    /// Signs a token for `handle` acting as `role` in `workspace`, valid for `ttl` from `now`.
    public func issue(handle: String, role: Role, workspace: String, ttl: Duration, now: Date = Date()) async throws(BridgeError) -> String {
        let key = try await loadKey()
        guard key.canSign else {
            throw BridgeError(
                .failedPrecondition,
                .tokenValidationUnavailable,
                "\(keyFile) holds a public key, which can only verify; issue tokens with the private key."
            )
        }
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let payload = Payload(
            sub: SubjectClaim(value: handle),
            ws: workspace,
            role: role.rawValue,
            iat: IssuedAtClaim(value: issuedAt),
            exp: ExpirationClaim(value: issuedAt.addingTimeInterval(ttl.seconds.rounded(.up))),
            aud: AudienceClaim(value: [Self.audience])
        )
        do {
            return try await key.collection.sign(payload)
        } catch {
            throw BridgeError(.internal, .internalError, "The token could not be signed.", underlying: error)
        }
    }

    /// Writes a new random key to `path` (mode 0600), refusing to overwrite an existing file.
    public static func generateKeyFile(at path: String, algorithm: Algorithm) throws {
        let text: String
        switch algorithm {
        case .hs256:
            var generator = SystemRandomNumberGenerator()
            text = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined() + "\n"
        case .eddsa:
            text = try EdDSA.PrivateKey(curve: .ed25519).pemRepresentation + "\n"
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    // MARK: - Checking

    /// Verifies `token` at `now`: signature and algorithm against the key file, the audience, every claim present
    /// and well-formed, and not expired. Throws `UNAUTHENTICATED` for a bad token and `UNAVAILABLE` when the key
    /// cannot be read.
    public func verify(_ token: String, now: Date = Date()) async throws(BridgeError) -> Claims {
        let key = try await loadKey()
        let headerAlgorithm = Self.headerAlgorithm(of: token)
        guard let headerAlgorithm else {
            throw Self.invalid("The token is not a well-formed JWT.", check: "format")
        }
        // Only the key's own algorithm is accepted: no `none`, no HS256 forged with an EdDSA public key.
        guard headerAlgorithm == key.algorithm.rawValue else {
            throw Self.invalid("The token is signed with \(headerAlgorithm); this server accepts \(key.algorithm.rawValue).", check: "algorithm")
        }
        let payload: Payload
        do {
            payload = try await key.collection.verify(token, as: Payload.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw Self.invalid("The token's signature does not verify.", check: "signature")
        } catch {
            throw Self.invalid("The token lacks a required claim (sub, ws, role, iat, exp, aud) or one is malformed.", check: "claims")
        }
        guard payload.aud.value.contains(Self.audience) else {
            throw Self.invalid("The token is not meant for agent-bridge (aud).", check: "audience")
        }
        guard Identity.isValidHandle(payload.sub.value), !payload.ws.isEmpty, let role = Role(rawValue: payload.role) else {
            throw Self.invalid("The token's sub, ws or role is not a valid handle, workspace or role.", check: "claims")
        }
        guard now < payload.exp.value else {
            throw BridgeError(
                .unauthenticated,
                .tokenExpired,
                "The token expired at \(WireCoding.formatTimestamp(payload.exp.value)); issue a new one.",
                details: ["expired_at": WireCoding.formatTimestamp(payload.exp.value)]
            )
        }
        return Claims(handle: payload.sub.value, workspace: payload.ws, role: role, issuedAt: payload.iat.value, expiresAt: payload.exp.value)
    }

    // MARK: - Internals

    private struct Payload: JWTPayload {
        var sub: SubjectClaim
        var ws: String
        var role: String
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        var aud: AudienceClaim

        /// Claims are checked by ``TokenAuthority/verify(_:now:)`` against its own clock.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    private struct LoadedKey: Sendable {
        let algorithm: Algorithm
        let canSign: Bool
        let collection: JWTKeyCollection
    }

    private static func invalid(_ message: String, check: String) -> BridgeError {
        BridgeError(.unauthenticated, .tokenInvalid, message, details: ["check": check])
    }

    /// Reads the key file and parses it when its text changed since the last call.
    private func loadKey() async throws(BridgeError) -> LoadedKey {
        let text: String
        do {
            text = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw BridgeError(
                .unavailable,
                .tokenValidationUnavailable,
                "The token key file cannot be read; calls are refused until it can.",
                underlying: error
            )
        }
        if let cached = cachedKey.withLock({ $0 }), cached.text == text { return cached.key }
        let key: LoadedKey
        do {
            key = try await Self.parseKey(text)
        } catch {
            throw BridgeError(
                .unavailable,
                .tokenValidationUnavailable,
                "The token key file does not hold a usable key; calls are refused until it does.",
                underlying: error
            )
        }
        cachedKey.withLock { $0 = (text, key) }
        return key
    }

    private static func parseKey(_ text: String) async throws -> LoadedKey {
        let collection = JWTKeyCollection()
        if text.contains("-----BEGIN PRIVATE KEY-----") {
            await collection.add(eddsa: try EdDSA.PrivateKey(pem: text))
            return LoadedKey(algorithm: .eddsa, canSign: true, collection: collection)
        }
        if text.contains("-----BEGIN PUBLIC KEY-----") {
            await collection.add(eddsa: try EdDSA.PublicKey(pem: text))
            return LoadedKey(algorithm: .eddsa, canSign: false, collection: collection)
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard secret.utf8.count >= 32 else { throw KeyFileError.secretTooShort }
        await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return LoadedKey(algorithm: .hs256, canSign: true, collection: collection)
    }

    private enum KeyFileError: Error {
        case secretTooShort
    }

    /// The `alg` of a compact JWT's header, or nil when the token is not three base64url parts with a JSON header.
    static func headerAlgorithm(of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = base64URLDecode(parts[0]),
            let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any]
        else { return nil }
        return object["alg"] as? String
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
