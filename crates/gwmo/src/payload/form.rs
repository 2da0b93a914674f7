//! The bounded `application/x-www-form-urlencoded` reader and writer every GwMO form payload
//! uses (on the `form_urlencoded` crate).
//!
//! Reading is one pass over the text: `limits.max_size` bounds its length,
//! `limits.max_elements` the number of fields; each field knows its byte offset. Empty pieces
//! (`a=1&&b=2`) are skipped, as `form_urlencoded` does. A field whose percent-encoding does
//! not decode to UTF-8 is an error (not a replacement character), so two different ids can
//! never decode to one.

use syncml::Limits;

use crate::Error;

/// One decoded field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// The decoded key.
    pub(crate) key: String,
    /// The decoded value.
    pub(crate) value: String,
    /// Byte offset of the field in the form.
    pub(crate) offset: usize,
}

impl Field {
    /// Stores the parsed value in `slot`, which must still be empty.
    ///
    /// # Errors
    /// [`Error::FormDuplicateKey`] when `slot` is set; [`Error::FormInvalidValue`] when
    /// `parse` fails.
    pub(crate) fn once<T>(
        &self,
        key: &'static str,
        slot: &mut Option<T>,
        parse: impl FnOnce(String) -> Result<T, Error>,
    ) -> Result<(), Error> {
        if slot.is_some() {
            return Err(Error::FormDuplicateKey {
                key,
                offset: self.offset,
            });
        }
        *slot = Some(self.parse(key, parse)?);
        Ok(())
    }

    /// The parsed value.
    ///
    /// # Errors
    /// [`Error::FormInvalidValue`] when `parse` fails.
    pub(crate) fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(String) -> Result<T, Error>,
    ) -> Result<T, Error> {
        parse(self.value.clone()).map_err(|e| Error::FormInvalidValue {
            key,
            offset: self.offset,
            reason: match e {
                Error::InvalidValue { .. } => "not a known name",
                Error::InvalidDeviceId { reason, .. } => reason,
                Error::FormInvalidValue { reason, .. } => reason,
                _ => "invalid value",
            },
        })
    }
}

/// The fields of one form, read one by one.
pub(crate) struct Fields<'a> {
    rest: &'a str,
    offset: usize,
    count: usize,
    max: usize,
}

impl<'a> Fields<'a> {
    /// Starts reading `text`.
    ///
    /// # Errors
    /// [`Error::FormTooLarge`] when `text` is longer than `limits.max_size`.
    pub(crate) fn new(text: &'a str, limits: &Limits) -> Result<Fields<'a>, Error> {
        if text.len() > limits.max_size {
            return Err(Error::FormTooLarge {
                len: text.len(),
                max: limits.max_size,
            });
        }
        Ok(Fields {
            rest: text,
            offset: 0,
            count: 0,
            max: limits.max_elements,
        })
    }

    /// The next field, or `None` at the end.
    ///
    /// # Errors
    /// [`Error::FormTooManyFields`], [`Error::FormInvalidUtf8`].
    pub(crate) fn next_field(&mut self) -> Result<Option<Field>, Error> {
        loop {
            if self.rest.is_empty() {
                return Ok(None);
            }
            let (piece, rest, step) = match self.rest.split_once('&') {
                Some((p, r)) => (p, r, p.len() + 1),
                None => (self.rest, "", self.rest.len()),
            };
            let offset = self.offset;
            self.rest = rest;
            self.offset += step;
            if piece.is_empty() {
                continue;
            }
            self.count += 1;
            if self.count > self.max {
                return Err(Error::FormTooManyFields {
                    offset,
                    max: self.max,
                });
            }
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            // Strict decoding: an escape that does not make UTF-8 is an error (a literal
            // U+FFFD in the text is data, and survives a round trip).
            let decode = |part: &str| {
                let plus: Vec<u8> = part
                    .bytes()
                    .map(|b| if b == b'+' { b' ' } else { b })
                    .collect();
                let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
                String::from_utf8(bytes).map_err(|_| Error::FormInvalidUtf8 { offset })
            };
            return Ok(Some(Field {
                key: decode(key)?,
                value: decode(value)?,
                offset,
            }));
        }
    }
}

/// Writes `pairs` as a form, leaving out the `None` values, in the order given.
pub(crate) fn encode_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str, limits: &Limits) -> Result<Vec<Field>, Error> {
        let mut f = Fields::new(text, limits)?;
        let mut out = Vec::new();
        while let Some(x) = f.next_field()? {
            out.push(x);
        }
        Ok(out)
    }

    #[test]
    fn fields_with_offsets_and_decoding() {
        let got = all("a=1&&b=x+y%21&c&=v", &Limits::default()).unwrap();
        let simple: Vec<_> = got
            .iter()
            .map(|f| (f.key.as_str(), f.value.as_str(), f.offset))
            .collect();
        assert_eq!(
            simple,
            [
                ("a", "1", 0),
                ("b", "x y!", 5),
                ("c", "", 14),
                ("", "v", 16)
            ]
        );
    }

    #[test]
    fn bounds_and_utf8() {
        let l = Limits {
            max_size: 8,
            max_depth: 1,
            max_elements: 2,
            ..Limits::default()
        };
        assert!(matches!(
            all("a=123456789", &l),
            Err(Error::FormTooLarge { len: 11, max: 8 })
        ));
        assert!(matches!(
            all("a&b&c", &l),
            Err(Error::FormTooManyFields { offset: 4, max: 2 })
        ));
        assert!(matches!(
            all("a=%C3", &Limits::default()),
            Err(Error::FormInvalidUtf8 { offset: 0 })
        ));
        // A literal replacement character is not an encoding error.
        assert_eq!(
            all("a=\u{fffd}", &Limits::default()).unwrap()[0].value,
            "\u{fffd}"
        );
    }

    #[test]
    fn encoding_skips_none_and_escapes() {
        assert_eq!(
            encode_pairs([("id", Some("IMEI:1 &2")), ("x", None), ("e", Some(""))]),
            "id=IMEI%3A1+%262&e="
        );
    }
}
