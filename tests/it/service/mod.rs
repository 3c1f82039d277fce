//! The running service over HTTP and its command line: the whole user journey, bad input,
//! authorization races, slow clients, throttle memory, `/metrics`, and a store file that fails.
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
mod slow_clients;
mod stop_while_starting;
