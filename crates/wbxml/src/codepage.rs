//! Code pages as data: which tag token means which element name, in which namespace.

/// One tag code page of a WBXML language: page number, namespace, token -> tag name.
///
/// Tokens are contiguous from `first_token` (usually 0x05, the first non-global token);
/// `tags[i]` is the name of token `first_token + i`, and an empty name marks an unassigned token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePage<'a> {
    /// The page number (the byte after `SWITCH_PAGE`).
    pub number: u8,
    /// The XML namespace of the elements on this page.
    pub namespace: &'a str,
    /// The token of `tags[0]`.
    pub first_token: u8,
    /// Tag names, indexed by `token - first_token`.
    pub tags: &'a [&'a str],
}

impl<'a> CodePage<'a> {
    /// The name of a tag token (content/attribute bits already masked off), if assigned.
    #[must_use]
    #[inline]
    pub fn name(&self, token: u8) -> Option<&'a str> {
        let i = usize::from(token.checked_sub(self.first_token)?);
        self.tags.get(i).copied().filter(|n| !n.is_empty())
    }

    /// The token of a tag name on this page.
    #[must_use]
    pub fn token(&self, name: &str) -> Option<u8> {
        let i = self.tags.iter().position(|n| !n.is_empty() && *n == name)?;
        u8::try_from(i)
            .ok()
            .and_then(|i| i.checked_add(self.first_token))
    }
}

/// The tag code pages of one WBXML language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSpace<'a> {
    /// The pages, in any order.
    pub pages: &'a [CodePage<'a>],
}

impl<'a> CodeSpace<'a> {
    /// The page with this number.
    #[must_use]
    pub fn page(&self, number: u8) -> Option<&CodePage<'a>> {
        self.pages.iter().find(|p| p.number == number)
    }

    /// The name and namespace of a tag token on a page.
    #[must_use]
    pub fn tag(&self, page: u8, token: u8) -> Option<(&'a str, &'a str)> {
        let p = self.page(page)?;
        Some((p.name(token)?, p.namespace))
    }

    /// The (page, token) of an element name in a namespace.
    #[must_use]
    pub fn token(&self, namespace: &str, name: &str) -> Option<(u8, u8)> {
        self.pages
            .iter()
            .filter(|p| p.namespace == namespace)
            .find_map(|p| Some((p.number, p.token(name)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: CodePage<'static> = CodePage {
        number: 1,
        namespace: "urn:x",
        first_token: 5,
        tags: &["A", "", "C"],
    };

    #[test]
    fn lookups() {
        assert_eq!(PAGE.name(5), Some("A"));
        assert_eq!(PAGE.name(6), None);
        assert_eq!(PAGE.name(7), Some("C"));
        assert_eq!(PAGE.name(8), None);
        assert_eq!(PAGE.name(0), None);
        assert_eq!(PAGE.token("C"), Some(7));
        assert_eq!(PAGE.token(""), None);
        let space = CodeSpace { pages: &[PAGE] };
        assert_eq!(space.tag(1, 5), Some(("A", "urn:x")));
        assert_eq!(space.tag(0, 5), None);
        assert_eq!(space.token("urn:x", "C"), Some((1, 7)));
        assert_eq!(space.token("urn:y", "C"), None);
    }
}
