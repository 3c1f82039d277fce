//! The PostgreSQL backend on a private cluster: the store, users, several instances, restarts,
//! killed and frozen processes, processes cut off by network faults, and identifiers that need
//! quoting.
mod frozen_holder;
mod load;
mod multi_instance;
mod names;
mod netns;
mod processes;
mod restart;
mod store;
mod users;
