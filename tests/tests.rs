//! Integration tests of the core: conversation, jobs, the crash test and the module layering.
//!
//! One test binary for the whole crate (each file is a module), so the support code and
//! the dependencies are compiled and linked once.

mod util;

mod conversation;
mod crash;
mod jobs;
mod layering;
