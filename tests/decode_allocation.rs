//! Decoding hostile bytes allocates only what the bytes hold: a postcard length prefix that
//! claims gigabytes fails without the decoder reserving them. An allocation is only observable
//! from the allocator, so this test binary has its own: it records the largest single
//! allocation each thread asks for.
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    hint::black_box,
};

use usercenter::event::{ContentType, Envelope, EventType, fixtures};

/// The system allocator, noting the largest request of each thread.
struct Largest;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// Runs `f` and returns its result with the largest allocation this thread asked for meanwhile.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

#[test]
fn the_allocator_sees_what_is_asked_for() {
    let ((), largest) = largest_allocation(|| drop(black_box(Vec::<u8>::with_capacity(1 << 20))));
    assert!(largest >= 1 << 20, "a 1 MiB buffer seen as {largest} bytes");
}

#[test]
fn a_postcard_length_prefix_of_4_gib_fails_without_reserving_it() {
    let rec = fixtures::sample(EventType::Registered)
        .encode(ContentType::Postcard)
        .unwrap();
    // The first field (the user name) claims 2^32 - 1 bytes; nothing follows.
    let hostile = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let (result, largest) =
        largest_allocation(|| Envelope::decode(black_box(&rec.headers), Some(&hostile)));
    assert!(result.is_err(), "5 bytes cannot hold the event");
    assert!(
        largest < 64 * 1024,
        "decoding 5 bytes asked for {largest} bytes at once"
    );
}

/// Decodes `bytes` as the answer of `C` at `version` and checks that it fails without asking
/// at once for 64 KiB more than the bytes themselves (which the decoder copies) (`what` names
/// the case in a failure).
fn refused_unallocated<C: usercenter::kafka::protocol::Call>(
    what: &str,
    bytes: &[u8],
    version: i16,
) {
    let (result, largest) = largest_allocation(|| {
        usercenter::kafka::protocol::decode_response::<C>(black_box(bytes), version).map(drop)
    });
    assert!(result.is_err(), "{what}: the bytes cannot hold that many");
    assert!(
        largest < 64 * 1024 + bytes.len(),
        "{what}: asked for {largest} bytes at once for {} bytes",
        bytes.len()
    );
}

#[test]
fn a_kafka_response_whose_array_count_outruns_its_bytes_fails_without_reserving_it() {
    use usercenter::kafka::protocol::{DescribeGroups, Produce};
    // Produce v3: the topics array claims 2^30 entries in 4 bytes.
    refused_unallocated::<Produce>("Produce v3, 2^30 topics", &[0x40, 0x00, 0x00, 0x00], 3);
    // DescribeGroups v5 (flexible): throttle time, then a compact array of 2^31 - 1 groups.
    let describe = [0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08];
    refused_unallocated::<DescribeGroups>("DescribeGroups v5, 2^31 - 1 groups", &describe, 5);
    // A count the bytes left allow (each element takes a byte at least), which at the
    // elements' in-memory size would still claim megabytes before the first one fails.
    let mut within = 100_000u32.to_be_bytes().to_vec();
    within.resize(4 + 100_000, 0xff);
    refused_unallocated::<Produce>("Produce v3, 100,000 topics in 100,000 bytes", &within, 3);
}
