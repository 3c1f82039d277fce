//! The answer-order check under every broker connection (`AnswerOrder`): it cuts request and
//! answer frames out of the bytes as they pass, however they are split, and fails a stream
//! whose answer names any request but the oldest one waiting.
//!
//! The input is a list of requests (correlation id, body length), how the bytes are cut, and
//! what the answers are: the same ids in order (every cut must pass, and nothing is left
//! waiting), the first two swapped (the stream must fail where their ids differ), or arbitrary
//! bytes (Ok or an `InvalidData` error, never a panic).
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use usercenter::kafka::protocol::AnswerOrder;

#[derive(Debug, Arbitrary)]
struct Input {
    requests: Vec<(i32, u16)>,
    cuts: Vec<u8>,
    answers: Answers,
}

#[derive(Debug, Arbitrary)]
enum Answers {
    InOrder,
    FirstTwoSwapped,
    Raw(Vec<u8>),
}

/// A request frame: size, api key, api version, `id`, `body` bytes.
fn request(id: i32, body: u16) -> Vec<u8> {
    let mut f = (8 + i32::from(body)).to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0, 9]);
    f.extend_from_slice(&id.to_be_bytes());
    f.resize(f.len() + usize::from(body), 7);
    f
}

/// An answer frame: size, `id`, `body` bytes.
fn answer(id: i32, body: u16) -> Vec<u8> {
    let mut f = (4 + i32::from(body)).to_be_bytes().to_vec();
    f.extend_from_slice(&id.to_be_bytes());
    f.resize(f.len() + usize::from(body), 9);
    f
}

/// Feeds `bytes` to `feed` in pieces whose lengths come from `cuts` (1 to 32 bytes, in turn).
fn fed(
    bytes: &[u8],
    cuts: &[u8],
    mut feed: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut at = 0;
    let mut turn = 0;
    while at < bytes.len() {
        let cut = cuts.get(turn % cuts.len().max(1)).map_or(bytes.len(), |c| usize::from(c % 32) + 1);
        let end = (at + cut).min(bytes.len());
        feed(&bytes[at..end])?;
        at = end;
        turn += 1;
    }
    Ok(())
}

fuzz_target!(|input: Input| {
    // At most 64 requests of at most 1 KiB each: the bytes are fed a few at a time.
    let requests: Vec<(i32, u16)> = input
        .requests
        .iter()
        .take(64)
        .map(|&(id, body)| (id, body % 1024))
        .collect();
    let mut order = AnswerOrder::default();
    let written: Vec<u8> = requests.iter().flat_map(|&(id, body)| request(id, body)).collect();
    fed(&written, &input.cuts, |b| order.written(b)).expect("well-formed requests are read");
    assert_eq!(order.waiting(), requests.len());
    let mut answers = requests.clone();
    match input.answers {
        Answers::InOrder => {
            let read: Vec<u8> = answers.iter().flat_map(|&(id, body)| answer(id, body)).collect();
            fed(&read, &input.cuts, |b| order.read(b)).expect("answers in order pass");
            assert_eq!(order.waiting(), 0, "every request answered");
        }
        Answers::FirstTwoSwapped => {
            if answers.len() < 2 {
                return;
            }
            answers.swap(0, 1);
            let read: Vec<u8> = answers.iter().flat_map(|&(id, body)| answer(id, body)).collect();
            let outcome = fed(&read, &input.cuts, |b| order.read(b));
            if answers[0].0 == answers[1].0 {
                outcome.expect("equal ids swapped are the same order");
            } else {
                let e = outcome.expect_err("an answer out of order passed");
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            }
        }
        Answers::Raw(bytes) => {
            if let Err(e) = fed(&bytes, &input.cuts, |b| order.read(b)) {
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
            }
        }
    }
});
