//! The running service over HTTP and its command line: the whole user journey, bad input,
//! authorization races, slow clients, throttle memory, `/metrics`, a store file that fails, and
//! stops (while starting; a second signal while stopping).
mod authorization_races;
mod bad_input;
mod cli;
mod connections;
mod disk_full;
mod foundation;
mod hashing_queue;
mod journey;
mod login_memory;
mod metrics;
mod network_faults;
mod open_files;
mod ops_listen;
mod second_signal;
mod slow_clients;
mod stop_while_starting;
