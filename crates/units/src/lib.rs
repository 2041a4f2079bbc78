//! Service definitions: the one service model and its two front ends, systemd-style
//! unit files and zinit-style YAML, plus the loader that reads configuration
//! directories into that model.
//!
//! This crate reads files; it never starts, signals or waits for anything.

pub mod condition;
pub mod diag;
pub mod edit;
pub mod files;
pub mod fuzzing;
pub mod glob;
pub mod install;
pub mod load;
pub mod model;
pub mod name;
pub mod specifier;
pub mod unitfile;
pub mod value;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use model::*;
pub use specifier::SpecifierContext;
