//! `vigild`'s command line.

use std::path::{Path, PathBuf};

pub const HELP: &str = "\
vigild - the vigil service manager

usage: vigild [OPTIONS]

options:
  --unit-path DIR, --config-dir DIR
                       a directory of unit files (*.service, *.target) and zinit YAML
                       (*.yaml); repeatable, the first has precedence and is where
                       `vigil enable` writes. Without it: $VIGIL_UNIT_PATH (DIR:DIR...;
                       a trailing ':' appends the default), else for root /etc/vigil,
                       /run/vigil, /usr/lib/vigil, /etc/systemd/system, /run/systemd/system,
                       /lib/systemd/system, /usr/lib/systemd/system; for other users
                       $XDG_CONFIG_HOME/vigil (~/.config/vigil)
  --generator-dir DIR  run the systemd generators in DIR (repeatable; a name in an
                       earlier DIR hides it in the later ones) before each read of the
                       unit directories (at start, `vigil sync`, SIGHUP), also with
                       --unit-path or as a user that is not root. Without it, generators
                       run only for root with the default unit path, from
                       /run/systemd/system-generators, then /etc/..., /usr/local/lib/...,
                       /usr/lib/... and /lib/systemd/system-generators; never systemd's
                       own (systemd-*). Their outputs, generator, generator.early and
                       generator.late beside the control socket (/run/vigil/ for root),
                       join the unit path (docs/UNITS.md, section Generators)
  --generator-timeout SECONDS
                       how long the generators of a run get, all together (default 90):
                       those still running then are killed with their process group
  --socket PATH        the control socket (also $VIGIL_SOCKET); default
                       /run/vigil/control.sock for root, $XDG_RUNTIME_DIR/vigil/control.sock
                       otherwise (/tmp/vigil-UID/ without XDG_RUNTIME_DIR)
  --target NAME        the unit to start at boot (default: default.target)
  --log-to SINK        also send service log lines to SINK: console (this process's
                       stdout, each line prefixed by the unit name), kmsg (/dev/kmsg),
                       or file:PATH; repeatable. The per-unit ring is always kept.
  --log-ring-size N    bytes of log kept per unit (default 65536; K and M suffixes)
  --default-environment NAME=VALUE
                       a variable every service gets (systemd's DefaultEnvironment=);
                       repeatable. A manager not running as root also passes its own
                       PATH to services, as systemd --user does
  --main NAME          container style: start NAME too, and when it ends, stop every
                       unit and exit with its exit code (128+N when killed by signal N);
                       SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH and SIGQUIT go to its main
                       process (SIGQUIT without --main: stop every unit, as SIGTERM)
  --emergency          start no unit: ask vigil-init for the emergency shell on the
                       console; the boot target is started when the shell exits
  --container          the manager of a container (vigil-init --container passes it): one
                       emergency shell at most; a boot target that fails after it is
                       reported and the rest keeps running; a console log reader that
                       falls behind holds the services back instead of losing lines;
                       every service inherits this process's environment (docker -e)
                       under the variables vigild sets, less NOTIFY_SOCKET, LISTEN_*,
                       MAINPID, WATCHDOG_* and the like
  --shutdown-timeout SECONDS
                       the whole shutdown's deadline (default 300): past it, what still
                       runs is killed. Each unit's own TimeoutStopSec= applies first
  --debug              also log the engine's own debug lines to stderr (the state
                       changes are logged without it)
  --check-state        alone: read a manager's state on stdin; when this binary can
                       take it over, say so on stdout and exit 0, else exit 1 saying
                       why (what `vigil reexec` asks the binary on disk first)
  -h, --help           this text

exit codes: 0 after a `vigil shutdown`, 1 on a fatal start-up error, 2 on a usage error
or a read-only file system where it must write; with --main, the main unit's.
";

#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    Console,
    Kmsg,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config_dirs: Vec<PathBuf>,
    /// `--generator-dir`: where generators are run from, in place of systemd's
    /// directories, and even with `--unit-path` or for a user that is not root.
    pub generator_dirs: Vec<PathBuf>,
    /// What all the generators of one run get together.
    pub generator_timeout: std::time::Duration,
    pub socket: Option<PathBuf>,
    pub target: String,
    pub sinks: Vec<SinkSpec>,
    pub ring_size: usize,
    pub debug: bool,
    pub default_env: Vec<(String, String)>,
    /// `--main`: the unit whose end ends the manager (container style).
    pub main: Option<String>,
    /// `--emergency` (vigil.emergency): no unit at boot, the emergency shell
    /// instead; the boot target once the shell exits.
    pub emergency: bool,
    /// The global deadline of a shutdown.
    pub shutdown_timeout: std::time::Duration,
    /// `--container` (vigil-init in container mode): one emergency shell at most,
    /// and services inherit vigild's environment.
    pub container: bool,
}

#[derive(Debug, PartialEq)]
pub enum OptionsError {
    Help,
    Bad(String),
}

fn parse_size(s: &str) -> Option<usize> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1024),
        b'M' | b'm' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mult)
}

pub fn parse(args: &[String]) -> Result<Options, OptionsError> {
    let mut opts = Options {
        config_dirs: Vec::new(),
        generator_dirs: Vec::new(),
        generator_timeout: crate::generators::DEFAULT_TIMEOUT,
        socket: None,
        target: "default.target".into(),
        sinks: Vec::new(),
        ring_size: 64 * 1024,
        debug: false,
        default_env: Vec::new(),
        main: None,
        emergency: false,
        shutdown_timeout: std::time::Duration::from_secs(300),
        container: false,
    };
    let mut emergency = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, OptionsError> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| OptionsError::Bad(format!("{name} needs a value")))
        };
        match flag {
            "-h" | "--help" => return Err(OptionsError::Help),
            "--debug" => opts.debug = true,
            "--emergency" => emergency = true,
            "--container" => opts.container = true,
            "--shutdown-timeout" => {
                let v = value(flag)?;
                let secs = v.parse::<u64>().map_err(|_| {
                    OptionsError::Bad(format!("--shutdown-timeout: bad number of seconds {v:?}"))
                })?;
                opts.shutdown_timeout = std::time::Duration::from_secs(secs);
            }
            "--main" => opts.main = Some(vigil_units::name::normalize(&value(flag)?)),
            "--config-dir" | "--unit-path" => opts.config_dirs.push(PathBuf::from(value(flag)?)),
            "--generator-dir" => opts.generator_dirs.push(PathBuf::from(value(flag)?)),
            "--generator-timeout" => {
                let v = value(flag)?;
                // 0 would kill every generator as it starts.
                let secs = v.parse::<u64>().ok().filter(|&s| s > 0).ok_or_else(|| {
                    OptionsError::Bad(format!(
                        "--generator-timeout: bad number of seconds {v:?} (1 or more)"
                    ))
                })?;
                opts.generator_timeout = std::time::Duration::from_secs(secs);
            }
            "--socket" => opts.socket = Some(PathBuf::from(value(flag)?)),
            "--target" => opts.target = vigil_units::name::normalize(&value(flag)?),
            "--log-to" => {
                let v = value(flag)?;
                opts.sinks.push(match v.as_str() {
                    "console" => SinkSpec::Console,
                    "kmsg" => SinkSpec::Kmsg,
                    s if s.starts_with("file:") && s.len() > 5 => {
                        SinkSpec::File(PathBuf::from(&s[5..]))
                    }
                    s => {
                        return Err(OptionsError::Bad(format!(
                            "--log-to: unknown sink {s:?} (console, kmsg, file:PATH)"
                        )));
                    }
                });
            }
            "--default-environment" => {
                let v = value(flag)?;
                match v.split_once('=') {
                    Some((k, val)) if !k.is_empty() => {
                        opts.default_env.push((k.to_string(), val.to_string()))
                    }
                    _ => {
                        return Err(OptionsError::Bad(format!(
                            "--default-environment: expected NAME=VALUE, got {v:?}"
                        )));
                    }
                }
            }
            "--log-ring-size" => {
                let v = value(flag)?;
                opts.ring_size = parse_size(&v)
                    .ok_or_else(|| OptionsError::Bad(format!("--log-ring-size: bad size {v:?}")))?;
            }
            other => return Err(OptionsError::Bad(format!("unknown option {other:?}"))),
        }
    }
    opts.emergency = emergency;
    Ok(opts)
}

impl Options {
    /// The paths of `--config-dir` (`--unit-path`), `--generator-dir`,
    /// `--socket` and `--log-to file:` made absolute against `cwd`, vigild's
    /// working directory at start. Services and generators run in `/` (or
    /// their WorkingDirectory=): a relative control socket would give them a
    /// relative NOTIFY_SOCKET they cannot reach. (`vigil reexec` passes the
    /// arguments as given: vigild never changes its working directory, which
    /// the exec keeps.)
    pub fn make_paths_absolute(&mut self, cwd: &Path) {
        for dir in self.config_dirs.iter_mut().chain(&mut self.generator_dirs) {
            *dir = absolute(std::mem::take(dir), cwd);
        }
        self.socket = self.socket.take().map(|s| absolute(s, cwd));
        for sink in &mut self.sinks {
            if let SinkSpec::File(path) = sink {
                *path = absolute(std::mem::take(path), cwd);
            }
        }
    }
}

/// `path` against `cwd` when relative.
pub fn absolute(path: PathBuf, cwd: &Path) -> PathBuf {
    match path.is_relative() {
        true => cwd.join(path),
        false => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Options, OptionsError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn relative_paths_become_absolute_against_the_start_directory() {
        let args: Vec<String> = [
            "--socket",
            "s",
            "--config-dir=u",
            "--unit-path",
            "/abs",
            "--log-to",
            "file:l",
            "--log-to=console",
            "--target",
            "t",
            "--main",
            "m",
            "--generator-dir",
            "g",
        ]
        .map(String::from)
        .to_vec();
        let mut o = parse(&args).unwrap();
        o.make_paths_absolute(Path::new("/w"));
        assert_eq!(o.socket, Some(PathBuf::from("/w/s")));
        assert_eq!(
            o.config_dirs,
            [PathBuf::from("/w/u"), PathBuf::from("/abs")]
        );
        assert_eq!(o.generator_dirs, [PathBuf::from("/w/g")]);
        assert_eq!(o.sinks, [SinkSpec::File("/w/l".into()), SinkSpec::Console]);
        assert_eq!(
            (o.target.as_str(), o.main.as_deref()),
            ("t.service", Some("m.service"))
        );
    }

    #[test]
    fn options_parse() {
        let o = p("--config-dir a --unit-path=b --target web --log-to console --log-to file:/x --log-ring-size 2K").unwrap();
        assert_eq!(o.config_dirs, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(o.target, "web.service");
        assert_eq!(
            o.sinks,
            vec![SinkSpec::Console, SinkSpec::File("/x".into())]
        );
        assert_eq!(o.ring_size, 2048);
        assert!(o.generator_dirs.is_empty());
        assert_eq!(o.generator_timeout, crate::generators::DEFAULT_TIMEOUT);
        let o = p("--generator-dir /a --generator-dir=/b --generator-timeout 5").unwrap();
        assert_eq!(o.generator_dirs, ["/a", "/b"].map(PathBuf::from));
        assert_eq!(o.generator_timeout, std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_options() {
        for bad in [
            "--nope",
            "--config-dir",
            "--log-to tty",
            "--log-ring-size x",
            "--generator-dir",
            "--generator-timeout 0",
            "--generator-timeout soon",
        ] {
            assert!(matches!(p(bad), Err(OptionsError::Bad(_))), "{bad}");
        }
        assert_eq!(p("--help").unwrap_err(), OptionsError::Help);
    }
}
