//! Brokers for the tests of what talks to one: a listener that takes connections and never
//! answers.
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// A listener on loopback that accepts connections, holds them and never answers: its
/// address, the connections it accepted so far, and its task (abort it to close them).
pub(crate) async fn silent_broker() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let mut held = Vec::new();
    let silent = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (addr, accepted, silent)
}
