//! Standard management objects: `./DevInfo`, `./DevDetail`, DMAcc accounts.

pub mod devdetail;
pub mod devinfo;
pub mod dmacc;
