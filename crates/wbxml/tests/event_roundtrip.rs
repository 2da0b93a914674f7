//! Property test: any well-formed event stream written by `Writer` (with a string table chosen
//! by `StringTableBuilder`) reads back as the same stream.

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use wbxml::{
    Event, Header, Limits, PublicId, Reader, StringTableBuilder, Tag, TagId, Version, Writer,
};

#[derive(Debug, Clone)]
enum Node {
    Elem {
        page: u8,
        token: u8,
        children: Vec<Node>,
    },
    Text(Vec<u8>),
    Opaque(Vec<u8>),
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        proptest::collection::vec(1u8..=255, 1..12).prop_map(Node::Text),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Node::Opaque),
        (0u8..3, 5u8..=0x3F).prop_map(|(page, token)| Node::Elem {
            page,
            token,
            children: vec![]
        }),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        (0u8..3, 5u8..=0x3F, proptest::collection::vec(inner, 0..6)).prop_map(
            |(page, token, children)| Node::Elem {
                page,
                token,
                children,
            },
        )
    })
}

fn root() -> impl Strategy<Value = Node> {
    (0u8..3, 5u8..=0x3F, proptest::collection::vec(node(), 0..6)).prop_map(
        |(page, token, children)| Node::Elem {
            page,
            token,
            children,
        },
    )
}

fn collect<'a>(n: &'a Node, b: &mut StringTableBuilder<'a>) {
    match n {
        Node::Text(t) => b.add(t),
        Node::Elem { children, .. } => children.iter().for_each(|c| collect(c, b)),
        Node::Opaque(_) => {}
    }
}

/// Writes a node; adjacent texts would merge on reading, so the expected stream is built from
/// what was written.
fn write<'a>(n: &'a Node, w: &mut Writer, t: &wbxml::StringTable<'_>, exp: &mut Vec<Event<'a>>) {
    match n {
        Node::Elem {
            page,
            token,
            children,
        } => {
            let has_content = !children.is_empty();
            w.start(*page, *token, has_content);
            exp.push(Event::Start(Tag {
                page: *page,
                id: TagId::Token(*token),
                has_content,
            }));
            if has_content {
                children.iter().for_each(|c| write(c, w, t, exp));
                w.end();
                exp.push(Event::End);
            }
        }
        Node::Text(s) => {
            match t.offset(s) {
                Some(o) => w.str_t(o),
                None => w.text(s),
            }
            exp.push(if s.contains(&0) {
                Event::Opaque(s)
            } else {
                Event::Str(s)
            });
        }
        Node::Opaque(d) => {
            w.opaque(d);
            exp.push(Event::Opaque(d));
        }
    }
}

proptest! {
    #[test]
    fn events_round_trip(tree in root(), use_table: bool) {
        let mut b = StringTableBuilder::new();
        if use_table {
            collect(&tree, &mut b);
        }
        let table = b.build();
        let header = Header {
            version: Version::V1_3,
            public_id: PublicId::Known(0x1201),
            charset: wbxml::CHARSET_UTF8,
            string_table: table.bytes(),
        };
        let mut w = Writer::new(&header);
        let mut expected = Vec::new();
        write(&tree, &mut w, &table, &mut expected);
        let bytes = w.finish();
        let got: Vec<Event<'_>> = Reader::new(&bytes, Limits::default())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn string_table_never_grows_output(tree in root()) {
        let encode = |use_table: bool| {
            let mut b = StringTableBuilder::new();
            if use_table {
                collect(&tree, &mut b);
            }
            let table = b.build();
            let header = Header {
                version: Version::V1_3,
                public_id: PublicId::Known(1),
                charset: wbxml::CHARSET_UTF8,
                string_table: table.bytes(),
            };
            let mut w = Writer::new(&header);
            write(&tree, &mut w, &table, &mut Vec::new());
            w.finish().len()
        };
        prop_assert!(encode(true) <= encode(false));
    }
}
