//! Unit tests of the XML codec.

use super::*;
use crate::*;

fn dec(s: &str) -> Result<SyncMl, Error> {
    decode(s.as_bytes(), &Limits::default())
}

#[test]
fn smoke() {
    let xml = r#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://s</LocURI></Target><Source><LocURI>IMEI:1</LocURI></Source></SyncHdr><SyncBody><Final/></SyncBody></SyncML>"#;
    let m = dec(xml).unwrap();
    assert!(m.body.is_final);
    assert_eq!(String::from_utf8(encode(&m)).unwrap(), xml);
}
