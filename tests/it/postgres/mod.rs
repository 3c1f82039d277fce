//! The PostgreSQL backend on a private cluster: the store, users, several instances, restarts
//! and killed processes, and identifiers that need quoting.
mod multi_instance;
mod names;
mod processes;
mod restart;
mod store;
mod users;
