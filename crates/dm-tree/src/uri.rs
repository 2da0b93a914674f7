//! DM URIs: `./A/B`, `A/B`, `.`, with optional `?prop=Name` or `?list=...` suffix.
//!
//! Rules enforced by [`Uri::parse`] (digest §5.1):
//! - a URI is `.` (the root), `./seg/seg...` (absolute) or `seg/seg...` (relative to the root);
//! - no trailing `/`, no empty segment, no `.`/`..` segment other than the leading `.`;
//! - a segment may carry `%XX` escapes; the decoded bytes must be UTF-8 and must not contain `/`;
//! - the limits of `./DevDetail/URI` ([`UriLimits`], `0` = unlimited) are checked on the path part
//!   as received: `MaxTotLen` on its length in bytes without a leading `./`, `MaxSegLen` on each
//!   segment's length in bytes (escaped form), `MaxDepth` on the number of segments below the root.
//!   Violations give [`UriErrorKind::TooLong`] and friends, reported as status 414.
//!
//! Parsing is total: any string gives a typed result and never panics.

use std::fmt::Write as _;

use crate::error::{Error, UriErrorKind};

/// The URI limits a device advertises in `./DevDetail/URI/MaxDepth|MaxTotLen|MaxSegLen`.
/// A value of `0` means "unlimited".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UriLimits {
    /// Maximum number of segments below the root.
    pub max_depth: u16,
    /// Maximum length of the path in bytes (without the leading `./`).
    pub max_tot_len: u16,
    /// Maximum length of one segment in bytes.
    pub max_seg_len: u16,
}

/// A run-time node property (digest §5.2), addressed with `?prop=Name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// `ACL`.
    Acl,
    /// `Format`.
    Format,
    /// `Name`.
    Name,
    /// `Size`.
    Size,
    /// `Title`.
    Title,
    /// `TStamp`.
    TStamp,
    /// `Type`.
    Type,
    /// `VerNo`.
    VerNo,
}

impl Property {
    /// Every property, in the order TNDS lists them.
    pub const ALL: [Property; 8] = [
        Property::Acl,
        Property::Format,
        Property::Name,
        Property::Size,
        Property::Title,
        Property::TStamp,
        Property::Type,
        Property::VerNo,
    ];

    /// The property named `name` (case-sensitive, as DM spells it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Property> {
        Some(match name {
            "ACL" => Property::Acl,
            "Format" => Property::Format,
            "Name" => Property::Name,
            "Size" => Property::Size,
            "Title" => Property::Title,
            "TStamp" => Property::TStamp,
            "Type" => Property::Type,
            "VerNo" => Property::VerNo,
            _ => return None,
        })
    }

    /// The DM name of this property.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Property::Acl => "ACL",
            Property::Format => "Format",
            Property::Name => "Name",
            Property::Size => "Size",
            Property::Title => "Title",
            Property::TStamp => "TStamp",
            Property::Type => "Type",
            Property::VerNo => "VerNo",
        }
    }
}

/// What a `?list=TNDS+...` listing includes besides the node names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TndsFields {
    /// `+Value`: leaf values.
    pub value: bool,
    /// `+ACL`.
    pub acl: bool,
    /// `+Format`.
    pub format: bool,
    /// `+Name` (accepted; the name is always present as `NodeName`).
    pub name: bool,
    /// `+Size`.
    pub size: bool,
    /// `+Title`.
    pub title: bool,
    /// `+TStamp`.
    pub tstamp: bool,
    /// `+Type`.
    pub r#type: bool,
    /// `+VerNo`.
    pub verno: bool,
}

impl TndsFields {
    /// Everything: values and every property.
    #[must_use]
    pub fn all() -> TndsFields {
        TndsFields {
            value: true,
            acl: true,
            format: true,
            name: true,
            size: true,
            title: true,
            tstamp: true,
            r#type: true,
            verno: true,
        }
    }

    fn set(&mut self, word: &str) -> bool {
        let flag = match word {
            "Value" => &mut self.value,
            "ACL" => &mut self.acl,
            "Format" => &mut self.format,
            "Name" => &mut self.name,
            "Size" => &mut self.size,
            "Title" => &mut self.title,
            "TStamp" => &mut self.tstamp,
            "Type" => &mut self.r#type,
            "VerNo" => &mut self.verno,
            _ => return false,
        };
        *flag = true;
        true
    }
}

/// A subtree listing requested with `?list=` (digest §5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `Struct`: one item per node, no values.
    Struct,
    /// `StructData`: one item per node, leaf values included.
    StructData,
    /// `TNDS+...`: one item holding a TNDS document.
    Tnds(TndsFields),
}

/// The query part of a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `?prop=Name`.
    Prop(Property),
    /// `?list=...`.
    List(ListKind),
}

/// A parsed, validated DM URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    segments: Vec<String>,
    absolute: bool,
    query: Option<QueryKey>,
}

/// Compact, hashable private form of [`Query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct QueryKey(QueryRepr);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum QueryRepr {
    Prop(Property),
    Struct,
    StructData,
    Tnds(u16),
}

fn tnds_bits(f: TndsFields) -> u16 {
    [
        f.value, f.acl, f.format, f.name, f.size, f.title, f.tstamp, f.r#type, f.verno,
    ]
    .iter()
    .enumerate()
    .fold(0u16, |acc, (i, b)| if *b { acc | (1 << i) } else { acc })
}

fn tnds_from_bits(bits: u16) -> TndsFields {
    let b = |i: u16| bits & (1 << i) != 0;
    TndsFields {
        value: b(0),
        acl: b(1),
        format: b(2),
        name: b(3),
        size: b(4),
        title: b(5),
        tstamp: b(6),
        r#type: b(7),
        verno: b(8),
    }
}

impl Uri {
    /// The root `.`.
    #[must_use]
    pub fn root() -> Uri {
        Uri {
            segments: Vec::new(),
            absolute: true,
            query: None,
        }
    }

    /// An absolute URI from already-decoded segments (the caller guarantees each is a valid
    /// node name: non-empty, no `/`, not `.` or `..`).
    ///
    /// # Errors
    /// [`Error::Uri`] with [`UriErrorKind::BadSegment`] if a segment is not a valid name.
    pub fn from_segments<I, S>(segments: I) -> Result<Uri, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let segments: Vec<String> = segments.into_iter().map(Into::into).collect();
        for s in &segments {
            if !is_valid_name(s) {
                return Err(Error::Uri {
                    uri: s.clone(),
                    kind: UriErrorKind::BadSegment,
                });
            }
        }
        Ok(Uri {
            segments,
            absolute: true,
            query: None,
        })
    }

    /// Parses and validates `input` against `limits`.
    ///
    /// # Errors
    /// [`Error::Uri`] with the reason; [`Error::status`] maps limit violations to 414, unknown
    /// properties/listings to 406 and malformed URIs to 400.
    pub fn parse(input: &str, limits: &UriLimits) -> Result<Uri, Error> {
        let err = |kind| Error::Uri {
            uri: input.to_owned(),
            kind,
        };
        let (path, query) = match input.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (input, None),
        };
        if path.is_empty() {
            return Err(err(UriErrorKind::Empty));
        }
        let (absolute, rest) = if path == "." {
            (true, "")
        } else if let Some(r) = path.strip_prefix("./") {
            (true, r)
        } else {
            (false, path)
        };
        if absolute && path != "." && rest.is_empty() {
            return Err(err(UriErrorKind::TrailingSlash));
        }
        if rest.ends_with('/') {
            return Err(err(UriErrorKind::TrailingSlash));
        }
        if limits.max_tot_len != 0 && rest.len() > usize::from(limits.max_tot_len) {
            return Err(err(UriErrorKind::TooLong {
                len: rest.len(),
                max: limits.max_tot_len,
            }));
        }
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for raw in rest.split('/') {
                if raw.is_empty() {
                    return Err(err(UriErrorKind::EmptySegment));
                }
                if limits.max_seg_len != 0 && raw.len() > usize::from(limits.max_seg_len) {
                    return Err(err(UriErrorKind::SegmentTooLong {
                        len: raw.len(),
                        max: limits.max_seg_len,
                    }));
                }
                if raw == "." || raw == ".." {
                    return Err(err(UriErrorKind::DotSegment));
                }
                let seg = unescape(raw).map_err(err)?;
                if !is_valid_name(&seg) {
                    return Err(err(UriErrorKind::BadSegment));
                }
                segments.push(seg);
                if limits.max_depth != 0 && segments.len() > usize::from(limits.max_depth) {
                    return Err(err(UriErrorKind::TooDeep {
                        depth: rest.split('/').count(),
                        max: limits.max_depth,
                    }));
                }
            }
        }
        let query = match query {
            None => None,
            Some(q) => Some(QueryKey(parse_query(q).map_err(err)?)),
        };
        Ok(Uri {
            segments,
            absolute,
            query,
        })
    }

    /// The decoded segments below the root (empty for `.`).
    #[must_use]
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Number of segments below the root.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    /// True for the root `.`.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// True if the URI was written `./...` (or `.`), false for the relative form `A/B`.
    #[must_use]
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    /// The `?prop=` / `?list=` part, if any.
    #[must_use]
    pub fn query(&self) -> Option<Query> {
        self.query.map(|QueryKey(q)| match q {
            QueryRepr::Prop(p) => Query::Prop(p),
            QueryRepr::Struct => Query::List(ListKind::Struct),
            QueryRepr::StructData => Query::List(ListKind::StructData),
            QueryRepr::Tnds(bits) => Query::List(ListKind::Tnds(tnds_from_bits(bits))),
        })
    }

    /// The same URI without its query.
    #[must_use]
    pub fn without_query(&self) -> Uri {
        Uri {
            segments: self.segments.clone(),
            absolute: self.absolute,
            query: None,
        }
    }

    /// The last segment (the node name), `None` for the root.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// The parent URI (no query), `None` for the root.
    #[must_use]
    pub fn parent(&self) -> Option<Uri> {
        let (_, init) = self.segments.split_last()?;
        Some(Uri {
            segments: init.to_vec(),
            absolute: self.absolute,
            query: None,
        })
    }

    /// This URI with one more segment (no query). `name` must be a valid node name.
    #[must_use]
    pub fn join(&self, name: &str) -> Uri {
        let mut segments = self.segments.clone();
        segments.push(name.to_owned());
        Uri {
            segments,
            absolute: self.absolute,
            query: None,
        }
    }

    /// The URI made of the segments after the first `depth`, absolute, query kept: this URI as
    /// seen from the node at `depth` (a mount point) taken as the root.
    pub(crate) fn below(&self, depth: usize) -> Uri {
        Uri {
            segments: self.segments.get(depth..).unwrap_or_default().to_vec(),
            absolute: true,
            query: self.query,
        }
    }

    /// The first `depth` segments, in this URI's form (absolute or relative), no query.
    pub(crate) fn prefix(&self, depth: usize) -> Uri {
        Uri {
            segments: self.segments.get(..depth).unwrap_or_default().to_vec(),
            absolute: self.absolute,
            query: None,
        }
    }

    /// True if `self` is `other` or lies below it (queries ignored).
    #[must_use]
    pub fn starts_with(&self, other: &Uri) -> bool {
        self.segments.starts_with(&other.segments)
    }

    /// The path in absolute form `./A/B` (or `.`), segments escaped, no query.
    #[must_use]
    pub fn to_absolute_string(&self) -> String {
        render(&self.segments, true)
    }

    /// The path in the form it was written (absolute or relative), segments escaped, no query.
    #[must_use]
    pub fn path_string(&self) -> String {
        render(&self.segments, self.absolute)
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path_string())?;
        if let Some(q) = self.query() {
            match q {
                Query::Prop(p) => write!(f, "?prop={}", p.name())?,
                Query::List(ListKind::Struct) => f.write_str("?list=Struct")?,
                Query::List(ListKind::StructData) => f.write_str("?list=StructData")?,
                Query::List(ListKind::Tnds(t)) => {
                    f.write_str("?list=TNDS")?;
                    let words = [
                        (t.format, "Format"),
                        (t.r#type, "Type"),
                        (t.value, "Value"),
                        (t.acl, "ACL"),
                        (t.name, "Name"),
                        (t.size, "Size"),
                        (t.title, "Title"),
                        (t.tstamp, "TStamp"),
                        (t.verno, "VerNo"),
                    ];
                    for (on, w) in words {
                        if on {
                            write!(f, "+{w}")?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn parse_query(q: &str) -> Result<QueryRepr, UriErrorKind> {
    if let Some(name) = q.strip_prefix("prop=") {
        return Property::from_name(name)
            .map(QueryRepr::Prop)
            .ok_or_else(|| UriErrorKind::UnknownProperty(name.to_owned()));
    }
    if let Some(list) = q.strip_prefix("list=") {
        return match list {
            "Struct" => Ok(QueryRepr::Struct),
            "StructData" => Ok(QueryRepr::StructData),
            _ => {
                let mut words = list.split('+');
                if words.next() != Some("TNDS") {
                    return Err(UriErrorKind::UnknownList(list.to_owned()));
                }
                let mut fields = TndsFields::default();
                for w in words {
                    if !fields.set(w) {
                        return Err(UriErrorKind::UnknownList(list.to_owned()));
                    }
                }
                Ok(QueryRepr::Tnds(tnds_bits(fields)))
            }
        };
    }
    Err(UriErrorKind::UnknownQuery(q.to_owned()))
}

/// True if `name` can be a node name: non-empty, no `/`, not `.` or `..`.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && name != "." && name != ".."
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unescape(raw: &str) -> Result<String, UriErrorKind> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(UriErrorKind::BadEscape),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriErrorKind::BadSegment)
}

/// Escapes a node name for use as a URI segment: `%`, `?`, `#`, space and control characters
/// become `%XX`; everything else (non-ASCII UTF-8 included) is kept.
#[must_use]
pub fn escape_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' | '?' | '#' | ' ' | '/' => {
                let _ = write!(out, "%{:02X}", u32::from(c));
            }
            c if c.is_ascii_control() => {
                let _ = write!(out, "%{:02X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn render(segments: &[String], absolute: bool) -> String {
    if segments.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::new();
    if absolute {
        out.push_str("./");
    }
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&escape_segment(s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<Uri, Error> {
        Uri::parse(s, &UriLimits::default())
    }

    fn kind(s: &str, l: &UriLimits) -> UriErrorKind {
        match Uri::parse(s, l) {
            Err(Error::Uri { kind, .. }) => kind,
            other => panic!("expected error for {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn forms() {
        let a = p("./A/B").unwrap();
        assert_eq!(a.segments(), ["A", "B"]);
        assert!(a.is_absolute());
        let r = p("A/B").unwrap();
        assert_eq!(r.segments(), a.segments());
        assert!(!r.is_absolute());
        assert_eq!(r.path_string(), "A/B");
        assert_eq!(r.to_absolute_string(), "./A/B");
        let root = p(".").unwrap();
        assert!(root.is_root());
        assert_eq!(root.path_string(), ".");
        assert_eq!(a.parent().unwrap().path_string(), "./A");
        assert_eq!(a.name(), Some("B"));
    }

    #[test]
    fn malformed() {
        let l = UriLimits::default();
        assert_eq!(kind("", &l), UriErrorKind::Empty);
        assert_eq!(kind("./A/", &l), UriErrorKind::TrailingSlash);
        assert_eq!(kind("./", &l), UriErrorKind::TrailingSlash);
        assert_eq!(kind("A//B", &l), UriErrorKind::EmptySegment);
        assert_eq!(kind("/A", &l), UriErrorKind::EmptySegment);
        assert_eq!(kind("./A/../B", &l), UriErrorKind::DotSegment);
        assert_eq!(kind("./A/./B", &l), UriErrorKind::DotSegment);
        assert_eq!(kind("./A%2", &l), UriErrorKind::BadEscape);
        assert_eq!(kind("./A%zz", &l), UriErrorKind::BadEscape);
        assert_eq!(kind("./A%2FB", &l), UriErrorKind::BadSegment);
        assert_eq!(kind("./A%FF", &l), UriErrorKind::BadSegment);
        assert_eq!(p("./A/").unwrap_err().status().0, 400);
    }

    #[test]
    fn escapes() {
        let u = p("./A%20B/c%25d").unwrap();
        assert_eq!(u.segments(), ["A B", "c%d"]);
        assert_eq!(u.path_string(), "./A%20B/c%25d");
        let u = p("./caf%C3%A9").unwrap();
        assert_eq!(u.segments(), ["café"]);
    }

    #[test]
    fn limits_give_414() {
        let l = UriLimits {
            max_depth: 2,
            max_tot_len: 10,
            max_seg_len: 4,
        };
        assert!(Uri::parse("./A/B", &l).is_ok());
        assert!(matches!(
            kind("./A/B/C", &l),
            UriErrorKind::TooDeep { depth: 3, max: 2 }
        ));
        assert!(matches!(
            kind("./ABCDE", &l),
            UriErrorKind::SegmentTooLong { len: 5, max: 4 }
        ));
        assert!(matches!(
            kind("ABCD/EFGH/I", &l),
            UriErrorKind::TooLong { len: 11, max: 10 }
        ));
        for bad in ["./A/B/C", "./ABCDE", "ABCD/EFGH/I"] {
            assert_eq!(Uri::parse(bad, &l).unwrap_err().status().0, 414);
        }
    }

    #[test]
    fn queries() {
        let u = p("./A?prop=ACL").unwrap();
        assert_eq!(u.query(), Some(Query::Prop(Property::Acl)));
        assert_eq!(u.to_string(), "./A?prop=ACL");
        let u = p("./A?list=Struct").unwrap();
        assert_eq!(u.query(), Some(Query::List(ListKind::Struct)));
        let u = p(".?list=StructData").unwrap();
        assert_eq!(u.query(), Some(Query::List(ListKind::StructData)));
        let u = p("./A?list=TNDS+Format+Type+Value+ACL").unwrap();
        match u.query() {
            Some(Query::List(ListKind::Tnds(f))) => {
                assert!(f.format && f.r#type && f.value && f.acl && !f.verno);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(u.to_string(), "./A?list=TNDS+Format+Type+Value+ACL");
        assert_eq!(p("./A?prop=Colour").unwrap_err().status().0, 406);
        assert_eq!(p("./A?list=Tree").unwrap_err().status().0, 406);
        assert_eq!(p("./A?list=TNDS+Bogus").unwrap_err().status().0, 406);
        assert_eq!(p("./A?foo=bar").unwrap_err().status().0, 406);
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        "[^/]{1,8}".prop_filter("valid name", |s| is_valid_name(s))
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,64}", d in 0u16..5, t in 0u16..40, g in 0u16..10) {
            let l = UriLimits { max_depth: d, max_tot_len: t, max_seg_len: g };
            let _ = Uri::parse(&s, &l);
            let _ = Uri::parse(&s, &UriLimits::default());
        }

        #[test]
        fn render_parse_round_trip(names in proptest::collection::vec(name_strategy(), 0..6)) {
            let u = Uri::from_segments(names.clone()).unwrap();
            let s = u.to_absolute_string();
            let back = Uri::parse(&s, &UriLimits::default()).unwrap();
            prop_assert_eq!(back.segments(), &names[..]);
        }
    }
}
