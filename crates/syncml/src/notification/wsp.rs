//! Connectionless WSP push framing of a Package 0 notification (DM-1 over UDP, port 2948).
//!
//! In: a notification body (or any push body) and extra headers, or the bytes of a received
//! datagram. Out: the push PDU bytes, or a decoded [`Push`].
//!
//! Layout (WAP-230-WSP §8.2.1 connectionless PDU, §8.2.4.1 Push PDU, §8.4 header encoding):
//!
//! ```text
//! TID (1 byte) | PDU type 0x06 Push (1) | HeadersLen (uintvar) | ContentType | Headers | Data
//!              HeadersLen counts ContentType and Headers together
//! ```
//!
//! A DM notification is `TID 06 03 C4 AF 87 <Package 0>`: content type 0x44 as a short
//! integer (`application/vnd.syncml.notification`), header `X-Wap-Application-Id` (field 0x2F,
//! 0xAF) with value 0x07 (`x-wap-application:syncml.dm`, 0x87).
//!
//! Header field values follow WSP's value encoding: first octet 0..=30 a short length, 31 a
//! length quote followed by a uintvar length, 32..=127 a NUL-terminated text string (0x7F
//! quotes a text starting with an octet >= 0x80), 128..=255 a short integer.
//!
//! The GwMO extension header `X-Oma-GwMO` (push header code 0x50, OMNA push header registry;
//! digest §1.4) names the End Device a gateway must relay the notification to. Its value
//! encoding is not published: **project choice**, a text string (the device's DevInfo/DevId).
//!
//! Sources: OMA WAP-230-WSP (PDU and header encodings); the OMNA push application id registry
//! (`x-wap-application:syncml.dm` = 0x07) and push header code registry (`X-Oma-GwMO` = 0x50);
//! the Wireshark WSP dissector and a public LwM2M SMS-bootstrap implementation, both showing the
//! byte sequence `01 06 03 C4 AF 87` for a DM notification push (read for understanding only).
//!
//! [`decode_push`] is total: any input gives a value or an [`Error::WspMalformed`] with the
//! byte offset; it never panics. Code-page shifts in the header section are not supported
//! (they are an error).

use crate::Error;

/// WSP PDU type of a Push.
pub const PDU_TYPE_PUSH: u8 = 0x06;
/// Well-known content type `application/vnd.syncml.notification`.
pub const CONTENT_TYPE_NOTIFICATION: u8 = 0x44;
/// Well-known header field `X-Wap-Application-Id`.
pub const FIELD_APPLICATION_ID: u8 = 0x2F;
/// Push application id `x-wap-application:syncml.dm`.
pub const APP_ID_SYNCML_DM: u8 = 0x07;
/// Push extension header `X-Oma-GwMO`.
pub const FIELD_X_OMA_GWMO: u8 = 0x50;
/// The UDP port of connectionless WSP push.
pub const UDP_PORT: u16 = 2948;

/// A push content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentType {
    /// A well-known content type code (short integer, 0..=0x7F), e.g. 0x44.
    WellKnown(u8),
    /// A content type as text, e.g. `application/vnd.syncml.notification`.
    Text(String),
    /// Any other form (with parameters), kept as the complete encoded value.
    Raw(Vec<u8>),
}

/// One push header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// `X-Wap-Application-Id` with a well-known application id (0..=0x7F), e.g. 0x07.
    ApplicationId(u8),
    /// `X-Oma-GwMO` (0x50): the identifier of the End Device to relay to.
    GwMo(String),
    /// Another well-known field (code 0..=0x7F) with its complete encoded value.
    WellKnown {
        /// Field code without the 0x80 bit.
        code: u8,
        /// The encoded value, exactly as on the wire.
        value: Vec<u8>,
    },
    /// An application header: text name and text value.
    Application {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
}

/// A decoded connectionless push PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Transaction id.
    pub tid: u8,
    /// Content type of the body.
    pub content_type: ContentType,
    /// The headers after the content type, in order.
    pub headers: Vec<Header>,
    /// The body (for DM: the Package 0 message).
    pub body: Vec<u8>,
}

impl Push {
    /// A DM notification push: content type 0x44, `X-Wap-Application-Id` 0x07, then
    /// `extra_headers`.
    #[must_use]
    pub fn notification(tid: u8, body: &[u8], extra_headers: &[Header]) -> Push {
        let mut headers = vec![Header::ApplicationId(APP_ID_SYNCML_DM)];
        headers.extend_from_slice(extra_headers);
        Push {
            tid,
            content_type: ContentType::WellKnown(CONTENT_TYPE_NOTIFICATION),
            headers,
            body: body.to_vec(),
        }
    }

    /// The first `X-Wap-Application-Id` with a well-known id.
    #[must_use]
    pub fn application_id(&self) -> Option<u8> {
        self.headers.iter().find_map(|h| match h {
            Header::ApplicationId(id) => Some(*id),
            _ => None,
        })
    }

    /// The first `X-Oma-GwMO` value: the End Device a gateway relays the body to.
    #[must_use]
    pub fn gwmo_device(&self) -> Option<&str> {
        self.headers.iter().find_map(|h| match h {
            Header::GwMo(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// True for a SyncML DM notification: content type 0x44 (or its text) and application id
    /// 0x07.
    #[must_use]
    pub fn is_dm_notification(&self) -> bool {
        let ct = match &self.content_type {
            ContentType::WellKnown(c) => *c == CONTENT_TYPE_NOTIFICATION,
            ContentType::Text(t) => t.eq_ignore_ascii_case(crate::CONTENT_TYPE_NOTIFICATION),
            ContentType::Raw(_) => false,
        };
        ct && self.application_id() == Some(APP_ID_SYNCML_DM)
    }

    /// The PDU bytes.
    ///
    /// # Errors
    /// [`Error::WspMalformed`] (offset 0) when a value cannot be encoded: a code or id above
    /// 0x7F, a text containing NUL or starting with a control octet, an application header name
    /// that is not a token, or a raw value that is not exactly one WSP value.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let bad = |reason| Error::WspMalformed { reason, offset: 0 };
        let mut hdr = Vec::new();
        match &self.content_type {
            ContentType::WellKnown(c) => hdr.push(short_int(*c).ok_or(bad("content type > 0x7F"))?),
            ContentType::Text(t) => put_text(&mut hdr, t)?,
            ContentType::Raw(v) => put_raw(&mut hdr, v)?,
        }
        for h in &self.headers {
            match h {
                Header::ApplicationId(id) => {
                    hdr.push(0x80 | FIELD_APPLICATION_ID);
                    hdr.push(short_int(*id).ok_or(bad("application id > 0x7F"))?);
                }
                Header::GwMo(id) => {
                    hdr.push(0x80 | FIELD_X_OMA_GWMO);
                    put_text(&mut hdr, id)?;
                }
                Header::WellKnown { code, value } => {
                    hdr.push(short_int(*code).ok_or(bad("header field code > 0x7F"))?);
                    put_raw(&mut hdr, value)?;
                }
                Header::Application { name, value } => {
                    let first = name.bytes().next();
                    if !first.is_some_and(|b| (0x20..0x7F).contains(&b)) {
                        return Err(bad("application header name is not a token"));
                    }
                    put_text(&mut hdr, name)?;
                    put_text(&mut hdr, value)?;
                }
            }
        }
        let len = u32::try_from(hdr.len()).map_err(|_| bad("headers longer than 4 GiB"))?;
        let mut out = Vec::with_capacity(2 + 5 + hdr.len() + self.body.len());
        out.push(self.tid);
        out.push(PDU_TYPE_PUSH);
        put_uintvar(&mut out, len);
        out.extend_from_slice(&hdr);
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// A DM notification push PDU: `TID 06 len C4 AF 87 [extra headers] body`.
///
/// # Errors
/// As [`Push::encode`] for extra headers that cannot be encoded.
pub fn encode_push(tid: u8, body: &[u8], extra_headers: &[Header]) -> Result<Vec<u8>, Error> {
    Push::notification(tid, body, extra_headers).encode()
}

/// Decodes a connectionless push PDU.
///
/// # Errors
/// [`Error::WspMalformed`] with the byte offset: truncated PDU, PDU type other than Push
/// (0x06), headers length past the end or over-long uintvar, a value running past the header
/// section, a code-page shift, a non-text application header.
pub fn decode_push(bytes: &[u8]) -> Result<Push, Error> {
    let mut r = Reader {
        bytes,
        pos: 0,
        end: bytes.len(),
    };
    let tid = r.byte("truncated before TID")?;
    let pdu_type = r.byte("truncated before PDU type")?;
    if pdu_type != PDU_TYPE_PUSH {
        return Err(Error::WspMalformed {
            reason: "PDU type is not Push (0x06)",
            offset: 1,
        });
    }
    let len_at = r.pos;
    let len = r.uintvar()?;
    let headers_end = usize::try_from(len)
        .ok()
        .and_then(|l| r.pos.checked_add(l))
        .filter(|e| *e <= bytes.len())
        .ok_or(Error::WspMalformed {
            reason: "headers length past the end",
            offset: len_at,
        })?;
    r.end = headers_end;
    if r.pos >= r.end {
        return Err(Error::WspMalformed {
            reason: "no content type",
            offset: r.pos,
        });
    }
    let ct_raw = r.value()?;
    let content_type = match ct_raw.first() {
        Some(b) if *b >= 0x80 => ContentType::WellKnown(b & 0x7F),
        Some(b) if *b >= 0x20 => match text_of(ct_raw) {
            Some(t) => ContentType::Text(t),
            None => ContentType::Raw(ct_raw.to_vec()),
        },
        _ => ContentType::Raw(ct_raw.to_vec()),
    };
    let mut headers = Vec::new();
    while r.pos < r.end {
        let at = r.pos;
        let b = r.byte("truncated header")?;
        match b {
            0x80..=0xFF => {
                let code = b & 0x7F;
                let value = r.value()?;
                headers.push(well_known_header(code, value));
            }
            0x20..=0x7E => {
                r.pos = at;
                let name_raw = r.value()?;
                let value_at = r.pos;
                let value_raw = r.value()?;
                let (Some(name), Some(value)) = (text_of(name_raw), text_of(value_raw)) else {
                    return Err(Error::WspMalformed {
                        reason: "application header is not text",
                        offset: if text_of(name_raw).is_none() {
                            at
                        } else {
                            value_at
                        },
                    });
                };
                headers.push(Header::Application { name, value });
            }
            _ => {
                return Err(Error::WspMalformed {
                    reason: "header code page shift not supported",
                    offset: at,
                });
            }
        }
    }
    let body = bytes.get(headers_end..).unwrap_or_default().to_vec();
    Ok(Push {
        tid,
        content_type,
        headers,
        body,
    })
}

fn well_known_header(code: u8, value: &[u8]) -> Header {
    match (code, value) {
        (FIELD_APPLICATION_ID, [v]) if *v >= 0x80 => Header::ApplicationId(v & 0x7F),
        (FIELD_X_OMA_GWMO, [0]) => Header::GwMo(String::new()),
        (FIELD_X_OMA_GWMO, [first, ..]) if *first >= 0x20 && *first < 0x80 => {
            match text_of(value) {
                Some(t) => Header::GwMo(t),
                None => Header::WellKnown {
                    code,
                    value: value.to_vec(),
                },
            }
        }
        _ => Header::WellKnown {
            code,
            value: value.to_vec(),
        },
    }
}

/// The text of an encoded text-string value (quote stripped, NUL dropped), if it is one, is
/// UTF-8 and does not start with a control octet (so that [`put_text`] can write it back).
fn text_of(raw: &[u8]) -> Option<String> {
    if raw.first().is_none_or(|b| *b < 0x20 || *b >= 0x80) {
        return None;
    }
    let body = raw.strip_suffix(&[0])?;
    let body = body.strip_prefix(&[0x7F]).unwrap_or(body);
    if body.first().is_some_and(|b| *b < 0x20) {
        return None;
    }
    String::from_utf8(body.to_vec()).ok()
}

fn short_int(v: u8) -> Option<u8> {
    (v <= 0x7F).then_some(0x80 | v)
}

fn put_text(out: &mut Vec<u8>, text: &str) -> Result<(), Error> {
    let bad = |reason| Error::WspMalformed { reason, offset: 0 };
    if text.bytes().any(|b| b == 0) {
        return Err(bad("text value contains NUL"));
    }
    match text.bytes().next() {
        Some(b) if b < 0x20 => return Err(bad("text value starts with a control octet")),
        // The quote keeps a leading octet >= 0x80 from reading as a short integer, and an empty
        // text from reading as a zero short length.
        Some(0x7F..=0xFF) | None => out.push(0x7F),
        Some(_) => {}
    }
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    Ok(())
}

fn put_raw(out: &mut Vec<u8>, value: &[u8]) -> Result<(), Error> {
    let mut r = Reader {
        bytes: value,
        pos: 0,
        end: value.len(),
    };
    let whole = r.value().is_ok() && r.pos == value.len();
    if !whole {
        return Err(Error::WspMalformed {
            reason: "raw value is not one WSP value",
            offset: 0,
        });
    }
    out.extend_from_slice(value);
    Ok(())
}

fn put_uintvar(out: &mut Vec<u8>, mut v: u32) {
    let mut tmp = [0u8; 5];
    let mut i = tmp.len();
    loop {
        i -= 1;
        let cont = if i == tmp.len() - 1 { 0 } else { 0x80 };
        if let Some(slot) = tmp.get_mut(i) {
            *slot = cont | u8::try_from(v & 0x7F).unwrap_or(0);
        }
        v >>= 7;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or_default());
}

/// A bounds-checked cursor over the PDU; `end` limits reads to the current section.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self, reason: &'static str) -> Result<u8, Error> {
        let b = self
            .bytes
            .get(self.pos)
            .filter(|_| self.pos < self.end)
            .copied()
            .ok_or(Error::WspMalformed {
                reason,
                offset: self.pos,
            })?;
        self.pos += 1;
        Ok(b)
    }

    fn uintvar(&mut self) -> Result<u32, Error> {
        let start = self.pos;
        let mut v: u32 = 0;
        for _ in 0..5 {
            let b = self.byte("truncated uintvar")?;
            v = v
                .checked_mul(128)
                .map(|x| x | u32::from(b & 0x7F))
                .ok_or(Error::WspMalformed {
                    reason: "uintvar over 32 bits",
                    offset: start,
                })?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::WspMalformed {
            reason: "uintvar longer than 5 octets",
            offset: start,
        })
    }

    fn take(&mut self, n: usize, reason: &'static str) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= self.end)
            .ok_or(Error::WspMalformed {
                reason,
                offset: start,
            })?;
        self.pos = end;
        self.bytes.get(start..end).ok_or(Error::WspMalformed {
            reason,
            offset: start,
        })
    }

    /// One complete encoded value; returns its bytes (prefix included).
    fn value(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let b = self.byte("truncated value")?;
        match b {
            0..=30 => {
                self.take(usize::from(b), "value past the end of the headers")?;
            }
            31 => {
                let len = self.uintvar()?;
                let len = usize::try_from(len).map_err(|_| Error::WspMalformed {
                    reason: "value length too large",
                    offset: start,
                })?;
                self.take(len, "value past the end of the headers")?;
            }
            32..=127 => {
                let rest = self.bytes.get(self.pos..self.end).unwrap_or_default();
                let nul = rest
                    .iter()
                    .position(|c| *c == 0)
                    .ok_or(Error::WspMalformed {
                        reason: "unterminated text value",
                        offset: start,
                    })?;
                self.pos += nul + 1;
            }
            128..=255 => {}
        }
        self.bytes.get(start..self.pos).ok_or(Error::WspMalformed {
            reason: "value past the end",
            offset: start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_notification_framing_matches_known_bytes() {
        let pdu = encode_push(1, b"BODY", &[]).unwrap();
        assert_eq!(
            pdu,
            [0x01, 0x06, 0x03, 0xC4, 0xAF, 0x87, b'B', b'O', b'D', b'Y']
        );
        let p = decode_push(&pdu).unwrap();
        assert!(p.is_dm_notification());
        assert_eq!(p.body, b"BODY");
        assert_eq!(p.tid, 1);
    }

    #[test]
    fn gwmo_header_round_trip() {
        let pdu = encode_push(9, b"x", &[Header::GwMo("IMEI:123".into())]).unwrap();
        assert_eq!(&pdu[..6], [9, 6, 13, 0xC4, 0xAF, 0x87]);
        assert_eq!(&pdu[6..7], [0xD0]);
        let p = decode_push(&pdu).unwrap();
        assert_eq!(p.gwmo_device(), Some("IMEI:123"));
        assert_eq!(p.body, b"x");
    }

    #[test]
    fn long_content_type_form_and_app_headers() {
        // 1F 01 C4: length-quote form of a content type (seen in the wild).
        let mut pdu = vec![0x01, 0x06, 0x05, 0x1F, 0x01, 0xC4, 0xAF, 0x87];
        pdu.extend_from_slice(b"zz");
        let p = decode_push(&pdu).unwrap();
        assert_eq!(p.content_type, ContentType::Raw(vec![0x1F, 0x01, 0xC4]));
        assert_eq!(p.application_id(), Some(7));
        let again = decode_push(&p.encode().unwrap()).unwrap();
        assert_eq!(again, p);

        let p = Push {
            tid: 3,
            content_type: ContentType::Text("application/vnd.syncml.notification".into()),
            headers: vec![
                Header::Application {
                    name: "X-Foo".into(),
                    value: "bar".into(),
                },
                Header::ApplicationId(7),
            ],
            body: vec![],
        };
        let decoded = decode_push(&p.encode().unwrap()).unwrap();
        assert_eq!(decoded, p);
        assert!(decoded.is_dm_notification());
    }

    #[test]
    fn errors_with_offsets() {
        assert!(matches!(
            decode_push(&[]),
            Err(Error::WspMalformed { offset: 0, .. })
        ));
        assert!(matches!(
            decode_push(&[1, 7, 0]),
            Err(Error::WspMalformed { offset: 1, .. })
        ));
        assert!(matches!(
            decode_push(&[1, 6, 9, 0xC4]),
            Err(Error::WspMalformed {
                offset: 2,
                reason: "headers length past the end"
            })
        ));
        assert!(matches!(
            decode_push(&[1, 6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            Err(Error::WspMalformed { offset: 2, .. })
        ));
        // text header value without NUL inside the header section
        assert!(matches!(
            decode_push(&[1, 6, 3, 0xC4, 0xD0, b'a', 0]),
            Err(Error::WspMalformed {
                offset: 5,
                reason: "unterminated text value"
            })
        ));
        assert!(matches!(
            decode_push(&[1, 6, 2, 0xC4, 0x7F]),
            Err(Error::WspMalformed { offset: 4, .. })
        ));
    }

    #[test]
    fn unencodable_values() {
        assert!(encode_push(0, b"", &[Header::GwMo("a\0b".into())]).is_err());
        assert!(encode_push(0, b"", &[Header::GwMo("\u{1}".into())]).is_err());
        assert!(encode_push(0, b"", &[Header::ApplicationId(0x80)]).is_err());
        assert!(
            encode_push(
                0,
                b"",
                &[Header::WellKnown {
                    code: 1,
                    value: vec![5, 1]
                }]
            )
            .is_err()
        );
        let p = decode_push(&encode_push(0, b"", &[Header::GwMo(String::new())]).unwrap());
        assert_eq!(p.unwrap().gwmo_device(), Some(""));
        let p = decode_push(&encode_push(0, b"", &[Header::GwMo("\u{e9}t\u{e9}".into())]).unwrap());
        assert_eq!(p.unwrap().gwmo_device(), Some("\u{e9}t\u{e9}"));
    }

    #[test]
    fn uintvar_encoding() {
        for (v, bytes) in [
            (0u32, &[0u8][..]),
            (0x7F, &[0x7F]),
            (0x80, &[0x81, 0x00]),
            (u32::MAX, &[0x8F, 0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            put_uintvar(&mut out, v);
            assert_eq!(out, bytes);
            let mut r = Reader {
                bytes: &out,
                pos: 0,
                end: out.len(),
            };
            assert_eq!(r.uintvar().unwrap(), v);
        }
    }
}
