//! SyncML DM authentication: `syncml:auth-basic`, `syncml:auth-md5` and the `x-syncml-hmac`
//! transport header (`syncml:auth-MAC`).
//!
//! In: user names, passwords (or the stored `B64(MD5(user:pass))` hash), nonces as raw octets,
//! received [`Cred`] elements and `x-syncml-hmac` header values, message bodies.
//! Out: credential strings, [`Cred`] and [`Chal`] elements, header values, and verdicts.
//!
//! Formulas (digest §4; OMA DM 1.2 Security):
//!
//! ```text
//! basic   Cred/Data = B64(user ":" password)
//! md5     Cred/Data = B64(MD5(B64(MD5(user ":" password)) ":" nonce))
//! MAC     mac       = B64(MD5(B64(MD5(user ":" password)) ":" nonce ":" B64(MD5(body))))
//! ```
//!
//! The nonce is always hashed as **raw octets**: the Base64-decoded text of the last
//! `NextNonce` received (see [`nonce_from_b64`]). Some stacks hash the Base64 text itself; a
//! verifier that wants to accept those too calls the verify function a second time with
//! `nonce_b64.as_bytes()` (digest §4.1, project choice: raw first, then text).
//!
//! Despite its name the MAC is not RFC 2104 HMAC: it is one MD5 over a concatenation.
//!
//! Every comparison of a received credential with an expected one is constant-time
//! ([`subtle`]). Nothing here draws random numbers: fresh nonces come in from the caller.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

use crate::{Chal, Cred, Error, Meta};

/// Name of the HTTP (and WSP/OBEX) header that carries the `syncml:auth-MAC` integrity value.
pub const HMAC_HEADER: &str = "x-syncml-hmac";

/// The `Meta/Format` of every credential, MAC and nonce: `b64`.
pub const FORMAT_B64: &str = "b64";

/// Base64 with the standard alphabet; padding written on output, optional on input.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The SyncML DM authentication schemes this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthScheme {
    /// `syncml:auth-basic` (DMAcc AAuthType `BASIC`).
    Basic,
    /// `syncml:auth-md5` (DMAcc AAuthType `DIGEST`).
    Md5,
    /// `syncml:auth-MAC` (DMAcc AAuthType `HMAC`): carried in the `x-syncml-hmac` header, never in
    /// a `Cred`.
    Hmac,
}

impl AuthScheme {
    /// The `Meta/Type` string of this scheme.
    #[must_use]
    pub fn meta_type(self) -> &'static str {
        match self {
            AuthScheme::Basic => "syncml:auth-basic",
            AuthScheme::Md5 => "syncml:auth-md5",
            AuthScheme::Hmac => "syncml:auth-MAC",
        }
    }

    /// The scheme named by a `Meta/Type` string (ASCII case-insensitive, surrounding whitespace
    /// ignored).
    #[must_use]
    pub fn from_meta_type(text: &str) -> Option<AuthScheme> {
        let text = text.trim();
        [AuthScheme::Basic, AuthScheme::Md5, AuthScheme::Hmac]
            .into_iter()
            .find(|s| s.meta_type().eq_ignore_ascii_case(text))
    }

    /// The DMAcc `AAuthType` value of this scheme (`BASIC`, `DIGEST`, `HMAC`).
    #[must_use]
    pub fn aauth_type(self) -> &'static str {
        match self {
            AuthScheme::Basic => "BASIC",
            AuthScheme::Md5 => "DIGEST",
            AuthScheme::Hmac => "HMAC",
        }
    }
}

impl std::fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.meta_type())
    }
}

/// The secret a verifier (or signer) holds for a user.
///
/// A verifier of md5 and MAC credentials need not store the password: the hash
/// `B64(MD5(user ":" password))` (see [`user_hash`]) is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The plain password.
    Password(&'a str),
    /// The stored hash `B64(MD5(user ":" password))`, as Base64 text.
    UserHash(&'a str),
}

impl Secret<'_> {
    /// The `B64(MD5(user ":" password))` text for `user`.
    fn hash_for(&self, user: &str) -> String {
        match self {
            Secret::Password(password) => user_hash(user, password),
            Secret::UserHash(hash) => (*hash).to_owned(),
        }
    }
}

/// Base64 (standard alphabet, padded) of `bytes`.
#[must_use]
pub fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes Base64 text (standard alphabet; padding optional; surrounding ASCII whitespace, as
/// XML text may carry, ignored).
///
/// # Errors
/// [`Error::AuthBase64`] naming `what` and the byte offset of the first bad character.
pub fn b64_decode(text: &str, what: &'static str) -> Result<Vec<u8>, Error> {
    let lead = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    B64.decode(trimmed).map_err(|e| {
        let offset = match e {
            base64::DecodeError::InvalidByte(o, _)
            | base64::DecodeError::InvalidLastSymbol(o, _) => o,
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                trimmed.len()
            }
        };
        Error::AuthBase64 {
            what,
            offset: lead + offset,
        }
    })
}

/// Raw nonce octets from `NextNonce` text (Base64). The raw octets are what gets hashed.
///
/// # Errors
/// [`Error::AuthBase64`] if the text is not Base64.
pub fn nonce_from_b64(text: &str) -> Result<Vec<u8>, Error> {
    b64_decode(text, "NextNonce")
}

/// `NextNonce` text (Base64) for raw nonce octets.
#[must_use]
pub fn nonce_to_b64(nonce: &[u8]) -> String {
    b64_encode(nonce)
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

// ---------------------------------------------------------------------------------------------
// syncml:auth-basic

/// `syncml:auth-basic` credential text: `B64(user ":" password)`.
#[must_use]
pub fn basic_encode(user: &str, password: &str) -> String {
    b64_encode(format!("{user}:{password}").as_bytes())
}

/// Splits a `syncml:auth-basic` credential into user and password (at the first `:`).
///
/// # Errors
/// [`Error::AuthBase64`] if `data` is not Base64; [`Error::AuthBasicMalformed`] if the decoded
/// bytes are not UTF-8 or have no `:`.
pub fn basic_decode(data: &str) -> Result<(String, String), Error> {
    let raw = b64_decode(data, "auth-basic credential")?;
    let text = String::from_utf8(raw).map_err(|e| Error::AuthBasicMalformed {
        offset: e.utf8_error().valid_up_to(),
    })?;
    let colon = text
        .find(':')
        .ok_or(Error::AuthBasicMalformed { offset: text.len() })?;
    let (user, rest) = text.split_at(colon);
    Ok((user.to_owned(), rest.get(1..).unwrap_or("").to_owned()))
}

/// Verifies a `syncml:auth-basic` credential against the expected user and secret, in constant
/// time over the credential bytes. With [`Secret::UserHash`] the received password is hashed
/// and the hashes compared.
///
/// # Errors
/// As [`basic_decode`] for malformed credentials. A wrong user or password is `Ok(false)`.
pub fn basic_verify(data: &str, user: &str, secret: Secret<'_>) -> Result<bool, Error> {
    let (got_user, got_password) = basic_decode(data)?;
    let user_ok = ct_eq(got_user.as_bytes(), user.as_bytes());
    let secret_ok = match secret {
        Secret::Password(password) => ct_eq(got_password.as_bytes(), password.as_bytes()),
        Secret::UserHash(hash) => ct_eq(
            user_hash(&got_user, &got_password).as_bytes(),
            hash.trim().as_bytes(),
        ),
    };
    Ok(user_ok & secret_ok)
}

// ---------------------------------------------------------------------------------------------
// syncml:auth-md5

/// `B64(MD5(user ":" password))`: the value a verifier may store instead of the password.
#[must_use]
pub fn user_hash(user: &str, password: &str) -> String {
    b64_encode(&md5(&[user.as_bytes(), b":", password.as_bytes()]))
}

/// `syncml:auth-md5` credential text: `B64(MD5(B64(MD5(user ":" password)) ":" nonce))`.
#[must_use]
pub fn md5_digest(user: &str, password: &str, nonce: &[u8]) -> String {
    md5_digest_from_hash(&user_hash(user, password), nonce)
}

/// `syncml:auth-md5` credential text from the stored hash `B64(MD5(user ":" password))`.
#[must_use]
pub fn md5_digest_from_hash(user_hash: &str, nonce: &[u8]) -> String {
    b64_encode(&md5(&[user_hash.trim().as_bytes(), b":", nonce]))
}

/// Verifies a `syncml:auth-md5` credential (the `Cred/Data` text), in constant time.
#[must_use]
pub fn md5_verify(data: &str, user: &str, secret: Secret<'_>, nonce: &[u8]) -> bool {
    let expected = md5_digest_from_hash(&secret.hash_for(user), nonce);
    ct_eq(data.trim().as_bytes(), expected.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Cred and Chal elements

/// A `Cred` for `scheme`: `Meta` Type + Format `b64`, and `Data`. For [`AuthScheme::Md5`] the
/// user name must also go in `SyncHdr/Source/LocName` (the caller's job).
///
/// # Errors
/// [`Error::AuthUnsupportedScheme`] for [`AuthScheme::Hmac`], which never travels in a `Cred`;
/// [`Error::AuthNeedsPassword`] for basic with a [`Secret::UserHash`].
pub fn build_cred(
    scheme: AuthScheme,
    user: &str,
    secret: Secret<'_>,
    nonce: &[u8],
) -> Result<Cred, Error> {
    let data = match (scheme, secret) {
        (AuthScheme::Basic, Secret::Password(password)) => basic_encode(user, password),
        (AuthScheme::Basic, Secret::UserHash(_)) => {
            return Err(Error::AuthNeedsPassword);
        }
        (AuthScheme::Md5, secret) => md5_digest_from_hash(&secret.hash_for(user), nonce),
        (AuthScheme::Hmac, _) => {
            return Err(Error::AuthUnsupportedScheme {
                meta_type: scheme.meta_type().to_owned(),
            });
        }
    };
    Ok(Cred {
        meta: Some(Meta {
            format: Some(FORMAT_B64.to_owned()),
            r#type: Some(scheme.meta_type().to_owned()),
            ..Meta::default()
        }),
        data,
    })
}

/// A `Chal` asking for `scheme`: `Meta` Type, Format `b64` and, when `next_nonce` is given, the
/// `NextNonce` (Base64 of the raw octets). Basic needs no nonce; md5 and MAC do (digest §4.2).
#[must_use]
pub fn build_chal(scheme: AuthScheme, next_nonce: Option<&[u8]>) -> Chal {
    Chal {
        meta: Meta {
            format: Some(FORMAT_B64.to_owned()),
            r#type: Some(scheme.meta_type().to_owned()),
            next_nonce: next_nonce.map(nonce_to_b64),
            ..Meta::default()
        },
    }
}

/// What a received `Chal` asks for: the scheme and the raw next nonce (if any).
///
/// # Errors
/// [`Error::AuthMissingType`], [`Error::AuthUnsupportedScheme`], or [`Error::AuthBase64`] for a
/// `NextNonce` that is not Base64.
pub fn parse_chal(chal: &Chal) -> Result<(AuthScheme, Option<Vec<u8>>), Error> {
    let scheme = scheme_of(Some(&chal.meta))?;
    let nonce = chal
        .meta
        .next_nonce
        .as_deref()
        .map(nonce_from_b64)
        .transpose()?;
    Ok((scheme, nonce))
}

fn scheme_of(meta: Option<&Meta>) -> Result<AuthScheme, Error> {
    let ty = meta
        .and_then(|m| m.r#type.as_deref())
        .ok_or(Error::AuthMissingType)?;
    AuthScheme::from_meta_type(ty).ok_or_else(|| Error::AuthUnsupportedScheme {
        meta_type: ty.to_owned(),
    })
}

/// The scheme a received `Cred` uses (from its `Meta/Type`).
///
/// # Errors
/// [`Error::AuthMissingType`] or [`Error::AuthUnsupportedScheme`].
pub fn cred_scheme(cred: &Cred) -> Result<AuthScheme, Error> {
    scheme_of(cred.meta.as_ref())
}

/// Verifies a received `Cred` for `user` (for md5: the `SyncHdr/Source/LocName`; for basic: the
/// user expected inside the credential) against the stored secret and the nonce the verifier
/// last sent (raw octets; ignored by basic).
///
/// Returns `Ok(true)` when the credential matches, `Ok(false)` when it is well-formed but wrong.
///
/// # Errors
/// Malformed credentials: [`Error::AuthMissingType`], [`Error::AuthUnsupportedScheme`] (also
/// for `syncml:auth-MAC`, which must not be in a `Cred`), [`Error::AuthUnsupportedFormat`] for a
/// `Meta/Format` other than `b64` (an absent Format is accepted), or the errors of
/// [`basic_decode`].
pub fn verify_cred(
    cred: &Cred,
    user: &str,
    secret: Secret<'_>,
    nonce: &[u8],
) -> Result<bool, Error> {
    let scheme = cred_scheme(cred)?;
    if let Some(format) = cred.meta.as_ref().and_then(|m| m.format.as_deref())
        && !format.trim().eq_ignore_ascii_case(FORMAT_B64)
    {
        return Err(Error::AuthUnsupportedFormat {
            format: format.to_owned(),
        });
    }
    match scheme {
        AuthScheme::Basic => basic_verify(&cred.data, user, secret),
        AuthScheme::Md5 => Ok(md5_verify(&cred.data, user, secret, nonce)),
        AuthScheme::Hmac => Err(Error::AuthUnsupportedScheme {
            meta_type: scheme.meta_type().to_owned(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// x-syncml-hmac

/// `syncml:auth-MAC` value: `B64(MD5(B64(MD5(user ":" password)) ":" nonce ":" B64(MD5(body))))`
/// over the exact body bytes as sent.
#[must_use]
pub fn hmac_mac(user: &str, secret: Secret<'_>, nonce: &[u8], body: &[u8]) -> String {
    let body_hash = b64_encode(&md5(&[body]));
    let h = secret.hash_for(user);
    b64_encode(&md5(&[
        h.trim().as_bytes(),
        b":",
        nonce,
        b":",
        body_hash.as_bytes(),
    ]))
}

/// One `x-syncml-hmac` header: `algorithm=MD5, username="...", mac=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacHeader {
    /// `algorithm` (only `MD5` is defined; absent means `MD5`).
    pub algorithm: String,
    /// `username`: equals `SyncHdr/Source/LocName` of the message.
    pub username: String,
    /// `mac`: Base64 text.
    pub mac: String,
}

impl HmacHeader {
    /// The header for `body` sent by `user` with the nonce the peer last sent (raw octets).
    #[must_use]
    pub fn compute(user: &str, secret: Secret<'_>, nonce: &[u8], body: &[u8]) -> HmacHeader {
        HmacHeader {
            algorithm: "MD5".to_owned(),
            username: user.to_owned(),
            mac: hmac_mac(user, secret, nonce, body),
        }
    }

    /// The header value, exactly `algorithm=MD5, username="user", mac=...` (quotes and
    /// backslashes in the user name are escaped; an algorithm or MAC that is not plain Base64
    /// text is quoted too, so that [`HmacHeader::parse`] gives it back unchanged).
    #[must_use]
    pub fn to_header_value(&self) -> String {
        format!(
            "algorithm={}, username={}, mac={}",
            token_or_quoted(&self.algorithm),
            quoted(&self.username),
            token_or_quoted(&self.mac)
        )
    }

    /// Parses a header value. Tolerant: attributes in any order, any spacing around `,` and
    /// `=`, names case-insensitive, values quoted or not, unknown attributes ignored.
    ///
    /// # Errors
    /// [`Error::HmacHeaderMalformed`] with the byte offset: missing `=`, unterminated quote,
    /// missing `username` or `mac`, or an `algorithm` other than MD5.
    pub fn parse(value: &str) -> Result<HmacHeader, Error> {
        let bad = |reason, offset| Error::HmacHeaderMalformed { reason, offset };
        let bytes = value.as_bytes();
        let mut pos = 0usize;
        let mut algorithm = None;
        let mut username = None;
        let mut mac = None;
        let skip_ws = |mut p: usize| {
            while bytes.get(p).is_some_and(|b| b.is_ascii_whitespace()) {
                p += 1;
            }
            p
        };
        loop {
            pos = skip_ws(pos);
            while bytes.get(pos) == Some(&b',') {
                pos = skip_ws(pos + 1);
            }
            if pos >= bytes.len() {
                break;
            }
            // name
            let name_start = pos;
            while bytes.get(pos).is_some_and(|b| *b != b'=' && *b != b',') {
                pos += 1;
            }
            if bytes.get(pos) != Some(&b'=') {
                return Err(bad("attribute without `=`", name_start));
            }
            let name = value
                .get(name_start..pos)
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            pos = skip_ws(pos + 1);
            // value
            let value_start = pos;
            let text = if bytes.get(pos) == Some(&b'"') {
                pos += 1;
                let mut out = Vec::new();
                loop {
                    match bytes.get(pos) {
                        None => return Err(bad("unterminated quoted string", value_start)),
                        Some(b'"') => {
                            pos += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let Some(c) = bytes.get(pos + 1) else {
                                return Err(bad("unterminated quoted string", value_start));
                            };
                            out.push(*c);
                            pos += 2;
                        }
                        Some(c) => {
                            out.push(*c);
                            pos += 1;
                        }
                    }
                }
                let after = skip_ws(pos);
                if bytes.get(after).is_some_and(|b| *b != b',') {
                    return Err(bad("text after quoted string", after));
                }
                pos = after;
                String::from_utf8(out).map_err(|_| bad("quoted string not UTF-8", value_start))?
            } else {
                while bytes.get(pos).is_some_and(|b| *b != b',') {
                    pos += 1;
                }
                value.get(value_start..pos).unwrap_or("").trim().to_owned()
            };
            match name.as_str() {
                "algorithm" => algorithm = Some((text, value_start)),
                "username" => username = Some(text),
                "mac" => mac = Some(text),
                _ => {}
            }
        }
        let algorithm = match algorithm {
            None => "MD5".to_owned(),
            Some((a, offset)) => {
                if !a.eq_ignore_ascii_case("MD5") {
                    return Err(bad("unsupported algorithm (only MD5)", offset));
                }
                a
            }
        };
        let username = username.ok_or(bad("no username attribute", value.len()))?;
        let mac = mac.ok_or(bad("no mac attribute", value.len()))?;
        Ok(HmacHeader {
            algorithm,
            username,
            mac,
        })
    }

    /// Verifies the MAC over `body` (exact bytes as received) for this header's user name, in
    /// constant time. The caller checks that `username` is the user it expects (and equals
    /// `SyncHdr/Source/LocName`).
    #[must_use]
    pub fn verify(&self, secret: Secret<'_>, nonce: &[u8], body: &[u8]) -> bool {
        let expected = hmac_mac(&self.username, secret, nonce, body);
        ct_eq(self.mac.trim().as_bytes(), expected.as_bytes())
    }
}

fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn token_or_quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-'));
    if plain { text.to_owned() } else { quoted(text) }
}

impl std::fmt::Display for HmacHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_strings_round_trip() {
        for s in [AuthScheme::Basic, AuthScheme::Md5, AuthScheme::Hmac] {
            assert_eq!(AuthScheme::from_meta_type(s.meta_type()), Some(s));
        }
        assert_eq!(
            AuthScheme::from_meta_type(" SYNCML:AUTH-MD5 "),
            Some(AuthScheme::Md5)
        );
        assert_eq!(AuthScheme::from_meta_type("syncml:auth-X509"), None);
    }

    #[test]
    fn b64_errors_carry_offsets() {
        assert_eq!(
            b64_decode("ab*d", "x"),
            Err(Error::AuthBase64 {
                what: "x",
                offset: 2
            })
        );
        assert_eq!(
            b64_decode("  ab*d", "x"),
            Err(Error::AuthBase64 {
                what: "x",
                offset: 4
            })
        );
        assert_eq!(b64_decode("bjA", "x").unwrap(), b"n0");
        assert_eq!(b64_decode("bjA=\n", "x").unwrap(), b"n0");
    }

    #[test]
    fn basic_rejects_missing_colon() {
        let data = b64_encode(b"nocolon");
        assert_eq!(
            basic_decode(&data),
            Err(Error::AuthBasicMalformed { offset: 7 })
        );
        let data = b64_encode(&[0x61, 0xff, 0x3a]);
        assert_eq!(
            basic_decode(&data),
            Err(Error::AuthBasicMalformed { offset: 1 })
        );
    }

    #[test]
    fn password_may_contain_colons() {
        let data = basic_encode("u", "a:b");
        assert_eq!(
            basic_decode(&data).unwrap(),
            ("u".to_owned(), "a:b".to_owned())
        );
        assert!(basic_verify(&data, "u", Secret::Password("a:b")).unwrap());
        assert!(basic_verify(&data, "u", Secret::UserHash(&user_hash("u", "a:b"))).unwrap());
        assert!(!basic_verify(&data, "v", Secret::Password("a:b")).unwrap());
    }

    #[test]
    fn hmac_header_parse_is_tolerant() {
        let h = HmacHeader::parse("mac = abc= ,USERNAME=\"a\\\"b\",  algorithm=md5").unwrap();
        assert_eq!(h.username, "a\"b");
        assert_eq!(h.mac, "abc=");
        assert_eq!(h.algorithm, "md5");
        let h2 = HmacHeader::parse(&h.to_header_value()).unwrap();
        assert_eq!(h2.username, h.username);
        assert_eq!(h2.mac, h.mac);
        let h3 = HmacHeader::parse("username=bob,mac=xyz").unwrap();
        assert_eq!(
            (h3.algorithm.as_str(), h3.username.as_str()),
            ("MD5", "bob")
        );
    }

    #[test]
    fn hmac_header_parse_errors() {
        assert!(matches!(
            HmacHeader::parse("username=\"bob, mac=x"),
            Err(Error::HmacHeaderMalformed { offset: 9, .. })
        ));
        assert!(matches!(
            HmacHeader::parse("username=bob"),
            Err(Error::HmacHeaderMalformed {
                reason: "no mac attribute",
                ..
            })
        ));
        assert!(matches!(
            HmacHeader::parse("algorithm=SHA1, username=bob, mac=x"),
            Err(Error::HmacHeaderMalformed { offset: 10, .. })
        ));
        assert!(matches!(
            HmacHeader::parse("username"),
            Err(Error::HmacHeaderMalformed { offset: 0, .. })
        ));
    }

    #[test]
    fn cred_round_trip_and_hmac_scheme_not_in_cred() {
        let cred = build_cred(AuthScheme::Md5, "u", Secret::Password("p"), b"n").unwrap();
        assert!(verify_cred(&cred, "u", Secret::Password("p"), b"n").unwrap());
        assert!(!verify_cred(&cred, "u", Secret::Password("p"), b"m").unwrap());
        assert!(build_cred(AuthScheme::Hmac, "u", Secret::Password("p"), b"n").is_err());
        let mut odd = cred.clone();
        odd.meta.as_mut().unwrap().format = Some("chr".into());
        assert!(matches!(
            verify_cred(&odd, "u", Secret::Password("p"), b"n"),
            Err(Error::AuthUnsupportedFormat { .. })
        ));
        let none = Cred {
            meta: None,
            data: cred.data,
        };
        assert_eq!(
            verify_cred(&none, "u", Secret::Password("p"), b"n"),
            Err(Error::AuthMissingType)
        );
    }

    #[test]
    fn chal_round_trip() {
        let chal = build_chal(AuthScheme::Md5, Some(b"\x00\x01\xff"));
        assert_eq!(chal.meta.format.as_deref(), Some("b64"));
        assert_eq!(
            parse_chal(&chal).unwrap(),
            (AuthScheme::Md5, Some(vec![0, 1, 0xff]))
        );
        let chal = build_chal(AuthScheme::Basic, None);
        assert_eq!(parse_chal(&chal).unwrap(), (AuthScheme::Basic, None));
    }
}
