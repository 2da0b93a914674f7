//! Unit tests of the XML codec: each command, each lexical feature, each error with its offset.

use super::*;
use crate::*;

fn dec(s: &str) -> Result<SyncMl, Error> {
    decode(s.as_bytes(), &Limits::default())
}

const HDR: &str = "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID>\
<MsgID>2</MsgID><Target><LocURI>IMEI:493005100592800</LocURI></Target>\
<Source><LocURI>https://dm.example/dm</LocURI></Source></SyncHdr>";

/// A 1.2 message with `body` inside `SyncBody`.
fn msg(body: &str) -> String {
    format!("<SyncML xmlns=\"SYNCML:SYNCML1.2\">{HDR}<SyncBody>{body}</SyncBody></SyncML>")
}

fn body(body: &str) -> SyncBody {
    dec(&msg(body)).unwrap().body
}

fn one(body_xml: &str) -> Command {
    let mut b = body(body_xml);
    assert_eq!(b.commands.len(), 1, "{b:?}");
    b.commands.remove(0)
}

/// Decodes, checks the encoder writes exactly `xml` back, and returns the message.
fn golden(xml: &str) -> SyncMl {
    let m = dec(xml).unwrap();
    assert_eq!(String::from_utf8(encode(&m)).unwrap(), xml);
    m
}

fn item(uri: &str, data: Option<Data>) -> Item {
    Item {
        target: Some(Location::uri(uri)),
        data,
        ..Item::default()
    }
}

#[test]
fn header_fields_and_final() {
    let xml = "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
<SessionID>1F</SessionID><MsgID>1</MsgID><Target><LocURI>https://dm.example/dm</LocURI></Target>\
<Source><LocURI>IMEI:493005100592800</LocURI><LocName>alice</LocName></Source>\
<RespURI>https://dm.example/dm?s=1F</RespURI><Cred><Meta><Format xmlns=\"syncml:metinf\">b64</Format>\
<Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type></Meta><Data>Zm9vYmFy</Data></Cred>\
<Meta><MaxMsgSize xmlns=\"syncml:metinf\">10000</MaxMsgSize><MaxObjSize xmlns=\"syncml:metinf\">524288</MaxObjSize></Meta>\
</SyncHdr><SyncBody><Final/></SyncBody></SyncML>";
    let m = golden(xml);
    assert_eq!(m.version, Version::V1_2);
    assert_eq!(m.hdr.session_id, "1F");
    assert_eq!(m.hdr.source.loc_name.as_deref(), Some("alice"));
    assert_eq!(
        m.hdr.resp_uri.as_deref(),
        Some("https://dm.example/dm?s=1F")
    );
    let cred = m.hdr.cred.unwrap();
    assert_eq!(cred.data, "Zm9vYmFy");
    assert_eq!(
        cred.meta.unwrap().r#type.as_deref(),
        Some("syncml:auth-md5")
    );
    assert_eq!(m.hdr.meta.unwrap().max_obj_size.as_deref(), Some("524288"));
    assert!(m.body.is_final);
}

#[test]
fn alert_with_generic_alert_items() {
    let xml = msg(
        "<Alert><CmdID>3</CmdID><Data>1226</Data><Correlator>abc</Correlator><Item>\
<Source><LocURI>./FUMO/Pkg1</LocURI></Source><Meta><Format xmlns=\"syncml:metinf\">int</Format>\
<Type xmlns=\"syncml:metinf\">org.openmobilealliance.dm.firmwareupdate.devicerequest</Type>\
<Mark xmlns=\"syncml:metinf\">critical</Mark></Meta><Data>200</Data></Item></Alert>",
    );
    let m = golden(&xml);
    let Command::Alert(a) = &m.body.commands[0] else {
        panic!("{m:?}")
    };
    assert_eq!(a.code, AlertCode::GENERIC_ALERT);
    assert_eq!(a.correlator.as_deref(), Some("abc"));
    let meta = a.items[0].meta.as_ref().unwrap();
    assert_eq!(meta.mark.as_deref(), Some("critical"));
    assert_eq!(a.items[0].data, Some(Data::Text("200".into())));
}

#[test]
fn item_commands_add_copy_delete_get_replace() {
    for name in ["Add", "Copy", "Delete", "Get", "Replace"] {
        let xml = msg(&format!(
            "<{name}><CmdID>4</CmdID><NoResp/><Meta><Format xmlns=\"syncml:metinf\">chr</Format></Meta>\
<Item><Target><LocURI>./A/B</LocURI></Target><Source><LocURI>./A/C</LocURI></Source><Data>x</Data></Item>\
<Item><Target><LocURI>./A/D</LocURI></Target></Item></{name}>"
        ));
        let m = golden(&xml);
        assert_eq!(m.body.commands[0].name(), name);
        let (Command::Add(c)
        | Command::Copy(c)
        | Command::Delete(c)
        | Command::Get(c)
        | Command::Replace(c)) = &m.body.commands[0]
        else {
            panic!("{m:?}")
        };
        assert!(c.no_resp);
        assert_eq!(c.cmd_id, "4");
        assert_eq!(c.items.len(), 2);
        assert_eq!(c.items[0].source, Some(Location::uri("./A/C")));
        assert_eq!(c.meta.as_ref().unwrap().format.as_deref(), Some("chr"));
    }
}

#[test]
fn exec_with_correlator() {
    let xml = msg(
        "<Exec><CmdID>5</CmdID><Correlator>job-7</Correlator><Item><Target><LocURI>./FUMO/Pkg1/Update</LocURI>\
</Target></Item></Exec>",
    );
    let m = golden(&xml);
    let Command::Exec(e) = &m.body.commands[0] else {
        panic!()
    };
    assert_eq!(e.correlator.as_deref(), Some("job-7"));
    assert_eq!(e.items, vec![item("./FUMO/Pkg1/Update", None)]);
}

#[test]
fn atomic_and_sequence_nest() {
    let xml = msg(
        "<Atomic><CmdID>6</CmdID><Sequence><CmdID>7</CmdID><Delete><CmdID>8</CmdID><Item><Target>\
<LocURI>./X</LocURI></Target></Item></Delete></Sequence><Add><CmdID>9</CmdID><Item><Target><LocURI>./Y</LocURI>\
</Target><Data/></Item></Add></Atomic><Final/>",
    );
    let m = golden(&xml);
    let Command::Atomic(a) = &m.body.commands[0] else {
        panic!()
    };
    assert_eq!(a.cmd_id, "6");
    let Command::Sequence(s) = &a.commands[0] else {
        panic!()
    };
    assert_eq!(s.commands[0].cmd_id(), "8");
    let Command::Add(add) = &a.commands[1] else {
        panic!()
    };
    assert_eq!(add.items[0].data, Some(Data::Text(String::new())));
}

#[test]
fn results_and_status_with_chal() {
    let xml = msg(
        "<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>\
<TargetRef>https://dm.example/dm</TargetRef><SourceRef>IMEI:493005100592800</SourceRef><Chal><Meta>\
<Format xmlns=\"syncml:metinf\">b64</Format><Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type>\
<NextNonce xmlns=\"syncml:metinf\">MTIzNDU=</NextNonce></Meta></Chal><Data>407</Data></Status>\
<Results><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Item><Source><LocURI>./DevInfo/Mod</LocURI>\
</Source><Meta><Format xmlns=\"syncml:metinf\">chr</Format></Meta><Data>X1</Data></Item></Results>",
    );
    let m = golden(&xml);
    let Command::Status(s) = &m.body.commands[0] else {
        panic!()
    };
    assert_eq!(s.code, StatusCode::MISSING_CREDENTIALS);
    assert_eq!(s.cmd, "SyncHdr");
    assert_eq!(s.target_refs, vec!["https://dm.example/dm".to_owned()]);
    assert_eq!(
        s.chal.as_ref().unwrap().meta.next_nonce.as_deref(),
        Some("MTIzNDU=")
    );
    let Command::Results(r) = &m.body.commands[1] else {
        panic!()
    };
    assert_eq!(r.cmd_ref, "4");
    assert_eq!(r.items[0].data, Some(Data::Text("X1".into())));
}

#[test]
fn status_without_msg_ref_and_padded_code() {
    let Command::Status(s) =
        one("<Status><CmdID>1</CmdID><CmdRef>3</CmdRef><Cmd>Get</Cmd><Data> 200\n</Data></Status>")
    else {
        panic!()
    };
    assert_eq!(s.msg_ref, "");
    assert_eq!(s.code, StatusCode::OK);
}

#[test]
fn prolog_doctype_comments_pi_whitespace_and_bom() {
    let xml = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \
\"http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd\">\n<!-- c -->\n\
<SyncML xmlns=\"SYNCML:SYNCML1.2\">\n  {HDR}\n  <SyncBody>\n    <?pi x?><Final/>\n  </SyncBody>\n</SyncML>\n<!-- end -->\n"
    );
    let m = dec(&xml).unwrap();
    assert!(m.body.is_final);
    assert_eq!(m.hdr.msg_id, "2");
}

#[test]
fn byte_order_mark_keeps_offsets_and_data_xml_exact() {
    let xml = format!(
        "\u{feff}{}",
        msg(
            "<Add><CmdID>1</CmdID><Item><Data><MgmtTree><Node/></MgmtTree></Data></Item></Add><Bogus/>"
        )
    );
    let offset = xml.find("<Bogus/>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlUnknownCommand {
            offset,
            name: "Bogus".into(),
            cmd_id: None
        })
    );
    let xml = xml.replace("<Bogus/>", "");
    let Command::Add(a) = &dec(&xml).unwrap().body.commands[0] else {
        panic!()
    };
    assert_eq!(
        a.items[0].data,
        Some(Data::Xml("<MgmtTree><Node/></MgmtTree>".into()))
    );
}

#[test]
fn entities_predefined_and_numeric() {
    let Command::Replace(r) = one(
        "<Replace><CmdID>1</CmdID><Item><Target><LocURI>./a&amp;b</LocURI></Target>\
<Data>&lt;x&gt; &amp; &quot;q&quot; &apos;a&apos; &#65;&#x42;&#x20AC;</Data></Item></Replace>",
    ) else {
        panic!()
    };
    assert_eq!(r.items[0].target.as_ref().unwrap().loc_uri, "./a&b");
    assert_eq!(
        r.items[0].data,
        Some(Data::Text("<x> & \"q\" 'a' AB€".into()))
    );
}

#[test]
fn cdata_sections_and_split_terminator() {
    let Command::Replace(r) = one(
        "<Replace><CmdID>1</CmdID><Item><Data>\n <![CDATA[a<b>&c]]]]><![CDATA[>d]]> </Data></Item>\
<Item><Data>x<![CDATA[<y>]]></Data></Item></Replace>",
    ) else {
        panic!()
    };
    assert_eq!(r.items[0].data, Some(Data::CData("a<b>&c]]>d".into())));
    // CDATA mixed with non-blank text is plain text.
    assert_eq!(r.items[1].data, Some(Data::Text("x<y>".into())));
    // And back: `]]>` is split over two sections.
    let mut out = Vec::new();
    let m = SyncMl {
        body: SyncBody {
            commands: vec![Command::Replace(ItemCmd {
                cmd_id: "1".into(),
                items: vec![Item {
                    data: Some(Data::CData("a]]>b".into())),
                    ..Item::default()
                }],
                ..ItemCmd::default()
            })],
            is_final: false,
        },
        ..SyncMl::default()
    };
    encode_into(&m, &mut out);
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.contains("<Data><![CDATA[a]]]]><![CDATA[>b]]></Data>"),
        "{s}"
    );
    assert_eq!(decode(s.as_bytes(), &Limits::default()).unwrap(), m);
}

#[test]
fn namespace_prefixes_match_on_local_names() {
    let xml = "<s:SyncML xmlns:s=\"SYNCML:SYNCML1.2\"><s:SyncHdr><s:VerDTD>1.2</s:VerDTD><s:VerProto>DM/1.2</s:VerProto>\
<s:SessionID>1</s:SessionID><s:MsgID>1</s:MsgID><s:Target><s:LocURI>t</s:LocURI></s:Target><s:Source>\
<s:LocURI>s</s:LocURI></s:Source><s:Meta><m:MaxMsgSize xmlns:m=\"syncml:metinf\">5000</m:MaxMsgSize></s:Meta>\
</s:SyncHdr><s:SyncBody><s:Get><s:CmdID>2</s:CmdID><s:Item><s:Meta><m:Type xmlns:m=\"syncml:metinf\">text/plain</m:Type>\
</s:Meta></s:Item></s:Get></s:SyncBody></s:SyncML>";
    let m = dec(xml).unwrap();
    assert_eq!(m.version, Version::V1_2);
    assert_eq!(m.hdr.meta.unwrap().max_msg_size.as_deref(), Some("5000"));
    let Command::Get(g) = &m.body.commands[0] else {
        panic!()
    };
    assert_eq!(
        g.items[0].meta.as_ref().unwrap().r#type.as_deref(),
        Some("text/plain")
    );
}

#[test]
fn data_xml_keeps_exact_source_of_nested_mgmt_tree() {
    let tree = "<MgmtTree xmlns=\"syncml:dmddf1.2\">\n  <VerDTD>1.2</VerDTD>\n  <Node><NodeName>GwConfig</NodeName>\
<RTProperties><Format><node/></Format></RTProperties><Node><NodeName>Name</NodeName><Value>a &amp; b</Value>\
</Node></Node><!-- kept --><Data>inner</Data>\n</MgmtTree>";
    let xml = msg(&format!(
        "<Add><CmdID>2</CmdID><Item><Target><LocURI>./GwMO</LocURI></Target><Meta>\
<Type xmlns=\"syncml:metinf\">application/vnd.syncml.dmtnds+xml</Type></Meta><Data>\n    {tree}\n  </Data></Item></Add>"
    ));
    let m = dec(&xml).unwrap();
    let Command::Add(a) = &m.body.commands[0] else {
        panic!()
    };
    assert_eq!(a.items[0].data, Some(Data::Xml(tree.to_owned())));
    // Written verbatim, so it decodes to the same again.
    let again = encode(&m);
    assert!(String::from_utf8_lossy(&again).contains(&format!("<Data>{tree}</Data>")));
    assert_eq!(decode(&again, &Limits::default()).unwrap(), m);
}

#[test]
fn empty_data_forms() {
    let Command::Replace(r) = one(
        "<Replace><CmdID>1</CmdID><Item><Data/></Item><Item><Data></Data></Item><Item><Data><![CDATA[]]></Data></Item>\
<Item><Data>  </Data></Item><Item><MoreData/></Item></Replace>",
    ) else {
        panic!()
    };
    let d: Vec<_> = r.items.iter().map(|i| i.data.clone()).collect();
    assert_eq!(
        d,
        vec![
            Some(Data::Text(String::new())),
            Some(Data::Text(String::new())),
            Some(Data::CData(String::new())),
            Some(Data::Text("  ".into())),
            None
        ]
    );
    assert!(r.items[4].more_data);
}

#[test]
fn syncml_1_1_by_namespace_or_ver_dtd() {
    let hdr11 = HDR.replace("1.2", "1.1");
    let by_ns = format!("<SyncML xmlns=\"SYNCML:SYNCML1.1\">{hdr11}<SyncBody/></SyncML>");
    let m = dec(&by_ns).unwrap();
    assert_eq!(m.version, Version::V1_1);
    assert_eq!(m.hdr.ver_dtd, "1.1");
    assert!(
        String::from_utf8(encode(&m))
            .unwrap()
            .starts_with("<SyncML xmlns=\"SYNCML:SYNCML1.1\">")
    );
    let by_ver = format!("<SyncML>{hdr11}<SyncBody/></SyncML>");
    assert_eq!(dec(&by_ver).unwrap().version, Version::V1_1);
    let lower = format!("<SyncML xmlns='syncml:syncml1.2'>{HDR}<SyncBody/></SyncML>");
    assert_eq!(dec(&lower).unwrap().version, Version::V1_2);
}

#[test]
fn unsupported_version_is_typed() {
    let xml = format!("<SyncML xmlns=\"SYNCML:SYNCML1.0\">{HDR}<SyncBody/></SyncML>");
    assert_eq!(
        dec(&xml),
        Err(Error::XmlUnsupportedVersion {
            offset: 0,
            found: "SYNCML:SYNCML1.0".into()
        })
    );
    let hdr10 = HDR.replace("<VerDTD>1.2", "<VerDTD>1.0");
    let xml = format!("<SyncML>{hdr10}<SyncBody/></SyncML>");
    assert_eq!(
        dec(&xml),
        Err(Error::XmlUnsupportedVersion {
            offset: "<SyncML><SyncHdr>".len(),
            found: "1.0".into()
        })
    );
}

#[test]
fn unknown_elements_inside_known_ones_are_skipped() {
    let xml = msg(
        "<Replace><CmdID>1</CmdID><Vendor><Deep><Er/></Deep></Vendor><Item><SourceParent><LocURI>p</LocURI>\
</SourceParent><Meta><Anchor xmlns=\"syncml:metinf\"><Last>1</Last></Anchor><MetInf xmlns=\"syncml:metinf\">\
<Format>bin</Format></MetInf><EMI xmlns=\"syncml:metinf\">e1</EMI><EMI xmlns=\"syncml:metinf\">e2</EMI></Meta>\
<Data>d</Data></Item></Replace>",
    );
    let Command::Replace(r) = &dec(&xml).unwrap().body.commands[0] else {
        panic!()
    };
    let meta = r.items[0].meta.as_ref().unwrap();
    assert_eq!(meta.format.as_deref(), Some("bin"));
    assert_eq!(meta.emi, vec!["e1".to_owned(), "e2".to_owned()]);
    assert_eq!(r.items[0].data, Some(Data::Text("d".into())));
}

#[test]
fn unknown_command_reports_name_and_cmd_id() {
    let body = "<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>";
    let xml = msg(&format!(
        "{body}<Sync><CmdID>7</CmdID><Target><LocURI>./x</LocURI></Target></Sync>"
    ));
    let offset = xml.find("<Sync>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlUnknownCommand {
            offset,
            name: "Sync".into(),
            cmd_id: Some("7".into())
        })
    );
    let xml = msg("<Atomic><CmdID>1</CmdID><x:Map xmlns:x=\"u\"/></Atomic>");
    let offset = xml.find("<x:Map").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlUnknownCommand {
            offset,
            name: "x:Map".into(),
            cmd_id: None
        })
    );
}

#[test]
fn non_numeric_codes_are_typed_errors() {
    let xml = msg(
        "<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>2OO</Data></Status>",
    );
    let offset = xml.rfind("<Data>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlInvalidNumber {
            offset,
            element: "Status/Data",
            text: "2OO".into()
        })
    );
    let xml = msg("<Alert><CmdID>1</CmdID><Data>70000</Data></Alert>");
    let offset = xml.rfind("<Data>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlInvalidNumber {
            offset,
            element: "Alert/Data",
            text: "70000".into()
        })
    );
}

#[test]
fn missing_required_elements() {
    let xml = msg(
        "<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>",
    );
    let offset = xml.find("<Status>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlMissingElement {
            offset,
            parent: "Status",
            element: "CmdRef"
        })
    );
    let xml = msg("<Alert><CmdID>1</CmdID></Alert>");
    let offset = xml.find("<Alert>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlMissingElement {
            offset,
            parent: "Alert",
            element: "Data"
        })
    );
    assert_eq!(
        dec("<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody/></SyncML>"),
        Err(Error::XmlMissingElement {
            offset: 0,
            parent: "SyncML",
            element: "SyncHdr"
        })
    );
    let no_session = HDR.replace("<SessionID>1</SessionID>", "");
    let xml = format!("<SyncML xmlns=\"SYNCML:SYNCML1.2\">{no_session}<SyncBody/></SyncML>");
    assert_eq!(
        dec(&xml),
        Err(Error::XmlMissingElement {
            offset: xml.find("<SyncHdr>").unwrap(),
            parent: "SyncHdr",
            element: "SessionID"
        })
    );
    let xml = msg("<Get><CmdID>1</CmdID><Item><Target><LocName>n</LocName></Target></Item></Get>");
    let offset = xml.rfind("<Target>").unwrap();
    assert_eq!(
        dec(&xml),
        Err(Error::XmlMissingElement {
            offset,
            parent: "Target",
            element: "LocURI"
        })
    );
}

#[test]
fn malformed_inputs_report_offsets() {
    // Truncated: end of input inside SyncBody.
    let full = msg("<Final/>");
    let cut = &full[..full.len() - "</SyncBody></SyncML>".len()];
    assert_eq!(
        dec(cut),
        Err(Error::XmlUnexpected {
            offset: cut.len(),
            expected: "element or end tag",
            found: "end of input".into()
        })
    );
    // Mismatched end tag.
    let bad = msg("<Final></Finale>");
    match dec(&bad) {
        Err(Error::XmlMalformed { offset, .. }) => {
            assert_eq!(offset, bad.find("</Finale>").unwrap())
        }
        other => panic!("{other:?}"),
    }
    // Wrong root.
    assert_eq!(
        dec("<?xml version=\"1.0\"?><SyncMLX/>"),
        Err(Error::XmlUnexpected {
            offset: 21,
            expected: "<SyncML>",
            found: "SyncMLX".into()
        })
    );
    // Empty input and plain text.
    assert_eq!(
        dec(""),
        Err(Error::XmlUnexpected {
            offset: 0,
            expected: "<SyncML>",
            found: "end of input".into()
        })
    );
    assert!(matches!(
        dec("hello"),
        Err(Error::XmlUnexpected { offset: 0, .. })
    ));
    // Text where elements belong.
    let bad = msg("oops<Final/>");
    assert_eq!(
        dec(&bad),
        Err(Error::XmlUnexpected {
            offset: bad.find("oops").unwrap(),
            expected: "element",
            found: "text".into()
        })
    );
    // An element inside a text element.
    let bad = HDR.replace("<MsgID>2</MsgID>", "<MsgID><b/></MsgID>");
    let bad = format!("<SyncML>{bad}<SyncBody/></SyncML>");
    assert_eq!(
        dec(&bad),
        Err(Error::XmlUnexpected {
            offset: bad.find("<b/>").unwrap(),
            expected: "text",
            found: "b".into()
        })
    );
    // Unknown entity.
    let bad = msg("<Alert><CmdID>&nbsp;</CmdID><Data>1201</Data></Alert>");
    match dec(&bad) {
        Err(Error::XmlMalformed { offset, .. }) => assert_eq!(offset, bad.find("&nbsp;").unwrap()),
        other => panic!("{other:?}"),
    }
    // Invalid UTF-8.
    let mut bytes = msg("<Final/>").into_bytes();
    bytes[40] = 0xff;
    assert_eq!(
        decode(&bytes, &Limits::default()),
        Err(Error::XmlMalformed {
            offset: 40,
            reason: "invalid UTF-8".into()
        })
    );
    // Garbage after the root.
    let bad = format!("{}<SyncML/>", msg(""));
    assert_eq!(
        dec(&bad),
        Err(Error::XmlUnexpected {
            offset: msg("").len(),
            expected: "end of input",
            found: "element".into()
        })
    );
}

#[test]
fn limits_are_enforced() {
    let xml = msg("<Atomic><CmdID>1</CmdID><Atomic><CmdID>2</CmdID></Atomic></Atomic><Final/>");
    let ok = Limits::default();
    assert!(decode(xml.as_bytes(), &ok).is_ok());
    let small = Limits {
        max_size: xml.len() - 1,
        ..ok
    };
    assert_eq!(
        decode(xml.as_bytes(), &small),
        Err(Error::LimitExceeded {
            encoding: crate::Encoding::Xml,
            offset: xml.len() - 1,
            limit: LimitKind::Size,
            max: xml.len() - 1
        })
    );
    // SyncML > SyncBody > Atomic > Atomic > CmdID is 5 deep.
    let shallow = Limits { max_depth: 4, ..ok };
    let offset = xml.rfind("<CmdID>").unwrap();
    assert_eq!(
        decode(xml.as_bytes(), &shallow),
        Err(Error::LimitExceeded {
            encoding: crate::Encoding::Xml,
            offset,
            limit: LimitKind::Depth,
            max: 4
        })
    );
    assert!(decode(xml.as_bytes(), &Limits { max_depth: 5, ..ok }).is_ok());
    let count = xml.matches('<').count() - xml.matches("</").count();
    assert!(
        decode(
            xml.as_bytes(),
            &Limits {
                max_elements: count,
                ..ok
            }
        )
        .is_ok()
    );
    assert!(matches!(
        decode(
            xml.as_bytes(),
            &Limits {
                max_elements: count - 1,
                ..ok
            }
        ),
        Err(Error::LimitExceeded {
            limit: LimitKind::Elements,
            ..
        })
    ));
    // Skipped unknown content counts too.
    let skipped = msg("<Get><CmdID>1</CmdID><X><X><X><X/></X></X></X></Get>");
    assert!(matches!(
        decode(skipped.as_bytes(), &Limits { max_depth: 6, ..ok }),
        Err(Error::LimitExceeded {
            limit: LimitKind::Depth,
            ..
        })
    ));
}

#[test]
fn container_nesting_cap_prevents_stack_exhaustion() {
    let unlimited = Limits {
        max_size: usize::MAX,
        max_depth: usize::MAX,
        max_elements: usize::MAX,
        max_text: usize::MAX,
        max_output: usize::MAX,
        max_expansion: usize::MAX,
        max_str_refs: usize::MAX,
        max_entities: usize::MAX,
    };
    let nest = |n: usize| {
        msg(&format!(
            "{}{}",
            "<Sequence><CmdID>1</CmdID>".repeat(n),
            "</Sequence>".repeat(n)
        ))
    };
    assert!(matches!(
        decode(nest(100_000).as_bytes(), &unlimited),
        Err(Error::LimitExceeded {
            limit: LimitKind::Depth,
            max: HARD_MAX_NESTING,
            ..
        })
    ));
    assert!(decode(nest(HARD_MAX_NESTING).as_bytes(), &unlimited).is_ok());
    // Deep non-container content is read iteratively: only the limits stop it.
    let n = 100_000;
    let deep = msg(&format!(
        "<Get><CmdID>1</CmdID><Item><Data>{}{}</Data></Item></Get>",
        "<a>".repeat(n),
        "</a>".repeat(n)
    ));
    assert!(decode(deep.as_bytes(), &unlimited).is_ok());
    let deep = msg(&format!(
        "<Get><CmdID>1</CmdID><X>{}{}</X></Get>",
        "<a>".repeat(n),
        "</a>".repeat(n)
    ));
    assert!(decode(deep.as_bytes(), &unlimited).is_ok());
    let metinf = msg(&format!(
        "<Get><CmdID>1</CmdID><Meta>{}{}</Meta></Get>",
        "<MetInf>".repeat(n),
        "</MetInf>".repeat(n)
    ));
    assert!(decode(metinf.as_bytes(), &unlimited).is_ok());
}

#[test]
fn opaque_is_cdata_when_text_else_base64() {
    let mk = |bytes: &[u8]| SyncMl {
        body: SyncBody {
            commands: vec![Command::Replace(ItemCmd {
                cmd_id: "1".into(),
                items: vec![Item {
                    data: Some(Data::Opaque(bytes.to_vec())),
                    ..Item::default()
                }],
                ..ItemCmd::default()
            })],
            is_final: true,
        },
        ..SyncMl::default()
    };
    let data_of = |m: &SyncMl| {
        let out = decode(&encode(m), &Limits::default()).unwrap();
        let Command::Replace(r) = &out.body.commands[0] else {
            panic!()
        };
        r.items[0].data.clone().unwrap()
    };
    assert_eq!(data_of(&mk(b"a<b>]]>c")), Data::CData("a<b>]]>c".into()));
    assert_eq!(data_of(&mk(&[0, 1, 0xff])), Data::Text("AAH/".into()));
    assert_eq!(data_of(&mk(b"a\r\nb")), Data::Text("YQ0KYg==".into()));
}

#[test]
fn cr_survives_as_reference_and_non_xml_chars_become_replacement() {
    // `\r` is an XML Char: written as `&#13;`, it comes back. `\u{1}` and U+FFFF are not:
    // the encoder writes U+FFFD so that its output always decodes.
    let s = "a\rb\u{1}c\td\ne]]>f\u{ffff}g\u{fffe}";
    let m = SyncMl {
        hdr: SyncHdr {
            session_id: s.into(),
            ..SyncHdr::default()
        },
        ..SyncMl::default()
    };
    let bytes = encode(&m);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.contains("<SessionID>a&#13;b\u{fffd}c\td\ne]]&gt;f\u{fffd}g\u{fffd}</SessionID>"),
        "{text}"
    );
    let back = decode(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        back.hdr.session_id,
        "a\rb\u{fffd}c\td\ne]]>f\u{fffd}g\u{fffd}"
    );
}

#[test]
fn empty_meta_is_omitted_and_empty_strings_kept() {
    let m = SyncMl {
        hdr: SyncHdr {
            meta: Some(Meta::default()),
            ..SyncHdr::default()
        },
        ..SyncMl::default()
    };
    let text = String::from_utf8(encode(&m)).unwrap();
    assert_eq!(
        text,
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD></VerDTD><VerProto></VerProto><SessionID></SessionID>\
<MsgID></MsgID><Target><LocURI></LocURI></Target><Source><LocURI></LocURI></Source></SyncHdr><SyncBody></SyncBody></SyncML>"
    );
    let back = dec(&text).unwrap();
    assert_eq!(back.hdr.meta, None);
    assert_eq!(back.hdr.session_id, "");
}

#[test]
fn pretty_output_is_indented_and_equivalent() {
    let xml = msg(
        "<Get><CmdID>2</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target><Data>  a  </Data></Item></Get><Final/>",
    );
    let m = dec(&xml).unwrap();
    let pretty = String::from_utf8(encode_pretty(&m)).unwrap();
    assert!(
        pretty.contains("\n  <SyncHdr>\n    <VerDTD>1.2</VerDTD>"),
        "{pretty}"
    );
    assert!(pretty.contains("<Data>  a  </Data>"), "{pretty}");
    assert_eq!(dec(&pretty).unwrap(), m);
}

#[test]
fn metinf_field_level_and_all_fields_in_dtd_order() {
    let xml = msg(
        "<Get><CmdID>2</CmdID><Meta><FieldLevel xmlns=\"syncml:metinf\"/><Format xmlns=\"syncml:metinf\">chr</Format>\
<Type xmlns=\"syncml:metinf\">text/plain</Type><Mark xmlns=\"syncml:metinf\">high</Mark><Size xmlns=\"syncml:metinf\">12</Size>\
<Version xmlns=\"syncml:metinf\">1.0</Version><NextNonce xmlns=\"syncml:metinf\">bm9uY2U=</NextNonce>\
<MaxMsgSize xmlns=\"syncml:metinf\">1</MaxMsgSize><MaxObjSize xmlns=\"syncml:metinf\">2</MaxObjSize>\
<EMI xmlns=\"syncml:metinf\">x</EMI></Meta><Item><Target><LocURI>./a</LocURI></Target></Item></Get>",
    );
    let m = golden(&xml);
    let Command::Get(g) = &m.body.commands[0] else {
        panic!()
    };
    let meta = g.meta.as_ref().unwrap();
    assert!(meta.field_level);
    assert_eq!(meta.size.as_deref(), Some("12"));
    assert_eq!(meta.version.as_deref(), Some("1.0"));
}

#[test]
fn children_out_of_dtd_order_are_accepted() {
    let Command::Status(s) = one(
        "<Status><Data>404</Data><Cmd>Get</Cmd><CmdRef>3</CmdRef><MsgRef>1</MsgRef><CmdID>9</CmdID></Status>",
    ) else {
        panic!()
    };
    assert_eq!((s.cmd_id.as_str(), s.code), ("9", StatusCode::NOT_FOUND));
}

fn invalid_char(offset: usize, code_point: u32) -> Result<SyncMl, Error> {
    Err(Error::XmlInvalidChar { offset, code_point })
}

#[test]
fn raw_non_xml_characters_are_rejected_with_their_offset() {
    // The fuzz finding (fuzz/corpus/xml_decode/crash-6eb2...): NULs in CmdID text.
    let bad = msg("<Alert><CmdID>\0\0\0\0\0\0\0\x002</CmdID><Data>1201</Data></Alert>");
    assert_eq!(dec(&bad), invalid_char(bad.find('\0').unwrap(), 0));
    // Every C0 control but tab, line feed and carriage return, anywhere in the document.
    for c in (0u8..0x20).filter(|c| !matches!(c, b'\t' | b'\n' | b'\r')) {
        let ch = char::from(c);
        // (document, whether the character ends a text value: a NUL there is dropped)
        for (bad, trailing) in [
            (
                msg(&format!(
                    "<Alert><CmdID>1{ch}</CmdID><Data>1201</Data></Alert>"
                )),
                true,
            ),
            (
                msg(&format!(
                    "<Get><CmdID>1</CmdID><Item><Data><![CDATA[x{ch}]]></Data></Item></Get>"
                )),
                false,
            ),
            (
                msg(&format!(
                    "<Get><CmdID>1</CmdID><Item><Data><A>{ch}</A></Data></Item></Get>"
                )),
                true,
            ),
            (msg(&format!("<!-- {ch} --><Final/>")), false),
            (msg(&format!("<Final a=\"{ch}\"/>")), false),
        ] {
            if c == 0 && trailing {
                assert!(dec(&bad).is_ok(), "{bad}");
                continue;
            }
            let offset = bad.find(ch).unwrap();
            assert_eq!(dec(&bad), invalid_char(offset, u32::from(c)), "{c:#x}");
        }
    }
    // U+FFFE and U+FFFF are not Chars either; other non-ASCII is fine.
    for (ch, cp) in [('\u{fffe}', 0xfffe), ('\u{ffff}', 0xffff)] {
        let bad = msg(&format!(
            "<Alert><CmdID>é{ch}</CmdID><Data>1201</Data></Alert>"
        ));
        assert_eq!(dec(&bad), invalid_char(bad.find(ch).unwrap(), cp));
    }
    let ok =
        msg("<Alert><CmdID>\t\u{7f}\u{85}\u{fffd}\u{10ffff}\r\n</CmdID><Data>1201</Data></Alert>");
    let Command::Alert(a) = &dec(&ok).unwrap().body.commands[0] else {
        panic!()
    };
    assert_eq!(a.cmd_id, "\t\u{7f}\u{85}\u{fffd}\u{10ffff}\r\n");
    // After a byte order mark, offsets are still those of the input.
    let bad = format!("\u{feff}{}", msg("<Final/>\u{1}"));
    assert_eq!(dec(&bad), invalid_char(bad.find('\u{1}').unwrap(), 1));
}

#[test]
fn character_references_to_non_xml_characters_are_rejected() {
    for (reference, cp) in [
        ("&#0;", 0),
        ("&#1;", 1),
        ("&#x1F;", 0x1f),
        ("&#xFFFE;", 0xfffe),
        ("&#65535;", 0xffff),
        ("&#xD800;", 0xd800),
        ("&#x110000;", 0x11_0000),
        ("&#99999999999999999999;", u32::MAX),
    ] {
        for bad in [
            msg(&format!(
                "<Alert><CmdID>1{reference}</CmdID><Data>1201</Data></Alert>"
            )),
            msg(&format!(
                "<Get><CmdID>1</CmdID><Item><Data>x{reference}</Data></Item></Get>"
            )),
            msg(&format!(
                "<Get><CmdID>1</CmdID><Item><Data><A>{reference}</A></Data></Item></Get>"
            )),
            msg(&format!(
                "<Get><CmdID>1</CmdID><Unknown>{reference}</Unknown></Get>"
            )),
        ] {
            let offset = bad.find(reference).unwrap();
            assert_eq!(dec(&bad), invalid_char(offset, cp), "{reference}");
        }
    }
    let Command::Alert(a) =
        one("<Alert><CmdID>&#9;&#10;&#13;&#x20;&#xFFFD;&#x10FFFF;</CmdID><Data>1</Data></Alert>")
    else {
        panic!()
    };
    assert_eq!(a.cmd_id, "\t\n\r \u{fffd}\u{10ffff}");
    // Syntax errors in references stay malformed-XML errors, at the `&`.
    for reference in ["&#;", "&#x;", "&#12a;", "&#xZ;", "&amp", "&;", "&x y;"] {
        let bad = msg(&format!(
            "<Alert><CmdID>1{reference}</CmdID><Data>1201</Data></Alert>"
        ));
        match dec(&bad) {
            Err(Error::XmlMalformed { offset, .. }) => {
                assert_eq!(offset, bad.find(reference).unwrap(), "{reference}")
            }
            other => panic!("{reference}: {other:?}"),
        }
    }
}

#[test]
fn fuzz_reproducers_are_rejected_not_round_tripped_wrongly() {
    // The fuzzers' findings: raw NULs in LocURI and CmdID (xml_decode: re-encoded as `&#0;`,
    // which did not decode), and NULs or U+0004 in text that WBXML then carried as OPAQUE
    // (xml_wbxml_roundtrip). All must now fail to decode, at the first control character.
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for path in [
        "xml_decode/crash-026d30507c339878dc9a515534a238c0bf917255",
        "xml_decode/crash-6eb2f16c800f9cc9e6d811e3b20bab0e5ea6da2b",
        "xml_wbxml_roundtrip/crash-06ac286154033630c0f4014d7ba9931759b4c4e3",
        "xml_wbxml_roundtrip/crash-8a27fea605d0d29c593feb4e3e100dd796a35cab",
    ] {
        let bytes = std::fs::read(corpus.join(path)).unwrap();
        let offset = bytes
            .iter()
            .position(|&b| b < 0x20 && !b"\t\n\r".contains(&b))
            .unwrap();
        assert_eq!(
            decode(&bytes, &Limits::default()),
            invalid_char(offset, u32::from(bytes[offset])),
            "{path}"
        );
    }
}

/// Every string the encoder is given, whatever its characters, comes out as XML the decoder
/// accepts; strings the decoder can produce come back unchanged.
#[test]
fn encoder_output_always_decodes() {
    let all: String = (0u32..0x80)
        .chain([0xfffd, 0xfffe, 0xffff, 0x1_0000, 0x10_ffff])
        .filter_map(char::from_u32)
        .collect();
    let xml_chars: String = all
        .chars()
        .filter(|&c| reader::is_xml_char(u32::from(c)))
        .collect();
    for (s, exact) in [(all.as_str(), false), (xml_chars.as_str(), true)] {
        let mk = |data: Data| SyncMl {
            hdr: SyncHdr {
                ver_dtd: s.into(),
                session_id: s.into(),
                target: Location::uri(s),
                ..SyncHdr::default()
            },
            body: SyncBody {
                commands: vec![Command::Replace(ItemCmd {
                    cmd_id: s.into(),
                    meta: Some(Meta {
                        r#type: Some(s.into()),
                        ..Meta::default()
                    }),
                    items: vec![item(s, Some(data))],
                    ..ItemCmd::default()
                })],
                is_final: true,
            },
            ..SyncMl::default()
        };
        for data in [
            Data::Text(s.into()),
            Data::CData(s.into()),
            Data::Opaque(s.as_bytes().to_vec()),
        ] {
            let m = mk(data.clone());
            for bytes in [encode(&m), encode_pretty(&m)] {
                let back = decode(&bytes, &Limits::default())
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
                if exact && !matches!(data, Data::Opaque(_)) {
                    assert_eq!(back, m);
                }
            }
        }
    }
}

#[test]
fn malformed_markup_is_rejected_at_its_offset() {
    for (bad, at) in [
        ("<Final a=b/>", "b/>"),
        ("<Final a=\"<\"/>", "<\"/>"),
        ("<Final a=\"x\"b=\"y\"/>", "b=\"y"),
        ("<Final a/>", "/>"),
        ("<1Final/>", "1Final"),
        ("<Final/ >", "/ >"),
        ("<!-- open", "<!-- open"),
        ("<![CDATA[ open", "<![CDATA[ open"),
        ("<!ELEMENT x>", "<!ELEMENT"),
        ("<?pi open", "<?pi open"),
        ("<Final></Final x>", "x>"),
        ("<Final a=\"x&y\"/>", "&y"),
        ("<Final a=\"&bogus;\"/>", "&bogus"),
    ] {
        let xml = msg(bad);
        let offset = xml.find(at).unwrap();
        match dec(&xml) {
            Err(Error::XmlMalformed { offset: o, .. }) => assert_eq!(o, offset, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // A reference to a non-Char in an attribute value.
    let bad = msg("<Final a=\"&#1;\"/>");
    assert_eq!(dec(&bad), invalid_char(bad.find("&#1;").unwrap(), 1));
    // Attributes with either quote and whitespace around `=`, `>` and references in a value.
    let ok = msg("<Final a = 'x>&amp;&#65;' b=\"'\"\n/>");
    assert!(dec(&ok).unwrap().body.is_final);
    // A DOCTYPE with an internal subset.
    let ok = format!(
        "<!DOCTYPE SyncML [<!ENTITY x \"]>\"> <!ELEMENT a (#PCDATA)>]>{}",
        msg("<Final/>")
    );
    assert!(dec(&ok).unwrap().body.is_final);
}

#[test]
fn character_check_finds_every_position_in_every_block() {
    // The check works on 32-byte blocks and a padded tail: try each offset of three blocks
    // and a tail, each bad byte, and U+FFFF straddling block boundaries.
    for len in [31usize, 32, 33, 70, 96, 100] {
        let clean = "a\tb\nc\rd é€"
            .repeat(len)
            .chars()
            .take(len)
            .collect::<String>();
        assert_eq!(reader::check_chars(clean.as_bytes()), Ok(false));
        for at in 0..len {
            for bad in [0u8, 1, 0x08, 0x0b, 0x0c, 0x0e, 0x1f] {
                let mut bytes = vec![b'x'; len];
                bytes[at] = bad;
                assert_eq!(
                    reader::check_chars(&bytes),
                    Err(Error::XmlInvalidChar {
                        offset: at,
                        code_point: u32::from(bad)
                    }),
                    "len {len} at {at} byte {bad:#x}"
                );
            }
            if at + 3 <= len {
                for (tail, cp) in [(0xBE, 0xFFFE), (0xBF, 0xFFFF)] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at..at + 3].copy_from_slice(&[0xEF, 0xBF, tail]);
                    assert_eq!(
                        reader::check_chars(&bytes),
                        Err(Error::XmlInvalidChar {
                            offset: at,
                            code_point: cp
                        })
                    );
                }
                // Other characters with a 0xEF lead byte are fine.
                let mut bytes = vec![b'x'; len];
                bytes[at..at + 3].copy_from_slice("\u{fffd}".as_bytes());
                assert_eq!(reader::check_chars(&bytes), Ok(false));
            }
        }
    }
}

#[test]
fn find2_finds_the_first_of_two_bytes_at_any_offset() {
    for len in 0..40usize {
        for at in 0..len {
            for from in 0..=at {
                let mut bytes = vec![b'x'; len];
                bytes[at] = b'<';
                if at + 1 < len {
                    bytes[at + 1] = b'&';
                }
                assert_eq!(reader::find2(&bytes, from, b'<', b'&'), at);
                assert_eq!(reader::find2(&bytes, from, b'&', b'<'), at);
            }
        }
        assert_eq!(reader::find2(&vec![b'x'; len], 0, b'<', b'&'), len);
    }
}
