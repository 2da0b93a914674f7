//! Authentication test vectors of the implementer's digest §4.4, read from
//! `testdata/auth/vectors.txt`, checked against `syncml::auth` (basic, md5, x-syncml-hmac).

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use syncml::auth::{
    self, AuthScheme, HmacHeader, Secret, basic_decode, basic_encode, basic_verify, build_chal,
    build_cred, md5_digest, md5_digest_from_hash, md5_verify, nonce_from_b64, nonce_to_b64,
    parse_chal, user_hash, verify_cred,
};

fn vectors() -> HashMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/auth/vectors.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once(" = ").unwrap();
            (k.trim().to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn nonce_text_and_octets() {
    let v = vectors();
    assert_eq!(nonce_to_b64(v["nonce"].as_bytes()), v["nonce_b64"]);
    assert_eq!(
        nonce_from_b64(&v["nonce_b64"]).unwrap(),
        v["nonce"].as_bytes()
    );
}

#[test]
fn stored_user_hash() {
    let v = vectors();
    assert_eq!(user_hash(&v["user"], &v["password"]), v["user_hash"]);
}

#[test]
fn auth_basic_vector() {
    let v = vectors();
    assert_eq!(basic_encode(&v["user"], &v["password"]), v["basic"]);
    assert_eq!(
        basic_decode(&v["basic"]).unwrap(),
        (v["user"].clone(), v["password"].clone())
    );
    assert!(basic_verify(&v["basic"], &v["user"], Secret::Password(&v["password"])).unwrap());
    assert!(basic_verify(&v["basic"], &v["user"], Secret::UserHash(&v["user_hash"])).unwrap());
    assert!(!basic_verify(&v["basic"], &v["user"], Secret::Password("wrong")).unwrap());
}

#[test]
fn auth_md5_vector_from_password_and_from_stored_hash() {
    let v = vectors();
    let nonce = nonce_from_b64(&v["nonce_b64"]).unwrap();
    assert_eq!(md5_digest(&v["user"], &v["password"], &nonce), v["md5"]);
    assert_eq!(md5_digest_from_hash(&v["user_hash"], &nonce), v["md5"]);
    assert!(md5_verify(
        &v["md5"],
        &v["user"],
        Secret::Password(&v["password"]),
        &nonce
    ));
    assert!(md5_verify(
        &v["md5"],
        &v["user"],
        Secret::UserHash(&v["user_hash"]),
        &nonce
    ));
    // The Base64 text of the nonce is not the nonce: the raw octets are hashed.
    assert!(!md5_verify(
        &v["md5"],
        &v["user"],
        Secret::Password(&v["password"]),
        v["nonce_b64"].as_bytes()
    ));
    assert!(!md5_verify(
        &v["md5"],
        "user2",
        Secret::Password(&v["password"]),
        &nonce
    ));
}

#[test]
fn md5_cred_element_built_and_verified() {
    let v = vectors();
    let nonce = nonce_from_b64(&v["nonce_b64"]).unwrap();
    let cred = build_cred(
        AuthScheme::Md5,
        &v["user"],
        Secret::Password(&v["password"]),
        &nonce,
    )
    .unwrap();
    let meta = cred.meta.as_ref().unwrap();
    assert_eq!(meta.r#type.as_deref(), Some("syncml:auth-md5"));
    assert_eq!(meta.format.as_deref(), Some("b64"));
    assert_eq!(cred.data, v["md5"]);
    assert!(verify_cred(&cred, &v["user"], Secret::UserHash(&v["user_hash"]), &nonce).unwrap());
    assert!(!verify_cred(&cred, &v["user"], Secret::Password("nope"), &nonce).unwrap());

    let basic = build_cred(
        AuthScheme::Basic,
        &v["user"],
        Secret::Password(&v["password"]),
        &[],
    )
    .unwrap();
    assert_eq!(basic.data, v["basic"]);
    assert!(verify_cred(&basic, &v["user"], Secret::Password(&v["password"]), &[]).unwrap());
}

#[test]
fn chal_carries_next_nonce_as_b64() {
    let v = vectors();
    let chal = build_chal(AuthScheme::Md5, Some(v["nonce"].as_bytes()));
    assert_eq!(chal.meta.r#type.as_deref(), Some("syncml:auth-md5"));
    assert_eq!(
        chal.meta.next_nonce.as_deref(),
        Some(v["nonce_b64"].as_str())
    );
    let (scheme, nonce) = parse_chal(&chal).unwrap();
    assert_eq!(scheme, AuthScheme::Md5);
    assert_eq!(nonce.unwrap(), v["nonce"].as_bytes());
    assert_eq!(
        build_chal(AuthScheme::Hmac, None).meta.r#type.as_deref(),
        Some("syncml:auth-MAC")
    );
}

#[test]
fn hmac_vector_header_value_and_verification() {
    let v = vectors();
    let body = v["hmac_body"].as_bytes();
    assert_eq!(body.len(), 42);
    let nonce = nonce_from_b64(&v["nonce_b64"]).unwrap();
    let secret = Secret::Password(&v["password"]);
    assert_eq!(
        auth::hmac_mac(&v["user"], secret, &nonce, body),
        v["hmac_mac"]
    );
    let header = HmacHeader::compute(&v["user"], secret, &nonce, body);
    assert_eq!(header.to_header_value(), v["hmac_header"]);

    let parsed = HmacHeader::parse(&v["hmac_header"]).unwrap();
    assert_eq!(parsed, header);
    assert!(parsed.verify(Secret::UserHash(&v["user_hash"]), &nonce, body));
    // One changed body byte, or another nonce, breaks the MAC.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(!parsed.verify(secret, &nonce, &tampered));
    assert!(!parsed.verify(secret, b"other", body));

    // Tolerant parsing: other order, spacing, quoting.
    let reordered = format!(" mac=\"{}\" ,username = {} ", v["hmac_mac"], v["user"]);
    let p = HmacHeader::parse(&reordered).unwrap();
    assert!(p.verify(secret, &nonce, body));
}
