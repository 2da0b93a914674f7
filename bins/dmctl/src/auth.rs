//! `dmctl auth`: authentication digests.

use anyhow::Context as _;
use syncml::auth;

/// `dmctl auth` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the `syncml:auth-md5` Cred/Data value (Base64):
    /// B64(MD5(B64(MD5(user:password)):nonce)).
    Md5 {
        /// User name (SyncHdr/Source/LocName).
        #[arg(long)]
        user: String,
        /// Password.
        #[arg(long)]
        password: String,
        /// Nonce as sent in Meta/NextNonce (Base64); its raw octets are hashed.
        #[arg(long)]
        nonce_b64: String,
    },
}

/// Runs a `dmctl auth` subcommand.
pub fn run(cmd: &Command) -> anyhow::Result<()> {
    match cmd {
        Command::Md5 {
            user,
            password,
            nonce_b64,
        } => {
            let nonce = auth::nonce_from_b64(nonce_b64).context("--nonce-b64")?;
            println!("{}", auth::md5_digest(user, password, &nonce));
            Ok(())
        }
    }
}
