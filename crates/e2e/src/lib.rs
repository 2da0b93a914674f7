//! End-to-end tests of the shipped binaries (`dm-server`, `dm-client`, `dm-sim`, `dm-gateway`,
//! `dmctl`) on loopback.
//!
//! In: nothing at run time but the workspace itself. Out: test verdicts. The library is empty;
//! everything is in `tests/`:
//!
//! - `tests/harness/mod.rs` builds the binaries once per test run by invoking
//!   `cargo build -p dm-server-bin -p dm-client-bin -p dm-sim -p dm-gateway-bin -p dmctl` (the `CARGO` the test runs
//!   under; `env!("CARGO_BIN_EXE_...")` only names binaries of the same package) and finds them
//!   in the target directory next to the test executable (`target/debug`). It starts
//!   `dm-server` on `127.0.0.1:0` (reading the bound URL from its first stdout line), writes
//!   `dm-client` config files and talks to the REST API with the bearer token.
//! - `tests/e2e.rs` holds the scenarios of issue 3 item 6. Each runs against SQLite (a file in a
//!   temporary directory) and, when `DMSTORE_PG_URL` is set (`scripts/test` starts a throwaway
//!   cluster), against PostgreSQL too. Without that variable the PostgreSQL variants print
//!   `SKIPPED` on stderr and pass, unless `REQUIRE_ORACLES=1` (CI), where they fail.
