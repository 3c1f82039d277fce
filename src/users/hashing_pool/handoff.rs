//! How hashes reach the hashing threads: the thread that went idle last takes the next one.
//!
//! Under a light load one thread then computes every hash in its warm working area, and the
//! others, idle for long enough, hand theirs back to the OS; a thread that did so waits behind
//! every thread that still holds an area. Hashes that find no idle thread wait in a queue, in
//! the order they came.
use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use parking_lot::{Condvar, Mutex};

/// Jobs on their way to the threads that run them.
///
/// Locks are taken in one order: the state, then a slot's job.
pub(super) struct Handoff<J> {
    state: Mutex<State<J>>,
    /// Set under the state's lock; read by a waiting thread under its slot's.
    closed: AtomicBool,
}

struct State<J> {
    /// Jobs that found no idle thread, oldest first.
    queue: VecDeque<J>,
    /// The threads waiting for a job; the last one takes the next job.
    idle: Vec<Arc<Slot<J>>>,
}

/// Where one thread waits for the job handed to it.
pub(super) struct Slot<J> {
    job: Mutex<Option<J>>,
    ready: Condvar,
}

impl<J> Slot<J> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            job: Mutex::new(None),
            ready: Condvar::new(),
        })
    }
}

/// What a thread waiting for a job got.
#[derive(Debug)]
pub(super) enum Next<J> {
    Job(J),
    /// No job came in the time it waited.
    Idle,
    /// The handoff is closed and nothing is queued.
    Closed,
}

impl<J> Handoff<J> {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                idle: Vec::new(),
            }),
            closed: AtomicBool::new(false),
        }
    }

    /// Hands `job` to the thread that went idle last, or queues it; gives it back when the
    /// handoff is closed.
    pub fn send(&self, job: J) -> Result<(), J> {
        let mut state = self.state.lock();
        if self.closed.load(Ordering::Acquire) {
            return Err(job);
        }
        match state.idle.pop() {
            Some(slot) => {
                *slot.job.lock() = Some(job);
                slot.ready.notify_one();
            }
            None => state.queue.push_back(job),
        }
        Ok(())
    }

    /// The calling thread's next job: the oldest queued, or the next handed to `slot` within
    /// `wait`. While it waits it is the first idle thread to take a job.
    pub fn next(&self, slot: &Arc<Slot<J>>, wait: Duration) -> Next<J> {
        if let Some(next) = self.take_or_wait_in(slot, Place::First) {
            return next;
        }
        let deadline = Instant::now() + wait;
        let mut job = slot.job.lock();
        while job.is_none() {
            if slot.ready.wait_until(&mut job, deadline).timed_out() {
                break;
            }
        }
        if let Some(job) = job.take() {
            return Next::Job(job);
        }
        drop(job);
        // Out of the idle threads, unless a job was handed over meanwhile.
        let mut state = self.state.lock();
        if let Some(job) = slot.job.lock().take() {
            return Next::Job(job);
        }
        state.idle.retain(|idle| !Arc::ptr_eq(idle, slot));
        Next::Idle
    }

    /// Like [`Self::next`] without a time limit, for a thread that handed its working area
    /// back: it takes a job only when no thread that went idle after it is waiting.
    pub fn next_cold(&self, slot: &Arc<Slot<J>>) -> Next<J> {
        if let Some(next) = self.take_or_wait_in(slot, Place::Last) {
            return next;
        }
        let mut job = slot.job.lock();
        loop {
            if let Some(job) = job.take() {
                return Next::Job(job);
            }
            if self.closed.load(Ordering::Acquire) {
                return Next::Closed;
            }
            slot.ready.wait(&mut job);
        }
    }

    /// A queued job, or `Closed`; otherwise `slot` joins the idle threads at `place` and
    /// `None` says to wait on it.
    fn take_or_wait_in(&self, slot: &Arc<Slot<J>>, place: Place) -> Option<Next<J>> {
        let mut state = self.state.lock();
        if let Some(job) = state.queue.pop_front() {
            return Some(Next::Job(job));
        }
        if self.closed.load(Ordering::Acquire) {
            return Some(Next::Closed);
        }
        match place {
            Place::First => state.idle.push(Arc::clone(slot)),
            Place::Last => state.idle.insert(0, Arc::clone(slot)),
        }
        None
    }

    /// Threads waiting for a job now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.state.lock().idle.len()
    }

    /// Refuses new jobs; the threads take what is queued, then get `Closed`.
    #[cfg(test)]
    pub fn close(&self) {
        let mut state = self.state.lock();
        self.closed.store(true, Ordering::Release);
        for slot in state.idle.drain(..) {
            let _job = slot.job.lock();
            slot.ready.notify_one();
        }
    }
}

/// Where a thread waits among the idle ones.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// It takes the next job.
    First,
    /// Every other idle thread takes a job before it.
    Last,
}

#[cfg(test)]
mod tests;
