//! `vigild`: the service manager. Parses its command line and hands over to the
//! library; everything else lives in `vigild`'s modules.

use std::io::Write as _;
use std::process::ExitCode;

/// Whether start-up failed on a read-only file system (EROFS).
fn read_only(e: &anyhow::Error) -> bool {
    const EROFS: i32 = 30;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(EROFS))
    })
}

fn main() -> ExitCode {
    vigild::hold_signals();
    // A panic says so without waiting on a full stderr (it aborts: vigil-init
    // restarts the manager, which must not hang first).
    std::panic::set_hook(Box::new(|info| vigild::note!("vigild: {info}")));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["--check-state"] {
        return match vigild::check_state_on_stdin() {
            Ok(()) => {
                // Unsaid (stdout closed), the check fails: nothing to panic about.
                let _ = writeln!(std::io::stdout(), "{}", vigild::CHECK_PASSED);
                ExitCode::SUCCESS
            }
            Err(e) => {
                vigild::note!("vigild: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    match vigild::options::parse(&args) {
        Ok(opts) => match vigild::run(opts) {
            Ok(code) => ExitCode::from(code),
            Err(e) if read_only(&e) => {
                // vigil-init gives up at once on 2: starting again cannot help
                // (a container's read-only root without a tmpfs on /run).
                vigild::note!(
                    "vigild: {e:#}\nvigild: a read-only file system stays so: mount a tmpfs \
                     there (docker run --tmpfs /run) or give --socket a writable place"
                );
                ExitCode::from(2)
            }
            Err(e) => {
                vigild::note!("vigild: {e:#}");
                ExitCode::from(1)
            }
        },
        Err(vigild::options::OptionsError::Help) => {
            print!("{}", vigild::options::HELP);
            ExitCode::SUCCESS
        }
        Err(vigild::options::OptionsError::Bad(msg)) => {
            vigild::note!("vigild: {msg}\ntry 'vigild --help'");
            ExitCode::from(2)
        }
    }
}
