//! `vigild`: the service manager. Parses its command line and hands over to the
//! library; everything else lives in `vigild`'s modules.

use std::process::ExitCode;

fn main() -> ExitCode {
    vigild::hold_signals();
    // A panic says so without waiting on a full stderr (it aborts: vigil-init
    // restarts the manager, which must not hang first).
    std::panic::set_hook(Box::new(|info| vigild::note!("vigild: {info}")));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match vigild::options::parse(&args) {
        Ok(opts) => match vigild::run(opts) {
            Ok(code) => ExitCode::from(code),
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
