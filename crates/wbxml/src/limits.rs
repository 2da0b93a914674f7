//! The bounds a decoder keeps to on one untrusted document, shared by every codec of the
//! workspace (`syncml` re-exports this type as `syncml::Limits`).

use std::fmt;

/// Bounds a decoder enforces on untrusted input. Exceeding one is an error naming the
/// [`LimitKind`] and the byte offset where it was hit, never a panic, an abort or an unbounded
/// allocation.
///
/// # The guarantee
///
/// A decoder given these limits does work linear in the size of its input, and the decoded
/// output it builds (the bytes of every string, text and data value, embedded documents
/// included) is at most the [output budget](Limits::output_budget) of the input:
/// `min(max_output, max_expansion × input length)`. With the defaults that is **at most 32 times
/// the input, and at most 16 MiB**. What counts:
///
/// - [`crate::Reader`] counts every byte of every slice it hands out (character data from
///   `STR_I` and `STR_T`, opaque data, literal tag names, extension strings) and the UTF-8 size
///   of every `ENTITY`; a caller that builds more output from the events (markup, when it turns
///   WBXML elements into XML text) counts that too ([`crate::Reader::charge`]).
/// - A document embedded in another one (a nested WBXML document in `OPAQUE`) draws on the same
///   budget, element count, reference and entity counts as the outer document, and its depth
///   adds to the depth of the element that holds it ([`crate::Reader::nested`]).
///
/// The counts are what makes work linear where output alone would not: each string-table
/// reference and each entity costs a constant, so at most `max_str_refs` and `max_entities` of
/// them are followed, whatever the bytes they stand for.
///
/// Defaults ([`Limits::default`]): `max_size` 4 MiB, `max_depth` 32, `max_elements` 100 000,
/// `max_text` 4 MiB, `max_output` 16 MiB, `max_expansion` 32, `max_str_refs` 100 000,
/// `max_entities` 1 000 000: far above any real DM message, far below what would hurt a
/// server. (Measured as the output a decoder counts: the golden corpus of `testdata/messages`
/// at most 2.7 times its input, a TNDS `?list=Struct` answer of 60 nodes without values 8.3
/// times, from the nested DDF document's tags; XML never more than 1 time.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_size: usize,
    /// Deepest element nesting accepted (the root element is depth 1; an embedded document's
    /// elements count from the depth of the element holding it).
    pub max_depth: usize,
    /// Most elements accepted in one message (embedded documents included).
    pub max_elements: usize,
    /// Largest decoded text value, in bytes: the character data of one element (all its
    /// pieces joined), or one embedded document turned into text.
    pub max_text: usize,
    /// Most decoded output in total, in bytes (see the guarantee above).
    pub max_output: usize,
    /// Most decoded output per byte of input: the output budget is at most `max_expansion`
    /// times the input length.
    pub max_expansion: usize,
    /// Most string-table references followed (`STR_T` and literal tag names) in one message.
    pub max_str_refs: usize,
    /// Most character entities resolved in one message (WBXML `ENTITY` tokens; XML entity and
    /// character references).
    pub max_entities: usize,
}

impl Default for Limits {
    /// 4 MiB of input, depth 32, 100 000 elements, 4 MiB per text value, 16 MiB and 32 times the
    /// input of output, 100 000 string-table references, 1 000 000 entities.
    fn default() -> Self {
        Limits {
            max_size: 4 * 1024 * 1024,
            max_depth: 32,
            max_elements: 100_000,
            max_text: 4 * 1024 * 1024,
            max_output: 16 * 1024 * 1024,
            max_expansion: 32,
            max_str_refs: 100_000,
            max_entities: 1_000_000,
        }
    }
}

impl Limits {
    /// The most decoded output (in bytes) a document of `input_len` bytes may produce:
    /// `min(max_output, max_expansion × input_len)`.
    #[must_use]
    pub fn output_budget(&self, input_len: usize) -> usize {
        self.max_output
            .min(self.max_expansion.saturating_mul(input_len))
    }

    /// The bound in force for `kind` (for [`LimitKind::Output`], `max_output`; the budget of a
    /// given input is [`Limits::output_budget`]).
    #[must_use]
    pub fn get(&self, kind: LimitKind) -> usize {
        match kind {
            LimitKind::Size => self.max_size,
            LimitKind::Depth => self.max_depth,
            LimitKind::Elements => self.max_elements,
            LimitKind::Text => self.max_text,
            LimitKind::Output => self.max_output,
            LimitKind::StrRefs => self.max_str_refs,
            LimitKind::Entities => self.max_entities,
        }
    }
}

/// Which bound of [`Limits`] a document exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_size`]: the input is too large.
    Size,
    /// [`Limits::max_depth`]: elements nest too deep.
    Depth,
    /// [`Limits::max_elements`]: too many elements.
    Elements,
    /// [`Limits::max_text`]: one text value is too large.
    Text,
    /// The output budget ([`Limits::max_output`], [`Limits::max_expansion`]): the decoded output
    /// is too large for this input.
    Output,
    /// [`Limits::max_str_refs`]: too many string-table references.
    StrRefs,
    /// [`Limits::max_entities`]: too many entities.
    Entities,
}

impl LimitKind {
    /// The name of the [`Limits`] field that sets this bound (`max_output` for the output budget).
    #[must_use]
    pub fn field(self) -> &'static str {
        match self {
            LimitKind::Size => "max_size",
            LimitKind::Depth => "max_depth",
            LimitKind::Elements => "max_elements",
            LimitKind::Text => "max_text",
            LimitKind::Output => "max_output",
            LimitKind::StrRefs => "max_str_refs",
            LimitKind::Entities => "max_entities",
        }
    }
}

impl fmt::Display for LimitKind {
    /// What is bounded and the field that bounds it, e.g. `text value size (max_text)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            LimitKind::Size => "input size",
            LimitKind::Depth => "nesting depth",
            LimitKind::Elements => "element count",
            LimitKind::Text => "text value size",
            LimitKind::Output => "decoded output size",
            LimitKind::StrRefs => "string-table reference count",
            LimitKind::Entities => "entity count",
        };
        write!(f, "{what} ({})", self.field())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_budget_is_the_smaller_bound() {
        let l = Limits::default();
        assert_eq!(l.output_budget(0), 0);
        assert_eq!(l.output_budget(1000), 32_000);
        assert_eq!(l.output_budget(4 * 1024 * 1024), 16 * 1024 * 1024);
        let huge = Limits {
            max_expansion: usize::MAX,
            ..l
        };
        assert_eq!(huge.output_budget(3), l.max_output);
    }

    #[test]
    fn kinds_name_their_field() {
        assert_eq!(LimitKind::Text.to_string(), "text value size (max_text)");
        assert_eq!(LimitKind::StrRefs.field(), "max_str_refs");
        assert_eq!(Limits::default().get(LimitKind::Depth), 32);
    }
}
