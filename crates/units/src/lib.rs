//! Service definitions: the one service model and its two front ends, systemd-style
//! unit files and zinit-style YAML, plus the loader that reads configuration
//! directories into that model.
//!
//! This crate reads files; it never starts, signals or waits for anything.

pub mod diag;
pub mod load;
pub mod model;
pub mod unitfile;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use model::*;
