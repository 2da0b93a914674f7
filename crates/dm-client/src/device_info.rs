//! DevInfo / DevDetail values read from the running Linux system.
//!
//! In: the files a Linux box exposes (`/etc/machine-id`, `/etc/hostname`, `/etc/os-release`,
//! `/proc/sys/kernel/*`, `/sys/class/dmi/id/*`) and the config overrides. Out: a
//! [`SystemFacts`] value the tree builders take. Every read is best effort: a missing file gives a
//! sensible default, never an error.

use std::path::Path;

use crate::config::DeviceOverrides;

/// What the agent reports in `./DevInfo` and `./DevDetail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemFacts {
    /// `DevInfo/DevId`.
    pub dev_id: String,
    /// `DevInfo/Man`.
    pub manufacturer: String,
    /// `DevInfo/Mod`.
    pub model: String,
    /// `DevInfo/DmV`.
    pub dm_version: String,
    /// `DevInfo/Lang`.
    pub lang: String,
    /// `DevDetail/DevTyp`.
    pub dev_type: String,
    /// `DevDetail/OEM`.
    pub oem: String,
    /// `DevDetail/FwV` (firmware / BIOS version).
    pub fw_version: String,
    /// `DevDetail/SwV` (OS name and version, kernel release).
    pub sw_version: String,
    /// `DevDetail/HwV` (machine architecture, board version when known).
    pub hw_version: String,
}

/// The DM client version string reported in `./DevInfo/DmV`.
pub const DM_VERSION: &str = concat!("omadm-gwmo dm-client ", env!("CARGO_PKG_VERSION"));

impl SystemFacts {
    /// Reads the facts of this machine, `device_id` and `overrides` taking precedence.
    #[must_use]
    pub fn from_system(device_id: Option<&str>, overrides: &DeviceOverrides) -> SystemFacts {
        SystemFacts::from_root(Path::new("/"), device_id, overrides)
    }

    /// Same as [`SystemFacts::from_system`] with every path taken under `root` (for tests).
    #[must_use]
    pub fn from_root(
        root: &Path,
        device_id: Option<&str>,
        overrides: &DeviceOverrides,
    ) -> SystemFacts {
        let read = |rel: &str| -> Option<String> {
            let text = std::fs::read_to_string(root.join(rel)).ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        };
        let os = read("etc/os-release")
            .map(|t| parse_os_release(&t))
            .unwrap_or_default();
        let hostname = read("proc/sys/kernel/hostname").or_else(|| read("etc/hostname"));
        let dev_id = device_id
            .map(str::to_owned)
            .or_else(|| read("etc/machine-id"))
            .or(hostname)
            .unwrap_or_else(|| "unknown-device".to_owned());
        let vendor = read("sys/class/dmi/id/sys_vendor");
        let product = read("sys/class/dmi/id/product_name");
        let kernel = read("proc/sys/kernel/osrelease");
        let os_name = os
            .pretty_name
            .clone()
            .or_else(|| read("proc/sys/kernel/ostype"))
            .unwrap_or_else(|| "Linux".to_owned());
        let sw_version = match kernel {
            Some(k) => format!("{os_name}; kernel {k}"),
            None => os_name,
        };
        let arch = std::env::consts::ARCH.to_owned();
        let hw_version = match read("sys/class/dmi/id/board_version") {
            Some(b) => format!("{arch} {b}"),
            None => arch.clone(),
        };
        SystemFacts {
            dev_id,
            manufacturer: overrides
                .manufacturer
                .clone()
                .or_else(|| vendor.clone())
                .or_else(|| os.id.clone())
                .unwrap_or_else(|| "unknown".to_owned()),
            model: overrides
                .model
                .clone()
                .or(product)
                .unwrap_or_else(|| arch.clone()),
            dm_version: DM_VERSION.to_owned(),
            lang: overrides.lang.clone().unwrap_or_else(lang_from_env),
            dev_type: overrides
                .dev_type
                .clone()
                .unwrap_or_else(|| "linux".to_owned()),
            oem: vendor.unwrap_or_else(|| "unknown".to_owned()),
            fw_version: read("sys/class/dmi/id/bios_version").unwrap_or_else(|| "unknown".into()),
            sw_version,
            hw_version,
        }
    }
}

/// The fields of `/etc/os-release` the agent reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct OsRelease {
    pretty_name: Option<String>,
    id: Option<String>,
}

fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        match key.trim() {
            "PRETTY_NAME" => out.pretty_name = Some(value),
            "ID" => out.id = Some(value),
            _ => {}
        }
    }
    out
}

/// Two-letter language from `LANG` (`de_DE.UTF-8` -> `de`), `en` otherwise.
fn lang_from_env() -> String {
    std::env::var("LANG")
        .ok()
        .and_then(|l| l.get(..2).map(str::to_ascii_lowercase))
        .filter(|l| l.chars().all(|c| c.is_ascii_alphabetic()) && l != "c")
        .unwrap_or_else(|| "en".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_machine_id_os_release_and_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "etc/machine-id", "0123abcd\n");
        write(
            root,
            "etc/os-release",
            "NAME=\"Debian\"\nID=debian\nPRETTY_NAME=\"Debian GNU/Linux 13\"\n",
        );
        write(root, "proc/sys/kernel/osrelease", "6.1.0-test\n");
        write(root, "sys/class/dmi/id/sys_vendor", "ACME\n");
        let f = SystemFacts::from_root(root, None, &DeviceOverrides::default());
        assert_eq!(f.dev_id, "0123abcd");
        assert_eq!(f.manufacturer, "ACME");
        assert_eq!(f.oem, "ACME");
        assert_eq!(f.sw_version, "Debian GNU/Linux 13; kernel 6.1.0-test");
        assert_eq!(f.model, std::env::consts::ARCH);
        assert!(f.dm_version.starts_with("omadm-gwmo dm-client "));
    }

    #[test]
    fn hostname_when_no_machine_id_and_config_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "etc/hostname", "box7\n");
        let f = SystemFacts::from_root(root, None, &DeviceOverrides::default());
        assert_eq!(f.dev_id, "box7");
        assert_eq!(f.manufacturer, "unknown");
        let o = DeviceOverrides {
            manufacturer: Some("M".into()),
            model: Some("X1".into()),
            lang: Some("fr".into()),
            dev_type: None,
        };
        let f = SystemFacts::from_root(root, Some("IMEI:9"), &o);
        assert_eq!(
            (f.dev_id.as_str(), f.manufacturer.as_str()),
            ("IMEI:9", "M")
        );
        assert_eq!((f.model.as_str(), f.lang.as_str()), ("X1", "fr"));
    }

    #[test]
    fn os_release_parsing_ignores_noise() {
        let o = parse_os_release("# comment\nID='alpine'\nbad line\nPRETTY_NAME=Alpine\n");
        assert_eq!(o.id.as_deref(), Some("alpine"));
        assert_eq!(o.pretty_name.as_deref(), Some("Alpine"));
    }
}
