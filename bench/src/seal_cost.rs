//! What sealing the client address (`nexus_protocol::client_address`) costs one request: the
//! public port's `seal` plus a core service's `open`, side by side with a reference that does not
//! change with the code (formatting the address alone), in one run of one process.
//!
//!     seal-cost [ROUNDS]

use std::time::Instant;

use nexus_protocol::client_address::{open, seal};
use nexus_protocol::token::KeyStore;

fn main() -> anyhow::Result<()> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let keys = KeyStore::open_or_create(&dir.path().join("signing-keys.json"), "nexus")?;
    let address = |i: u32| format!("203.0.113.{}", i % 250);

    let started = Instant::now();
    for i in 0..rounds {
        std::hint::black_box(address(i));
    }
    let reference = started.elapsed().as_nanos() as f64 / f64::from(rounds);

    let started = Instant::now();
    let mut opened = 0u32;
    for i in 0..rounds {
        let sealed = seal(&keys, &address(i))?;
        opened += u32::from(open(&keys, &sealed).is_some());
    }
    let sealed = started.elapsed().as_nanos() as f64 / f64::from(rounds);
    anyhow::ensure!(
        opened == rounds,
        "only {opened} of {rounds} sealed addresses opened"
    );

    println!("| step | ns per request | vs reference |");
    println!("| --- | ---: | ---: |");
    println!("| format the address (reference) | {reference:.0} | 1.0 |");
    println!(
        "| format, seal and open | {sealed:.0} | {:.1} |",
        sealed / reference.max(1e-9)
    );
    Ok(())
}
