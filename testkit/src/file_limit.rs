//! A file-size limit on this process (`RLIMIT_FSIZE`), as a full disk: a write past it fails
//! with EFBIG instead of the kernel's SIGXFSZ, which is ignored. The limit is the process's, so
//! only a test with a process of its own (nextest, which CI uses) may set it
//! ([`require_own_process`]).

/// Sets the soft limit to `bytes` (`u64::MAX`: as high as the hard limit).
#[allow(unsafe_code)]
pub fn limit_file_size(bytes: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls on a local struct; the limit and the signal are this process's.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut l), 0);
        l.rlim_cur = bytes.min(l.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &l), 0);
    }
}

/// Fails the test unless it runs in a process of its own (under nextest): a limit set beside
/// other tests would fail them, and a test that skipped itself would pass having checked
/// nothing.
pub fn require_own_process() {
    assert!(
        std::env::var_os("NEXTEST_RUN_ID").is_some(),
        "this test needs a process of its own: run it under cargo nextest"
    );
}
