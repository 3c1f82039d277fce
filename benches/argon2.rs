//! argon2id at the service's parameters (19 MiB, 2 passes, 1 lane, 32-byte tag): the hash
//! `argon2-rust` computes for the service, beside RustCrypto's `argon2` (the independent
//! implementation the password tests check our PHC strings against), one thread at a time and
//! one per CPU at once, each thread keeping its working area from one hash to the next as the
//! service's hashing threads do. The median and the spread of the hashes' times per crate.
//!
//! `cargo bench --bench argon2` runs 60 hashes per thread; under `cargo test` a smoke version
//! runs 2 and checks that both crates compute the same tag.
use std::time::Instant;

/// The shipped binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &[u8] = b"correct horse battery staple";
const SALT: &[u8] = b"sixteen byte salt";

/// One implementation: hashes on the calling thread, keeping what it needs between calls.
trait Argon2id {
    fn hash(&mut self, out: &mut [u8; 32]);
}

/// `argon2-rust`, the service's, with its default parameters (the service's).
struct Ours(argon2_rust::Hasher);

impl Ours {
    fn new() -> Self {
        use argon2_rust::{Algorithm, Argon2, Params, Version};
        Self(Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT).hasher())
    }
}

impl Argon2id for Ours {
    fn hash(&mut self, out: &mut [u8; 32]) {
        if let Err(e) = self.0.hash_into(PASSWORD, SALT, out) {
            panic!("argon2-rust: {e}");
        }
    }
}

/// RustCrypto's `argon2` at the same parameters, its memory kept between hashes.
struct RustCrypto {
    hasher: argon2::Argon2<'static>,
    memory: Vec<argon2::Block>,
}

impl RustCrypto {
    fn new() -> Self {
        let params = match argon2::Params::new(19 * 1024, 2, 1, Some(32)) {
            Ok(p) => p,
            Err(e) => panic!("argon2 params: {e}"),
        };
        let blocks = params.block_count();
        Self {
            hasher: argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                params,
            ),
            memory: vec![argon2::Block::default(); blocks],
        }
    }
}

impl Argon2id for RustCrypto {
    fn hash(&mut self, out: &mut [u8; 32]) {
        if let Err(e) =
            self.hasher
                .hash_password_into_with_memory(PASSWORD, SALT, out, &mut self.memory)
        {
            panic!("argon2: {e}");
        }
    }
}

/// Milliseconds of `n` hashes on each of `threads` threads at once, sorted.
fn times<H: Argon2id>(make: fn() -> H, threads: usize, n: usize) -> Vec<f64> {
    let mut all: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut hasher = make();
                    let mut out = [0u8; 32];
                    hasher.hash(&mut out); // the area's first touch is no hash's time
                    (0..n)
                        .map(|_| {
                            let started = Instant::now();
                            hasher.hash(&mut out);
                            started.elapsed().as_secs_f64() * 1e3
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    all.sort_by(f64::total_cmp);
    all
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 60 } else { 2 };
    let cores = std::thread::available_parallelism().map_or(2, usize::from);

    let (mut ours, mut theirs) = ([0u8; 32], [0u8; 32]);
    Ours::new().hash(&mut ours);
    RustCrypto::new().hash(&mut theirs);
    assert_eq!(ours, theirs, "both crates compute the same argon2id tag");

    println!(
        "argon2id, m = 19456 KiB, t = 2, p = 1; argon2-rust's fill code on this CPU: {}; {n} hashes per thread after one unmeasured, ms",
        argon2_rust::detected_backend()
    );
    println!("| crate | threads at once | p50 | min | max |");
    println!("|---|---|---|---|---|");
    let mut thread_counts = vec![1];
    if cores > 1 {
        thread_counts.push(cores);
    }
    for threads in thread_counts {
        let rows: [(&str, Vec<f64>); 2] = [
            (
                "argon2-rust 1.1 (the service's)",
                times(Ours::new, threads, n),
            ),
            (
                "argon2 0.5 (RustCrypto)",
                times(RustCrypto::new, threads, n),
            ),
        ];
        for (name, t) in rows {
            println!(
                "| {name} | {threads} | {:.1} | {:.1} | {:.1} |",
                quantile(&t, 0.5),
                quantile(&t, 0.0),
                quantile(&t, 1.0),
            );
        }
    }
}
