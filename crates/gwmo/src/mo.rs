//! The registered GwMO management object identifiers (OMNA DM MO registry; digest §1.2) and
//! where our MOs live in the gateway's tree.
//!
//! Each identifier is the `Type` property of its MO root. Only the 1.1 identifiers of Config
//! and DeviceInventory are registered; the others are at 1.0.

/// Where the GwMO MO roots live: `./GwMO/<root>` (our layout, docs/gwmo-objects.md).
pub const GWMO_ROOT: &str = "./GwMO";

/// Gateway Config MO (`./GwMO/GwConfig`), OMNA index 0x0060.
pub const GW_CONFIG: &str = "urn:oma:mo:oma-gwmo-config:1.1";
/// Device Inventory MO (`./GwMO/DeviceInventory`), OMNA index 0x0061.
pub const DEVICE_INVENTORY: &str = "urn:oma:mo:oma-gwmo-deviceinventory:1.1";
/// End Device Trigger MO (`./GwMO/EDTrigger`), OMNA index 0x0062.
pub const ED_TRIGGER: &str = "urn:oma:mo:oma-gwmo-edtrigger:1.0";
/// Fanout MO (`./GwMO/Fanout`), OMNA index 0x0063.
pub const FANOUT: &str = "urn:oma:mo:oma-gwmo-fanout:1.0";
/// Image Inventory MO (`./GwMO/ImageInventory`), OMNA index 0x0064.
pub const IMAGE_INVENTORY: &str = "urn:oma:mo:oma-gwmo-imageinventory:1.0";
/// ZigBee Device MO (adaptation), OMNA index 0x0065; note the `oma-dm-` prefix of the registry.
pub const ZIGBEE_DEVICE: &str = "urn:oma:mo:oma-dm-zigbee:1.0";

/// Every registered GwMO identifier, in OMNA index order.
pub const ALL: [&str; 6] = [
    GW_CONFIG,
    DEVICE_INVENTORY,
    ED_TRIGGER,
    FANOUT,
    IMAGE_INVENTORY,
    ZIGBEE_DEVICE,
];
