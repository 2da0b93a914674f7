//! SyncML *fragments*: a sequence of command elements with no `SyncML` envelope, as XML text.
//!
//! GwMO carries DM commands inside DM commands (docs/gateway.md §5): the `Commands` node of a
//! Fanout operation holds a **command fragment** (`Get`, `Add`, `Replace`, `Delete`, `Exec`,
//! `Copy`, `Atomic`, `Sequence` elements, each with its own `CmdID`), and a device's answer is
//! stored and reported as a **response fragment** (`Status` and `Results` elements).
//!
//! In: the fragment's bytes, which [`FragmentKind`] it must be, and the [`Limits`] to enforce.
//! Out: the typed [`Command`]s; and back: compact XML text from commands.
//!
//! There is no second XML parser here. [`encode_fragment`] runs the message encoder and keeps
//! the bytes its `SyncBody` holds. [`decode_fragment`] first walks the fragment with the
//! decoder's own tokenizer, enforcing `limits` exactly (`max_size` on the fragment's length,
//! `max_depth` on the nesting inside the fragment, `max_elements` on its start tags) and
//! checking that it is a balanced sequence of allowed commands; it then runs the message
//! decoder on the fragment placed in a fixed envelope. Because the walk proved every end tag
//! of the fragment closes an element of the fragment, the fragment cannot reach outside the
//! envelope's `SyncBody`. Errors carry byte offsets into the fragment.
//!
//! Accepted at the top level (and, for commands, inside `Atomic` / `Sequence`): the elements
//! of the [`FragmentKind`], whitespace, comments and processing instructions. A known SyncML
//! command of the other kind, `Final`, text, CDATA, an XML declaration or a DOCTYPE are an
//! [`Error::XmlUnexpected`]; an element the codec does not model is the decoder's
//! [`Error::XmlUnknownCommand`] (with its `CmdID`, so that it can be answered). Everything
//! the message decoder accepts inside a command is accepted here too.

use super::decode::limit_error;
use super::reader::{Reader, Token, all_ws, check_chars};
use super::tag::Tag;
use crate::error::excerpt;
use crate::{Command, Error, LimitKind, Limits, SyncBody, SyncHdr, SyncMl, Version};

/// Which commands a fragment may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentKind {
    /// `Get`, `Add`, `Replace`, `Delete`, `Exec`, `Copy`, `Atomic`, `Sequence` (the commands a
    /// DM server sends; `Atomic` / `Sequence` hold commands of the same set).
    Commands,
    /// `Status` and `Results` (what a device answers).
    Responses,
    /// `Alert` commands (what a device reports: a gateway's queue of Generic Alerts).
    Alerts,
}

impl FragmentKind {
    /// What the fragment may hold, for error messages.
    fn expected(self) -> &'static str {
        match self {
            FragmentKind::Commands => "Get, Add, Replace, Delete, Exec, Copy, Atomic or Sequence",
            FragmentKind::Responses => "Status or Results",
            FragmentKind::Alerts => "Alert",
        }
    }

    fn allows(self, tag: Tag) -> bool {
        match self {
            FragmentKind::Commands => matches!(
                tag,
                Tag::Get
                    | Tag::Add
                    | Tag::Replace
                    | Tag::Delete
                    | Tag::Exec
                    | Tag::Copy
                    | Tag::Atomic
                    | Tag::Sequence
            ),
            FragmentKind::Responses => matches!(tag, Tag::Status | Tag::Results),
            FragmentKind::Alerts => matches!(tag, Tag::Alert),
        }
    }

    /// True when `command` (as decoded) belongs to this kind.
    #[must_use]
    pub fn admits(self, command: &Command) -> bool {
        match (self, command) {
            (FragmentKind::Commands, Command::Atomic(c) | Command::Sequence(c)) => {
                c.commands.iter().all(|c| self.admits(c))
            }
            (
                FragmentKind::Commands,
                Command::Get(_)
                | Command::Add(_)
                | Command::Replace(_)
                | Command::Delete(_)
                | Command::Exec(_)
                | Command::Copy(_),
            ) => true,
            (FragmentKind::Responses, Command::Status(_) | Command::Results(_)) => true,
            (FragmentKind::Alerts, Command::Alert(_)) => true,
            _ => false,
        }
    }
}

/// Tags the message decoder reads as commands (or `Final`) in a `SyncBody` or a container.
fn is_body_element(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::Add
            | Tag::Alert
            | Tag::Atomic
            | Tag::Copy
            | Tag::Delete
            | Tag::Exec
            | Tag::Get
            | Tag::Replace
            | Tag::Sequence
            | Tag::Results
            | Tag::Status
            | Tag::Final
    )
}

/// The envelope around a fragment: everything before it. The header comes after the body
/// (children are accepted in any order), so nothing but these two start tags precedes the
/// fragment.
const PREFIX: &str = "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody>";
/// The envelope after the fragment.
const SUFFIX: &str = "</SyncBody><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
<SessionID>0</SessionID><MsgID>0</MsgID><Target><LocURI>.</LocURI></Target>\
<Source><LocURI>.</LocURI></Source></SyncHdr></SyncML>";
/// Elements of the envelope (`SyncML`, `SyncBody` and the header's).
const ENVELOPE_ELEMENTS: usize = 12;
/// Nesting the envelope adds (`SyncML`, `SyncBody`).
const ENVELOPE_DEPTH: usize = 2;

/// Encodes `commands` as a compact XML fragment (no declaration, no envelope), exactly as the
/// message encoder ([`super::encode`]) writes them inside a `SyncBody`.
///
/// Any command can be encoded; [`FragmentKind::admits`] tells whether the result will decode
/// as a given kind.
#[must_use]
pub fn encode_fragment(commands: &[Command]) -> String {
    let mut msg = SyncMl {
        version: Version::V1_2,
        hdr: SyncHdr::default(),
        body: SyncBody::default(),
    };
    // The bytes before the first command: the same message with an empty body, less the
    // closing tags.
    let empty = super::encode(&msg);
    const CLOSE: &[u8] = b"</SyncBody></SyncML>";
    let start = empty.len().saturating_sub(CLOSE.len());
    msg.body.commands = commands.to_vec();
    let full = super::encode(&msg);
    let end = full.len().saturating_sub(CLOSE.len());
    let body = full.get(start..end).unwrap_or_default();
    // The encoder writes UTF-8 from `String`s only.
    String::from_utf8_lossy(body).into_owned()
}

/// Decodes a fragment of `kind`.
///
/// # Errors
/// - [`Error::LimitExceeded`] when the fragment is longer than `limits.max_size`, nests deeper
///   than `limits.max_depth` (counted from the fragment's top level), holds more than
///   `limits.max_elements` elements, or exceeds another bound of [`Limits`] (text, output,
///   entities, as the message decoder counts them), or nests containers deeper than
///   [`crate::HARD_MAX_NESTING`];
/// - [`Error::XmlUnexpected`] for an element outside `kind` at a command position, `Final`,
///   text or CDATA between commands, a declaration or DOCTYPE, an end tag with no start tag in
///   the fragment, or a fragment that ends inside an element;
/// - [`Error::XmlUnknownCommand`] for a command the codec does not model;
/// - every other error of [`super::decode`] for malformed content, with offsets into the
///   fragment.
pub fn decode_fragment(
    input: &[u8],
    kind: FragmentKind,
    limits: &Limits,
) -> Result<Vec<Command>, Error> {
    if input.len() > limits.max_size {
        return Err(limit_error(
            LimitKind::Size,
            limits.max_size,
            limits.max_size,
        ));
    }
    let text = std::str::from_utf8(input).map_err(|e| Error::XmlMalformed {
        offset: e.valid_up_to(),
        reason: "invalid UTF-8".to_owned(),
    })?;
    let nul_runs = check_chars(input)?;
    walk(text, nul_runs, kind, limits)?;
    let mut wrapped = String::with_capacity(PREFIX.len() + text.len() + SUFFIX.len());
    wrapped.push_str(PREFIX);
    wrapped.push_str(text);
    wrapped.push_str(SUFFIX);
    // The walk enforced the caller's limits exactly; these only make room for the envelope.
    let inner = Limits {
        max_size: wrapped.len(),
        max_depth: limits.max_depth.saturating_add(ENVELOPE_DEPTH),
        max_elements: limits.max_elements.saturating_add(ENVELOPE_ELEMENTS),
        ..*limits
    };
    let msg = super::decode(wrapped.as_bytes(), &inner).map_err(|e| shift(e, PREFIX.len()))?;
    Ok(msg.body.commands)
}

/// One open element of the walk: does it hold commands (`Atomic` / `Sequence`)?
type Open = bool;

/// Checks structure and limits of the fragment with the decoder's tokenizer (see the module
/// docs).
fn walk(text: &str, nul_runs: bool, kind: FragmentKind, limits: &Limits) -> Result<(), Error> {
    let mut reader = Reader::new(text, nul_runs);
    let mut open: Vec<Open> = Vec::new();
    let mut elements = 0usize;
    loop {
        let offset = reader.pos();
        let tok = reader.next_token()?;
        // Where commands are read: the top level and directly inside a container.
        let command_position = open.last().is_none_or(|container| *container);
        match tok {
            Token::Start(t) => {
                elements += 1;
                if elements > limits.max_elements {
                    return Err(limit_error(
                        LimitKind::Elements,
                        offset,
                        limits.max_elements,
                    ));
                }
                if open.len() >= limits.max_depth {
                    return Err(limit_error(LimitKind::Depth, offset, limits.max_depth));
                }
                let tag = Tag::of(t.local());
                let in_container = !open.is_empty();
                // A container's own CmdID, NoResp and Meta are not commands.
                let container_child = matches!(tag, Tag::CmdId | Tag::NoResp | Tag::Meta);
                let is_command = command_position && !(in_container && container_child);
                if is_command && is_body_element(tag) && !kind.allows(tag) {
                    return Err(Error::XmlUnexpected {
                        offset,
                        expected: kind.expected(),
                        found: excerpt(t.name),
                    });
                }
                if !t.empty {
                    open.push(is_command && matches!(tag, Tag::Atomic | Tag::Sequence));
                }
            }
            Token::End(name) => {
                if open.pop().is_none() {
                    return Err(Error::XmlUnexpected {
                        offset,
                        expected: kind.expected(),
                        found: format!("</{}>", excerpt(name)),
                    });
                }
            }
            Token::Text(t) if command_position && !all_ws(t) => {
                return Err(Error::XmlUnexpected {
                    offset,
                    expected: kind.expected(),
                    found: "text".to_owned(),
                });
            }
            Token::CData(_) if command_position => {
                return Err(Error::XmlUnexpected {
                    offset,
                    expected: kind.expected(),
                    found: "CDATA".to_owned(),
                });
            }
            Token::Decl | Token::DocType => {
                return Err(Error::XmlUnexpected {
                    offset,
                    expected: kind.expected(),
                    found: tok.describe().to_owned(),
                });
            }
            Token::Eof if !open.is_empty() => {
                return Err(Error::XmlUnexpected {
                    offset,
                    expected: "end tag",
                    found: "end of input".to_owned(),
                });
            }
            Token::Eof => return Ok(()),
            Token::Text(_) | Token::CData(_) | Token::Comment | Token::Pi => {}
        }
    }
}

/// `e` with its byte offset moved back by `by` (from the envelope to the fragment).
fn shift(e: Error, by: usize) -> Error {
    let back = |o: usize| o.saturating_sub(by);
    match e {
        Error::XmlMalformed { offset, reason } => Error::XmlMalformed {
            offset: back(offset),
            reason,
        },
        Error::XmlUnexpected {
            offset,
            expected,
            found,
        } => Error::XmlUnexpected {
            offset: back(offset),
            expected,
            found,
        },
        Error::XmlMissingElement {
            offset,
            parent,
            element,
        } => Error::XmlMissingElement {
            offset: back(offset),
            parent,
            element,
        },
        Error::XmlInvalidNumber {
            offset,
            element,
            text,
        } => Error::XmlInvalidNumber {
            offset: back(offset),
            element,
            text,
        },
        Error::XmlUnknownCommand {
            offset,
            name,
            cmd_id,
        } => Error::XmlUnknownCommand {
            offset: back(offset),
            name,
            cmd_id,
        },
        Error::XmlInvalidChar { offset, code_point } => Error::XmlInvalidChar {
            offset: back(offset),
            code_point,
        },
        Error::LimitExceeded {
            encoding,
            offset,
            limit,
            max,
        } => Error::LimitExceeded {
            encoding,
            offset: back(offset),
            limit,
            max,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, Item, ItemCmd, Location, Results, Status, StatusCode};

    fn get(id: &str, uri: &str) -> Command {
        Command::Get(ItemCmd {
            cmd_id: id.into(),
            items: vec![Item {
                target: Some(Location::uri(uri)),
                ..Item::default()
            }],
            ..ItemCmd::default()
        })
    }

    fn cmds(s: &str) -> Result<Vec<Command>, Error> {
        decode_fragment(s.as_bytes(), FragmentKind::Commands, &Limits::default())
    }

    fn resp(s: &str) -> Result<Vec<Command>, Error> {
        decode_fragment(s.as_bytes(), FragmentKind::Responses, &Limits::default())
    }

    #[test]
    fn command_fragment_round_trip_and_exact_text() {
        let c = vec![
            get("1", "./DevInfo/Mod"),
            Command::Sequence(crate::Container {
                cmd_id: "2".into(),
                commands: vec![get("3", "./DevInfo/Man")],
                ..crate::Container::default()
            }),
        ];
        let text = encode_fragment(&c);
        assert_eq!(
            text,
            "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item>\
             </Get><Sequence><CmdID>2</CmdID><Get><CmdID>3</CmdID><Item><Target><LocURI>\
             ./DevInfo/Man</LocURI></Target></Item></Get></Sequence>"
        );
        assert_eq!(cmds(&text), Ok(c));
        assert_eq!(encode_fragment(&[]), "");
        assert_eq!(cmds(""), Ok(vec![]));
        assert_eq!(cmds("  <!-- c --> <?pi x?>\n"), Ok(vec![]));
    }

    #[test]
    fn response_fragment_round_trip() {
        let r = vec![
            Command::Status(Status {
                cmd_id: "1".into(),
                msg_ref: "1".into(),
                cmd_ref: "1".into(),
                cmd: "Get".into(),
                target_refs: vec!["./DevInfo/Mod".into()],
                source_refs: vec![],
                cred: None,
                chal: None,
                code: StatusCode::OK,
                items: vec![],
            }),
            Command::Results(Results {
                cmd_id: "2".into(),
                cmd_ref: "1".into(),
                items: vec![Item {
                    source: Some(Location::uri("./DevInfo/Mod")),
                    data: Some(Data::Text("X1 <&>".into())),
                    ..Item::default()
                }],
                ..Results::default()
            }),
        ];
        let text = encode_fragment(&r);
        assert_eq!(resp(&text), Ok(r.clone()));
        assert!(matches!(
            cmds(&text),
            Err(Error::XmlUnexpected { offset: 0, found, .. }) if found == "Status"
        ));
        assert!(r.iter().all(|c| FragmentKind::Responses.admits(c)));
        assert!(!r.iter().any(|c| FragmentKind::Commands.admits(c)));
    }

    #[test]
    fn other_kinds_final_and_text_are_rejected_at_their_offset() {
        let g = "<Get><CmdID>1</CmdID></Get>";
        let at = g.len();
        for (tail, found) in [
            ("<Final/>", "Final"),
            ("<Alert><CmdID>2</CmdID><Data>1226</Data></Alert>", "Alert"),
            ("<Status/>", "Status"),
            ("text", "text"),
            ("<![CDATA[x]]>", "CDATA"),
            ("</SyncBody>", "</SyncBody>"),
            ("<?xml version=\"1.0\"?>", "XML declaration"),
        ] {
            let e = cmds(&format!("{g}{tail}")).unwrap_err();
            assert!(
                matches!(&e, Error::XmlUnexpected { offset, found: f, .. } if *offset == at && f == found),
                "{tail}: {e:?}"
            );
        }
        // Inside a container too.
        let e = cmds("<Atomic><CmdID>1</CmdID><Results><CmdID>2</CmdID></Results></Atomic>");
        assert!(
            matches!(e, Err(Error::XmlUnexpected { offset: 24, .. })),
            "{e:?}"
        );
        // A container's own Meta is not a command position.
        assert!(
            cmds("<Atomic><CmdID>1</CmdID><Meta><Type xmlns=\"syncml:metinf\">x</Type></Meta></Atomic>")
                .is_ok()
        );
        // Unclosed.
        assert!(matches!(
            cmds("<Get><CmdID>1</CmdID>"),
            Err(Error::XmlUnexpected {
                expected: "end tag",
                ..
            })
        ));
    }

    #[test]
    fn envelope_cannot_be_escaped() {
        // Closing the body and opening another one is an end tag without a start tag.
        let e = cmds("</SyncBody><SyncBody><Get><CmdID>1</CmdID></Get>").unwrap_err();
        assert!(matches!(e, Error::XmlUnexpected { offset: 0, .. }), "{e:?}");
        // A mismatched end tag inside the fragment is the decoder's error, offset in the fragment.
        let e = cmds("<Get><CmdID>1</CmdID></SyncBody><SyncBody></Get>").unwrap_err();
        assert!(matches!(e, Error::XmlMalformed { offset: 21, .. }), "{e:?}");
    }

    #[test]
    fn unknown_commands_and_decoder_errors_keep_fragment_offsets() {
        let e = cmds("<Get><CmdID>1</CmdID></Get><Sync><CmdID>7</CmdID></Sync>").unwrap_err();
        assert_eq!(
            e,
            Error::XmlUnknownCommand {
                offset: 27,
                name: "Sync".into(),
                cmd_id: Some("7".into())
            }
        );
        let e = cmds("<Get></Get>").unwrap_err();
        assert!(matches!(
            e,
            Error::XmlMissingElement {
                offset: 0,
                parent: "Get",
                ..
            }
        ));
        let e = resp("<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>1</CmdRef><Cmd>Get</Cmd><Data>x</Data></Status>")
            .unwrap_err();
        assert!(
            matches!(e, Error::XmlInvalidNumber { offset: 74, .. }),
            "{e:?}"
        );
        let e = cmds("<Get><CmdID>\u{1}</CmdID></Get>").unwrap_err();
        assert!(
            matches!(
                e,
                Error::XmlInvalidChar {
                    offset: 12,
                    code_point: 1
                }
            ),
            "{e:?}"
        );
        assert!(matches!(
            decode_fragment(b"\xff", FragmentKind::Commands, &Limits::default()),
            Err(Error::XmlMalformed { offset: 0, .. })
        ));
    }

    #[test]
    fn limits_apply_to_the_fragment_exactly() {
        let one = "<Get><CmdID>1</CmdID></Get>";
        let limits = |max_size, max_depth, max_elements| Limits {
            max_size,
            max_depth,
            max_elements,
            ..Limits::default()
        };
        let two = format!("{one}{one}");
        let dec = |s: &str, l: Limits| decode_fragment(s.as_bytes(), FragmentKind::Commands, &l);
        assert!(dec(&two, limits(two.len(), 2, 4)).is_ok());
        assert!(matches!(
            dec(&two, limits(two.len() - 1, 2, 4)),
            Err(Error::LimitExceeded {
                limit: LimitKind::Size,
                ..
            })
        ));
        assert!(matches!(
            dec(&two, limits(two.len(), 1, 4)),
            Err(Error::LimitExceeded {
                offset: 5,
                limit: LimitKind::Depth,
                max: 1,
                ..
            })
        ));
        assert!(matches!(
            dec(&two, limits(two.len(), 2, 3)),
            Err(Error::LimitExceeded {
                offset: 32,
                limit: LimitKind::Elements,
                max: 3,
                ..
            })
        ));
        // Container nesting keeps its hard cap.
        let deep = "<Sequence><CmdID>1</CmdID>".repeat(40) + &"</Sequence>".repeat(40);
        assert!(matches!(
            dec(&deep, limits(1 << 20, 200, 1000)),
            Err(Error::LimitExceeded {
                limit: LimitKind::Depth,
                max: crate::HARD_MAX_NESTING,
                ..
            })
        ));
    }
}
