//! Service logs inside the manager: splitting what a service writes into lines,
//! keeping the recent lines of each unit in a bounded ring, and sending lines out
//! to the console, /dev/kmsg or a file without ever blocking the manager.
//!
//! This crate never reads from a service's pipe, never polls and never sleeps:
//! the manager's event loop reads the pipes and feeds [`LineSplitter`], pushes
//! [`Record`]s into the [`LogStore`] and the sinks, and calls
//! [`Sink::on_writable`] when epoll says a sink's fd can take more. It holds no
//! `unsafe` code; the only system calls it makes are writes (or sends) to the
//! sinks' fds, opening the files it is asked to open and preparing the console's
//! fd.

pub mod record;
pub mod ring;
pub mod sink;
pub mod split;
pub mod store;

pub use record::{Entry, Record, Stream};
pub use ring::Ring;
pub use sink::{Backlog, ConsoleSink, FileSink, KmsgSink, Sink, SinkError, SinkHealth, console_fd};
pub use split::LineSplitter;
pub use store::{LogStore, Since};
