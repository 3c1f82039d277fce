use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

#[tokio::test(start_paused = true)]
async fn a_write_nobody_reads_fails_after_the_timeout() {
    // The other end never reads: its 64-byte buffer fills and stays full.
    let (ours, _theirs) = tokio::io::duplex(64);
    let mut stream = SendTimeout::new(ours, Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let error = stream.write_all(&[7u8; 1024]).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_that_keeps_reading_is_served() {
    let (ours, mut theirs) = tokio::io::duplex(64);
    let mut stream = SendTimeout::new(ours, Duration::from_secs(30));
    // 64 bytes every 20 s: each write waits less than the timeout, the whole takes minutes.
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut chunk = [0u8; 64];
        while got.len() < 1024 {
            tokio::time::sleep(Duration::from_secs(20)).await;
            let n = theirs.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        got
    });
    stream.write_all(&[7u8; 1024]).await.unwrap();
    assert_eq!(reader.await.unwrap(), vec![7u8; 1024]);
}
