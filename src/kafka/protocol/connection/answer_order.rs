//! Answers in the order their requests were written. A broker answers the requests of one
//! connection strictly in order (Kafka's protocol says so; Nisshi serves a connection one
//! request at a time), and rskafka matches an answer to its request by the correlation id
//! alone. An id damaged in flight into that of another request still waiting (a partition's
//! pipeline keeps up to 5 Produce requests in flight) would settle that request with the
//! other's answer: a batch taken for delivered whose own answer said it was not. The stream
//! under the messenger reads each request's id as it is written and each answer's as it is
//! read, and fails the stream when an answer names any request but the oldest one waiting: the
//! connection is lost, and every request on it is sent again (a produce under its sequence
//! numbers, so the broker keeps one copy), as the Java client does.
use std::{collections::VecDeque, io};

/// The order of one connection's requests and answers, fed with the bytes as they pass.
#[derive(Debug)]
pub struct AnswerOrder {
    requests: Frames,
    answers: Frames,
    /// Correlation ids written and not answered yet, oldest first.
    waiting: VecDeque<i32>,
}

impl Default for AnswerOrder {
    fn default() -> Self {
        Self {
            // size, api key (2), api version (2), correlation id
            requests: Frames::new(4),
            // size, correlation id
            answers: Frames::new(0),
            waiting: VecDeque::new(),
        }
    }
}

impl AnswerOrder {
    /// Bytes written to the broker.
    pub fn written(&mut self, bytes: &[u8]) -> io::Result<()> {
        let waiting = &mut self.waiting;
        self.requests.feed(bytes, |id| {
            waiting.push_back(id);
            Ok(())
        })
    }

    /// Bytes read from the broker: an error when an answer is out of order (or answers
    /// nothing written).
    pub fn read(&mut self, bytes: &[u8]) -> io::Result<()> {
        let waiting = &mut self.waiting;
        self.answers.feed(bytes, |id| match waiting.pop_front() {
            Some(next) if next == id => Ok(()),
            Some(next) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "an answer with correlation id {id} where {next} was next: damaged in flight"
                ),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an answer with correlation id {id} to no request waiting"),
            )),
        })
    }

    /// Requests written whose answers have not been read.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// One direction's frames (a 4-byte size, then that many bytes), cut from the bytes as they
/// pass, and the correlation id of each, `id_at` bytes into its body.
#[derive(Debug)]
struct Frames {
    id_at: usize,
    /// The frame's first bytes, up to and with the id.
    head: [u8; 12],
    /// How many of them are in.
    have: usize,
    /// Bytes of the frame left after its head.
    skip: u64,
}

impl Frames {
    fn new(id_at: usize) -> Self {
        Self {
            id_at,
            head: [0; 12],
            have: 0,
            skip: 0,
        }
    }

    /// Bytes of the head: the size, the bytes before the id, the id.
    fn head_len(&self) -> usize {
        4 + self.id_at + 4
    }

    /// Goes through `bytes`, calling `id` with each frame's correlation id once it is in.
    fn feed(
        &mut self,
        mut bytes: &[u8],
        mut id: impl FnMut(i32) -> io::Result<()>,
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(bytes.len(), |s| s.min(bytes.len()));
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let head_len = self.head_len();
            let n = (head_len - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < head_len {
                continue;
            }
            self.have = 0;
            let size = i32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
            let body_head = (self.id_at + 4) as u64;
            let rest = u64::try_from(size)
                .ok()
                .and_then(|size| size.checked_sub(body_head))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a frame of {size} bytes holds no correlation id"),
                    )
                })?;
            let at = 4 + self.id_at;
            let [a, b, c, d] = [
                self.head[at],
                self.head[at + 1],
                self.head[at + 2],
                self.head[at + 3],
            ];
            self.skip = rest;
            id(i32::from_be_bytes([a, b, c, d]))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request frame: size, api key 0, version 9, `id`, then `body` bytes.
    fn request(id: i32, body: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((8 + body) as i32).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 9]);
        f.extend_from_slice(&id.to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, body));
        f
    }

    /// An answer frame: size, `id`, then `body` bytes.
    fn answer(id: i32, body: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((4 + body) as i32).to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend(std::iter::repeat_n(9u8, body));
        f
    }

    #[test]
    fn answers_in_order_pass_however_the_bytes_are_cut() {
        let mut order = AnswerOrder::default();
        let written: Vec<u8> = [request(1, 100), request(2, 0), request(3, 5000)].concat();
        for chunk in written.chunks(3) {
            order.written(chunk).unwrap();
        }
        let read: Vec<u8> = [answer(1, 30), answer(2, 0), answer(3, 70_000)].concat();
        for chunk in read.chunks(7) {
            order.read(chunk).unwrap();
        }
        assert!(order.waiting.is_empty());
        // Whole frames at once too.
        order.written(&request(4, 1)).unwrap();
        order.read(&answer(4, 1)).unwrap();
    }

    #[test]
    fn an_answer_naming_a_later_request_fails_the_stream() {
        let mut order = AnswerOrder::default();
        for id in 10..15 {
            order.written(&request(id, 20)).unwrap();
        }
        order.read(&answer(10, 3)).unwrap();
        // 11's id damaged into 12's, which waits too.
        let err = order.read(&answer(12, 3)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("12 where 11 was next"), "{err}");
    }

    #[test]
    fn an_answer_to_nothing_or_without_an_id_fails_the_stream() {
        let mut order = AnswerOrder::default();
        assert!(order.read(&answer(0, 0)).is_err());
        let mut order = AnswerOrder::default();
        order.written(&request(0, 0)).unwrap();
        // A size of 2: too short to hold an id.
        assert!(order.read(&[0, 0, 0, 2, 0, 0, 0, 0]).is_err());
        let mut order = AnswerOrder::default();
        assert!(order.read(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    }
}
