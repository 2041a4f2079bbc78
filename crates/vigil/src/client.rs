//! Talking to the manager: one request per connection, replies read line by line.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;

use vigil_proto::{
    Body, Envelope, ErrorCode, FileChange, KillWhom, LogLine, Reply, Request, VERSION,
};

use crate::Exit;
use crate::cli::{Command, Verb};
use crate::out::{out, outln};
use crate::render;

/// What a manager's `pong` says.
#[derive(Debug)]
pub struct Pong {
    pub version: String,
    pub pid: u32,
    /// None from a manager that does not say.
    pub under_init: Option<bool>,
}

/// Asks the manager at `path` whether it is there (10 s at most for its
/// answer); None when it does not answer.
pub fn ping(path: &std::path::Path) -> Option<Pong> {
    let ping = Envelope {
        version: VERSION,
        id: 1,
        request: Request::Ping {},
    };
    let s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    (&s).write_all(&vigil_proto::encode(&ping)).ok()?;
    let mut line = Vec::new();
    BufReader::new(s).read_until(b'\n', &mut line).ok()?;
    match serde_json::from_slice::<Reply>(&line).ok()?.result? {
        Body::Pong {
            version,
            pid,
            under_init,
        } => Some(Pong {
            version,
            pid,
            under_init,
        }),
        _ => None,
    }
}

/// `kill`: `all` and `main` in the words of a manager from before `whom`
/// (`group`, or nothing), which refuses fields it does not know; only
/// `control` needs the field.
fn kill_request(unit: String, signal: i32, whom: KillWhom) -> Request {
    Request::Kill {
        unit,
        signal,
        whom: (whom == KillWhom::Control).then_some(whom),
        group: whom == KillWhom::All,
    }
}

pub fn run(cmd: Command) -> Exit {
    // Verbs told from a plain request's reply: `list --failed`, `is-enabled`.
    let only_failed = matches!(cmd.verb, Verb::List { failed: true });
    // `--json status`: an array unless exactly one plain name was given, so
    // that the shape depends on the command line, not on what matched.
    let status_array = match &cmd.verb {
        Verb::Status { units, .. } => {
            units.len() != 1 || units.iter().any(|u| vigil_units::glob::is_glob(u))
        }
        _ => false,
    };
    let is_status = matches!(cmd.verb, Verb::Status { .. });
    // `show`: its options, and (`--json`) an array unless one plain name.
    let show_options = match &cmd.verb {
        Verb::Show { options, units } => Some((
            options.clone(),
            units.len() != 1 || units.iter().any(|u| vigil_units::glob::is_glob(u)),
        )),
        _ => None,
    };
    // `enable`, `disable`, `mask`, `unmask`: what was changed is said, and
    // what was not, and why (systemctl's notice).
    let enabling = matches!(
        cmd.verb,
        Verb::Enable { .. }
            | Verb::Disable { .. }
            | Verb::Mask { .. }
            | Verb::Unmask { .. }
            | Verb::SetDefault { .. }
            | Verb::Revert { .. }
    );
    let install_quiet = matches!(
        cmd.verb,
        Verb::Enable { quiet: true, .. }
            | Verb::Disable { quiet: true, .. }
            | Verb::Mask { quiet: true, .. }
            | Verb::Unmask { quiet: true, .. }
            | Verb::SetDefault { quiet: true, .. }
    );
    // `list-unit-files --state`: the states kept, and none listed is exit 1.
    let file_states = match &cmd.verb {
        Verb::ListUnitFiles { states, .. } => Some(states.clone()),
        _ => None,
    };
    let enabled_quiet = match cmd.verb {
        Verb::IsEnabled { quiet, .. } => Some(quiet),
        _ => None,
    };
    let stopping = matches!(cmd.verb, Verb::Stop { .. });
    let request = match cmd.verb {
        Verb::Verify { paths } => return crate::verify::run(&paths),
        Verb::Notify {
            fields,
            pid,
            no_block,
        } => return crate::notify::run(&fields, pid, no_block),
        Verb::List { .. } => Request::List {},
        Verb::Is {
            units,
            failed,
            quiet,
        } => return is(cmd.socket, &units, failed, quiet),
        Verb::Cat { units } => return cat(cmd.socket, &units),
        Verb::IsEnabled { units, .. } => Request::IsEnabled { units },
        Verb::ListUnitFiles { patterns, .. } => Request::ListUnitFiles { patterns },
        Verb::Status { units, lines } => Request::Status { units, lines },
        Verb::Show { units, .. } => Request::Show { units },
        Verb::Start { units, no_block } => Request::Start { units, no_block },
        Verb::Stop { units, no_block } => Request::Stop { units, no_block },
        Verb::Restart { units, no_block } => Request::Restart { units, no_block },
        Verb::Reload { units, no_block } => Request::Reload { units, no_block },
        Verb::TryRestart { units, no_block } => Request::TryRestart { units, no_block },
        Verb::ReloadOrRestart { units, no_block } => Request::ReloadOrRestart { units, no_block },
        Verb::TryReloadOrRestart { units, no_block } => {
            Request::TryReloadOrRestart { units, no_block }
        }
        Verb::Isolate { unit, no_block } => Request::Isolate { unit, no_block },
        Verb::Kill { unit, signal, whom } => kill_request(unit, signal, whom),
        Verb::Log {
            unit,
            lines,
            follow,
            since_us,
            until_us,
        } => Request::Log {
            unit,
            lines,
            follow,
            since_us,
            until_us,
        },
        Verb::Sync => Request::Sync {},
        Verb::ResetFailed { units } => Request::ResetFailed { units },
        Verb::Enable { units, .. } => Request::Enable { units },
        Verb::Disable { units, .. } => Request::Disable { units },
        Verb::Mask { units, .. } => Request::Mask { units },
        Verb::Unmask { units, .. } => Request::Unmask { units },
        Verb::Graph => Request::Graph {},
        Verb::Blame => Request::Blame {},
        Verb::Shutdown(action) => Request::Shutdown { action },
        Verb::Reexec => Request::Reexec {},
        Verb::IsSystemRunning { wait, quiet } => {
            return crate::system::is_system_running(cmd.socket, wait, quiet);
        }
        Verb::ListDependencies {
            units,
            relation,
            all,
            plain,
        } => {
            let how = render::TreeStyle { all, plain };
            return crate::system::list_dependencies(cmd.socket, &units, relation, how, cmd.json);
        }
        Verb::ListJobs => Request::ListJobs {},
        Verb::GetDefault => Request::GetDefault {},
        Verb::SetDefault { unit, .. } => Request::SetDefault { unit },
        Verb::Edit {
            unit,
            full,
            drop_in,
            runtime,
            force,
        } => {
            let edit = crate::edit::Edit {
                unit,
                full,
                drop_in,
                runtime,
                force,
            };
            return crate::edit::run(cmd.socket, &edit);
        }
        Verb::Revert { units } => Request::Revert { units },
    };
    let (path, stream) = match connect(cmd.socket, std::slice::from_ref(&request)) {
        Ok(connected) => connected,
        Err(exit) => return exit,
    };
    let follow = matches!(request, Request::Log { follow: true, .. });
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut first = true;
    // A follower's last line printed: where to go on after a `vigil reexec`.
    let mut last: Option<LogLine> = None;
    let mut asked = 1;
    loop {
        let reply = match read_reply(&mut reader, &mut line) {
            Ok(Some(reply)) => reply,
            Ok(None) if first => match ask_the_next_manager(&path, &request, &mut asked) {
                Some(again) => {
                    reader = again;
                    continue;
                }
                None => return no_reply(),
            },
            Ok(None) if follow => match refollow(&path, &request, &mut last, cmd.json) {
                Some(again) => {
                    reader = again;
                    continue;
                }
                None => return Exit::Unreachable,
            },
            Ok(None) => return Exit::Success,
            Err(exit) => return exit,
        };
        match &reply.result {
            Some(Body::Log { lines }) => last = lines.last().cloned().or(last),
            Some(Body::LogLine { line }) => last = Some(line.clone()),
            _ => {}
        }
        let exit = match &reply.result {
            Some(Body::Units { units }) if only_failed => {
                let failed: Vec<_> = units
                    .iter()
                    .filter(|u| u.state == "failed")
                    .cloned()
                    .collect();
                render::list(&failed, cmd.json);
                Exit::Success
            }
            Some(Body::Show { units, manager }) if let Some((opts, array)) = &show_options => {
                match manager {
                    Some(m) => crate::show::manager(m, opts, cmd.json),
                    None => crate::show::units(units, opts, cmd.json, *array),
                }
                Exit::Success
            }
            Some(Body::Jobs { jobs, .. }) if let Some(quiet) = enabled_quiet => {
                is_enabled(jobs, quiet)
            }
            Some(Body::UnitFiles { files }) if let Some(states) = &file_states => {
                let files: Vec<_> = (files.iter())
                    .filter(|f| states.is_empty() || states.contains(&f.state))
                    .cloned()
                    .collect();
                render::unit_files(&files, cmd.json);
                // As systemctl's: nothing listed is a failure.
                match files.is_empty() {
                    true => Exit::Failed,
                    false => Exit::Success,
                }
            }
            Some(Body::Jobs { jobs, changes }) if enabling => {
                if !install_quiet {
                    said_changes(changes);
                }
                for job in jobs.iter().filter(|j| j.ok) {
                    if let Some(notice) = &job.reason {
                        eprintln!("vigil: {notice}");
                    }
                }
                show(&reply, cmd.json, false)
            }
            Some(Body::Jobs { jobs, .. }) if stopping => {
                let exit = show(&reply, cmd.json, false);
                if exit == Exit::Success {
                    warn_still_activatable(&path, jobs);
                }
                exit
            }
            // As journalctl says it (not with -f, nor to a JSON reader).
            Some(Body::Log { lines }) if lines.is_empty() && !follow && !cmd.json => {
                outln!("-- No entries --");
                Exit::Success
            }
            // Nothing matched: still the array asked for (`null` for the
            // object of one name), and the error.
            None if cmd.json
                && is_status
                && (reply.error.as_ref()).is_some_and(|e| e.code == ErrorCode::NoSuchUnit) =>
            {
                match status_array {
                    true => render::status(&[], true, true),
                    false => outln!("null"),
                }
                show(&reply, cmd.json, status_array)
            }
            _ => show(&reply, cmd.json, status_array),
        };
        if matches!(reply.result, Some(Body::Reexecuting)) {
            return wait_reexec(reader, &path);
        }
        // A follower whose stdout fails has no one to follow for.
        if !follow || exit != Exit::Success || crate::out::failed() {
            return exit;
        }
        first = false;
    }
}

/// Connects to the manager (at `socket`, else where it is found) and sends
/// `requests`, their ids 1, 2, ...; an error is said, and is the exit code.
pub(crate) fn connect(
    socket: Option<std::path::PathBuf>,
    requests: &[Request],
) -> Result<(std::path::PathBuf, UnixStream), Exit> {
    let uid = vigil_platform::getuid();
    let path = match vigil_proto::client_socket_path(socket, uid) {
        Ok(path) => path,
        Err(why) => {
            eprintln!("vigil: {why}");
            return Err(Exit::Unreachable);
        }
    };
    let stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) => {
            // A directory or a file given for the socket said "Connection refused".
            let kind = std::fs::metadata(&path).ok().map(|m| m.file_type());
            let why = match kind {
                Some(t) if t.is_dir() => "a directory, not a socket".to_string(),
                Some(t) if !std::os::unix::fs::FileTypeExt::is_socket(&t) => {
                    "not a socket".to_string()
                }
                _ => e.to_string(),
            };
            eprintln!(
                "vigil: cannot reach the manager at {}: {why}",
                path.display()
            );
            return Err(Exit::Unreachable);
        }
    };
    // A question is answered at once: a manager that does not answer one in
    // QUERY_TIMEOUT is stopped or stuck, and a script's `vigil is-active`
    // must not hang with it (systemctl gives up after its bus's 25 s too).
    // What waits for jobs, and a follower, wait as long as they take.
    let follows = requests.iter().any(|r| {
        matches!(
            r,
            Request::Log { follow: true, .. } | Request::SystemState { wait: true }
        )
    });
    if !follows && !requests.iter().any(Request::is_mutating) {
        let _ = stream.set_read_timeout(Some(query_timeout()));
    }
    send(&stream, 1, requests)?;
    Ok((path, stream))
}

/// How long a question (`list`, `status`, `is-active`...) waits for the
/// manager's answer to begin, or to go on: `$VIGIL_QUERY_TIMEOUT` seconds
/// (a positive number, fractions too), else 25.
fn query_timeout() -> std::time::Duration {
    let set = std::env::var("VIGIL_QUERY_TIMEOUT").ok();
    set.and_then(|v| std::time::Duration::try_from_secs_f64(v.trim().parse().ok()?).ok())
        .filter(|t| !t.is_zero())
        .unwrap_or(std::time::Duration::from_secs(25))
}

/// Sends `requests` on `stream`, their ids `first`, `first` + 1, ...
fn send(stream: &UnixStream, first: u64, requests: &[Request]) -> Result<(), Exit> {
    let mut out = Vec::new();
    for (id, request) in (first..).zip(requests) {
        let line = vigil_proto::encode(&Envelope {
            version: VERSION,
            id,
            request: request.clone(),
        });
        // Said here, with what to do, rather than the manager's bare refusal.
        let size = line.len().saturating_sub(1);
        if size > vigil_proto::MAX_REQUEST {
            eprintln!(
                "vigil: the request is {size} bytes, more than the {} the manager reads: \
                 name fewer units at once, or a pattern ('worker@*')",
                vigil_proto::MAX_REQUEST
            );
            return Err(Exit::Usage);
        }
        out.extend(line);
    }
    if let Err(e) = (&*stream).write_all(&out) {
        // A manager that refused the connection (too many from this user)
        // said why before it closed it: that, rather than a broken pipe.
        match refusal(stream) {
            Some(why) => refused(&why),
            None => eprintln!("vigil: cannot send to the manager: {e}"),
        }
        return Err(Exit::Unreachable);
    }
    Ok(())
}

/// Says why the manager refused the connection (its reply of id 0).
fn refused(why: &str) {
    let why = why.strip_prefix("connection refused: ").unwrap_or(why);
    eprintln!("vigil: the manager refused the connection: {why}");
}

/// The next reply on the connection; None at its end. A read that fails is
/// said (exit 5), as is a reply this vigil does not understand (exit 1).
pub(crate) fn read_reply(
    reader: &mut BufReader<UnixStream>,
    line: &mut Vec<u8>,
) -> Result<Option<Reply>, Exit> {
    line.clear();
    match reader.read_until(b'\n', line) {
        Ok(0) => Ok(None),
        // Cut by the connection's end (a manager that re-executes closes a
        // follower's connection wherever its replies stand): the end.
        Ok(_) if line.last() != Some(&b'\n') => Ok(None),
        Ok(_) => match parse_reply(line)? {
            // Every request has an id from 1: 0 with `not-allowed` is the
            // refusal of the connection, whatever was asked (exit 5, as the
            // manager out of reach).
            Reply {
                id: 0,
                error: Some(e),
                ..
            } if e.code == ErrorCode::NotAllowed => {
                refused(&e.message);
                Err(Exit::Unreachable)
            }
            reply => Ok(Some(reply)),
        },
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            eprintln!(
                "vigil: the manager did not answer within {} s: is it stopped (SIGSTOP) or stuck?",
                query_timeout().as_secs_f64()
            );
            Err(Exit::Unreachable)
        }
        Err(e) => {
            eprintln!("vigil: reading the reply failed: {e}");
            Err(Exit::Unreachable)
        }
    }
}

/// How many managers a job is asked of: the first, and its successors
/// under vigil-init when each goes before it answers.
const JOB_ASKS: u32 = 5;

/// A start or stop whose manager went (killed, crashed) before it answered.
/// Under vigil-init the next manager takes the job over from the saved
/// state, and the control socket, kept by vigil-init, takes connections
/// meanwhile: the request is asked again of it, to wait for the same end. A
/// restart is asked as a start (its stop happened or is in the state), so
/// that nothing restarts twice; other requests are not asked again (a
/// reload would run twice). None when there is no one to ask: the socket
/// refuses (no vigil-init kept it) or is gone.
fn ask_the_next_manager(
    path: &std::path::Path,
    request: &Request,
    asked: &mut u32,
) -> Option<BufReader<UnixStream>> {
    let again = match request {
        Request::Start { .. } | Request::Stop { .. } => request.clone(),
        Request::Restart { units, no_block } => Request::Start {
            units: units.clone(),
            no_block: *no_block,
        },
        _ => return None,
    };
    if *asked >= JOB_ASKS {
        return None;
    }
    let stream = UnixStream::connect(path).ok()?;
    *asked += 1;
    eprintln!("vigil: the manager went before it answered; asking the next one");
    send(&stream, 1, &[again]).ok()?;
    Some(BufReader::new(stream))
}

pub(crate) fn no_reply() -> Exit {
    eprintln!("vigil: the manager closed the connection without a reply");
    Exit::Unreachable
}

/// One reply line; one this vigil does not understand is said (exit 1).
fn parse_reply(line: &[u8]) -> Result<Reply, Exit> {
    serde_json::from_slice(line).map_err(|e| {
        eprintln!("vigil: the manager sent a reply this vigil does not understand: {e}");
        Exit::Failed
    })
}

/// The error a manager sent on a connection it closed, if it sent one.
fn refusal(stream: &UnixStream) -> Option<String> {
    let mut line = Vec::new();
    BufReader::new(stream).read_until(b'\n', &mut line).ok()?;
    let reply: vigil_proto::Reply = serde_json::from_slice(&line).ok()?;
    reply.error.map(|e| e.message)
}

/// How many `status` requests [`status_each`] sends before it reads the
/// replies.
const IS_BATCH: usize = 256;

/// The `status` of each name, without log lines: one request per name, on
/// one connection, so that a reply says which units a name found (for
/// `is-active`, `is-failed` and `cat`). They go [`IS_BATCH`] at a time,
/// each batch's replies read before the next is sent: a manager holds back
/// the requests of a client that does not read its replies, and one that
/// sent them all first waited for ever. Each reply is in its name's place.
fn status_each(socket: Option<std::path::PathBuf>, names: &[String]) -> Result<Vec<Reply>, Exit> {
    let requests: Vec<Request> = (names.iter())
        .map(|name| Request::Status {
            units: vec![name.clone()],
            lines: 0,
        })
        .collect();
    let first = requests
        .get(..IS_BATCH.min(requests.len()))
        .unwrap_or_default();
    let (_, stream) = connect(socket, first)?;
    let mut replies: Vec<Option<Reply>> = names.iter().map(|_| None).collect();
    let mut reader = match stream.try_clone() {
        Ok(s) => BufReader::new(s),
        Err(e) => {
            eprintln!("vigil: cannot read from the manager: {e}");
            return Err(Exit::Unreachable);
        }
    };
    let mut line = Vec::new();
    let mut sent = first.len();
    let mut answered = 0;
    while answered < replies.len() {
        if answered == sent {
            let next = requests.get(sent..(sent + IS_BATCH).min(requests.len()));
            let next = next.unwrap_or_default();
            send(&stream, sent as u64 + 1, next)?;
            sent += next.len();
        }
        let Some(reply) = read_reply(&mut reader, &mut line)? else {
            return Err(no_reply());
        };
        let at = usize::try_from(reply.id)
            .ok()
            .and_then(|id| id.checked_sub(1));
        if let Some(slot) = at.and_then(|i| replies.get_mut(i))
            && slot.replace(reply).is_none()
        {
            answered += 1;
        }
    }
    Ok(replies.into_iter().flatten().collect())
}

/// After `stop`, as systemctl warns: a service stopped that a listening
/// socket unit starts again at its next connection.
fn warn_still_activatable(path: &std::path::Path, jobs: &[vigil_proto::JobResult]) {
    let active = |reply: &Reply| match &reply.result {
        Some(Body::Status { units, .. }) => (units.iter())
            .filter(|u| is_active(u))
            .map(|u| u.name.clone())
            .collect(),
        _ => Vec::new(),
    };
    let stopped: Vec<String> = (jobs.iter())
        .filter(|j| j.ok && j.unit.ends_with(".service"))
        .map(|j| j.unit.clone())
        .collect();
    let Ok(replies) = status_each(Some(path.to_path_buf()), &stopped) else {
        return;
    };
    for reply in &replies {
        let Some(Body::Status { units, .. }) = &reply.result else {
            continue;
        };
        for unit in units.iter().filter(|u| !u.triggered_by.is_empty()) {
            let Ok(sockets) = status_each(Some(path.to_path_buf()), &unit.triggered_by) else {
                return;
            };
            let listening: Vec<String> = sockets.iter().flat_map(active).collect();
            if !listening.is_empty() {
                eprintln!(
                    "Warning: Stopping {}, but it can still be activated by:\n  {}",
                    unit.name,
                    listening.join("\n  ")
                );
            }
        }
    }
}

/// `is-active` / `is-failed`: each unit's state on a line of its own in
/// systemctl's words (unless `quiet`), in the order the names were given (a
/// pattern: a line per unit it matches), so that scripts can pair them by
/// position; the answer in the exit code, as systemctl's: is-active
/// succeeds when at least one unit is active or reloading, is-failed when
/// at least one has failed.
fn is(socket: Option<std::path::PathBuf>, names: &[String], failed: bool, quiet: bool) -> Exit {
    let replies = match status_each(socket, names) {
        Ok(replies) => replies,
        Err(exit) => return exit,
    };
    let mut states: Vec<&str> = Vec::new();
    for (name, reply) in names.iter().zip(&replies) {
        match (&reply.result, &reply.error) {
            (Some(Body::Status { units, not_found }), _) => {
                states.extend(units.iter().map(|u| crate::show::active_state(&u.state)));
                // A unit that does not exist is inactive, as systemctl says.
                states.extend(not_found.iter().map(|_| "inactive"));
            }
            // A line per unit a pattern matches: none for none (it printed
            // `inactive`, as for a unit).
            (None, Some(e))
                if e.code == ErrorCode::NoSuchUnit && vigil_units::glob::is_glob(name) => {}
            (None, Some(e)) if e.code == ErrorCode::NoSuchUnit => states.push("inactive"),
            _ => return show(reply, false, false),
        }
    }
    if !quiet {
        for state in &states {
            outln!("{state}");
        }
    }
    // As systemctl's: a unit reloading is active (it serves meanwhile).
    let wanted: &[&str] = if failed {
        &["failed"]
    } else {
        &["active", "reloading"]
    };
    match (failed, states.iter().any(|s| wanted.contains(s))) {
        (_, true) => Exit::Success,
        (false, false) => Exit::NotActive,
        (true, false) => Exit::Failed,
    }
}

/// `cat`: each unit's file and the drop-ins applied over it, in the order
/// applied, each under a `# PATH` line and apart from the one before by an
/// empty line, as systemctl cat prints them. The manager says which files
/// (`status`: the ones it read); they are read here, with the caller's own
/// rights, as systemctl reads them. A template, which is no unit the
/// manager has, is found in the manager's unit path as it is now, as
/// systemctl cat finds one ([`vigil_units::load::template_files`]). A name
/// that finds no file (no such unit, a masked one, a unit built in) is
/// said, and the exit code is 1, as systemctl's `No files found for
/// NAME.`; the others are printed.
fn cat(socket: Option<std::path::PathBuf>, names: &[String]) -> Exit {
    let replies = match status_each(socket.clone(), names) {
        Ok(replies) => replies,
        Err(exit) => return exit,
    };
    let mut exit = Exit::Success;
    let mut shown = std::collections::HashSet::new();
    let mut first = true;
    let mut unit_path: Option<Vec<std::path::PathBuf>> = None;
    for (name, reply) in names.iter().zip(&replies) {
        let name = match vigil_units::glob::is_glob(name) {
            true => name.clone(),
            false => vigil_units::name::normalize(name),
        };
        let units = match (&reply.result, &reply.error) {
            (Some(Body::Status { units, not_found }), _) => {
                for why in not_found {
                    no_files(&name, why);
                    exit = Exit::Failed;
                }
                units
            }
            (None, Some(e))
                if e.code == ErrorCode::NoSuchUnit && vigil_units::name::is_template(&name) =>
            {
                let dirs = match &unit_path {
                    Some(dirs) => dirs,
                    None => match manager_unit_path(socket.clone()) {
                        Ok(dirs) => unit_path.insert(dirs),
                        Err(code) => return code,
                    },
                };
                use vigil_units::load::TemplateFiles;
                match vigil_units::load::template_files(dirs, &name) {
                    TemplateFiles::Found {
                        name: found,
                        file,
                        dropins,
                    } => {
                        if shown.insert(found) {
                            let files: Vec<String> = std::iter::once(&file)
                                .chain(&dropins)
                                .map(|p| p.display().to_string())
                                .collect();
                            if !print_files(&files, &mut first, None) {
                                exit = Exit::Failed;
                            }
                        }
                    }
                    TemplateFiles::Masked { name, link } => {
                        no_files(
                            &name,
                            &format!("unit {name} is masked ({})", link.display()),
                        );
                        exit = Exit::Failed;
                    }
                    TemplateFiles::NotFound { name } => {
                        no_files(&name, &format!("no such unit: {name}"));
                        exit = Exit::Failed;
                    }
                }
                continue;
            }
            (None, Some(e)) if e.code == ErrorCode::NoSuchUnit => {
                for why in e.message.lines() {
                    no_files(&name, why);
                }
                exit = Exit::Failed;
                continue;
            }
            _ => return show(reply, false, false),
        };
        for unit in units.iter().filter(|u| shown.insert(u.name.clone())) {
            let files: Vec<String> = unit.source.iter().chain(&unit.drop_ins).cloned().collect();
            if files.is_empty() {
                eprintln!("vigil: no files found for {}: it is built in", unit.name);
                exit = Exit::Failed;
                continue;
            }
            // What is printed is the files as they are now, not what is
            // loaded: said first, as systemctl cat says it.
            let outdated = unit.need_daemon_reload.then(|| {
                format!(
                    "# Warning: {} changed on disk, the version vigil has loaded is outdated.\n\
                     # This output shows the current version of the unit's original fragment and drop-in files.\n\
                     # If fragments or drop-ins were added or removed, they are not properly reflected in this output.\n\
                     # Run 'vigil sync' to reload units.",
                    unit.name
                )
            });
            if !print_files(&files, &mut first, outdated.as_deref()) {
                exit = Exit::Failed;
            }
        }
    }
    exit
}

/// Prints each of `files` under `# PATH`, after an empty line unless it is
/// the `first` printed, with `warning` on stderr before them; false when one
/// could not be read (said).
fn print_files(files: &[String], first: &mut bool, warning: Option<&str>) -> bool {
    let mut ok = true;
    let mut out = crate::out::stdout();
    for (i, path) in files.iter().enumerate() {
        if !std::mem::take(first) {
            let _ = writeln!(out);
        }
        if let Some(warning) = warning.filter(|_| i == 0) {
            let _ = out.flush();
            eprintln!("{warning}");
        }
        let _ = writeln!(out, "# {path}");
        match std::fs::read(path) {
            Ok(text) => {
                let _ = out.write_all(&text);
                if !text.is_empty() && !text.ends_with(b"\n") {
                    let _ = writeln!(out);
                }
            }
            Err(e) => {
                // After what came before it, not ahead of it.
                let _ = out.flush();
                eprintln!("vigil: cannot read {path}: {e}");
                ok = false;
            }
        }
    }
    ok
}

/// The unit path the manager reads (its `show`'s UnitPath: the
/// configuration directories, and the generators' outputs).
fn manager_unit_path(socket: Option<std::path::PathBuf>) -> Result<Vec<std::path::PathBuf>, Exit> {
    let request = Request::Show { units: Vec::new() };
    let (_, stream) = connect(socket, std::slice::from_ref(&request))?;
    let mut line = Vec::new();
    let reply = read_reply(&mut BufReader::new(stream), &mut line)?.ok_or_else(no_reply)?;
    match reply.result {
        Some(Body::Show {
            manager: Some(m), ..
        }) => Ok(m.unit_path.into_iter().map(Into::into).collect()),
        _ if reply.error.is_some() => Err(show(&reply, false, false)),
        _ => {
            eprintln!("vigil: the manager did not say its unit path");
            Err(Exit::Failed)
        }
    }
}

/// A name of `cat` that found no file, and why (the manager's words).
fn no_files(name: &str, why: &str) {
    match why.strip_prefix("no such unit: ") {
        Some(unit) if unit == name => eprintln!("vigil: no files found for {name}: no such unit"),
        _ => eprintln!("vigil: no files found for {name}: {why}"),
    }
}

/// What `enable`, `disable`, `mask`, `unmask`, `edit` and `revert` changed,
/// said as systemctl says it, on stderr as its log does (`systemctl enable x 2>/dev/null` is
/// quiet, and so is this).
pub(crate) fn said_changes(changes: &[FileChange]) {
    for change in changes {
        match change {
            FileChange::Symlink { path, target } => {
                eprintln!("Created symlink {path} \u{2192} {target}.")
            }
            FileChange::Unlink { path } => eprintln!("Removed \"{path}\"."),
            FileChange::Write { path } => {
                eprintln!("Successfully installed edited file '{path}'.")
            }
        }
    }
}

/// `is-enabled`: each unit's word on a line of its own (unless `quiet`);
/// success when at least one is enabled (or static), as systemctl's.
fn is_enabled(jobs: &[vigil_proto::JobResult], quiet: bool) -> Exit {
    if !quiet {
        for j in jobs {
            outln!("{}", j.state);
        }
    }
    if jobs.iter().any(|j| j.ok) {
        Exit::Success
    } else {
        Exit::Failed
    }
}

/// Whether the unit is active: running, exited with RemainAfterExit, or
/// reloading.
fn is_active(u: &vigil_proto::UnitStatus) -> bool {
    matches!(u.state.as_str(), "running" | "exited" | "reloading")
}

/// Success when every unit is active ([`is_active`]), as `vigil status`
/// answers.
fn all_active(units: &[vigil_proto::UnitStatus]) -> Exit {
    if units.iter().all(is_active) {
        Exit::Success
    } else {
        Exit::NotActive
    }
}

/// Lines a follower that has printed none yet asks for again after a `vigil
/// reexec` (one that has asks for every line since its last), and what one
/// asks a manager without `since_us` for.
const REFOLLOW_BACKLOG: usize = 10_000;

/// A followed log whose connection closed. The manager re-executed (its
/// socket stays open across the exec; the new image answers): the follow
/// goes on, printing the new image's backlog from the line after `last`.
/// The manager exited (its socket is gone, or refuses): the log ends, said.
fn refollow(
    path: &std::path::Path,
    request: &Request,
    last: &mut Option<LogLine>,
    json: bool,
) -> Option<BufReader<UnixStream>> {
    let Request::Log { unit, .. } = request else {
        return None;
    };
    // From where it was: every kept line since the last one printed (a
    // follower far behind lost what the last REFOLLOW_BACKLOG lines did
    // not reach back to, though the rings still had it). A manager from
    // before `since_us` refuses the field: then the last lines, as before.
    let mut since_us = last.as_ref().map(|l| l.time_us);
    let again = |since_us: Option<u64>| Envelope {
        version: VERSION,
        id: 1,
        request: Request::Log {
            unit: unit.clone(),
            lines: since_us.is_none().then_some(REFOLLOW_BACKLOG),
            follow: true,
            since_us,
            until_us: None,
        },
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        // Refused or gone: the manager has exited.
        let Ok(stream) = UnixStream::connect(path) else {
            break;
        };
        // A listener nobody accepts on (a manager stuck in its exit) must not
        // hold the follower past the deadline.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(std::time::Duration::from_millis(1))));
        let mut line = Vec::new();
        let mut reader = BufReader::new(stream);
        let backlog = reader
            .get_ref()
            .write_all(&vigil_proto::encode(&again(since_us)))
            .ok()
            .and_then(|()| reader.read_until(b'\n', &mut line).ok())
            .and_then(|_| serde_json::from_slice::<Reply>(&line).ok());
        if let Some(Reply { error: Some(e), .. }) = &backlog
            && e.code == ErrorCode::BadRequest
            && since_us.take().is_some()
        {
            continue;
        }
        let Some(Reply {
            result: Some(Body::Log { lines }),
            ..
        }) = backlog
        else {
            // An exiting manager's socket, still open: try until it is gone.
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        };
        let same = |a: &LogLine, b: &LogLine| {
            (a.time_us, &a.unit, &a.stream, &a.line) == (b.time_us, &b.unit, &b.stream, &b.line)
        };
        // After the last line printed; when the new image's backlog does
        // not reach back to it, from the first line newer than it, and the
        // gap is said.
        let from = match last.as_ref() {
            Some(l) => match lines.iter().rposition(|x| same(x, l)) {
                Some(i) => i + 1,
                None => {
                    let newer = lines.iter().position(|x| x.time_us > l.time_us);
                    if newer == Some(0) {
                        eprintln!(
                            "vigil: lines may be missing here: the manager re-executed while this follower was behind"
                        );
                    }
                    newer.unwrap_or(lines.len())
                }
            },
            None => 0,
        };
        let new = lines.get(from..).unwrap_or_default();
        render::log(new, json);
        *last = new.last().cloned().or(last.take());
        let _ = reader.get_ref().set_read_timeout(None);
        return Some(reader);
    }
    eprintln!("vigil: the manager has gone: the log ends here");
    None
}

/// After `reexec` was accepted: the old image closes this connection when it
/// execs; then the new one answers on the same socket (connections made
/// meanwhile wait in its backlog).
fn wait_reexec(mut reader: BufReader<UnixStream>, path: &std::path::Path) -> Exit {
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
    // The exec failed: the manager says why before it closes the connection.
    let failed = rest.split(|&b| b == b'\n').find_map(|line| {
        serde_json::from_slice::<Reply>(line)
            .ok()
            .filter(|r| r.error.is_some())
    });
    if let Some(reply) = failed {
        return show(&reply, false, false);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(Pong { version, pid, .. }) = ping(path) {
            outln!("vigild {version} (pid {pid}) is running again");
            return Exit::Success;
        }
        if std::time::Instant::now() >= deadline {
            eprintln!("vigil: the manager did not answer within 30 s of re-executing");
            return Exit::Unreachable;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Prints a reply; `status_array`: a `--json` status is an array even of
/// one unit.
pub(crate) fn show(reply: &Reply, json: bool, status_array: bool) -> Exit {
    if let Some(err) = &reply.error {
        // One line each: a message may name several things (every name of a
        // request that found none).
        for line in err.message.lines() {
            eprintln!("vigil: {line}");
        }
        return match err.code {
            ErrorCode::NoSuchUnit => Exit::NoSuchUnit,
            ErrorCode::BadRequest
            | ErrorCode::TooLarge
            | ErrorCode::UnsupportedVersion
            | ErrorCode::PermissionDenied
            | ErrorCode::NotAllowed
            | ErrorCode::Failed => Exit::Failed,
        };
    }
    let Some(body) = &reply.result else {
        eprintln!("vigil: the manager sent an empty reply");
        return Exit::Failed;
    };
    match body {
        Body::Pong { version, pid, .. } => {
            outln!("vigild {version} (pid {pid})");
            Exit::Success
        }
        Body::Units { units } => {
            render::list(units, json);
            Exit::Success
        }
        Body::Status { units, not_found } => {
            render::status(units, json, status_array);
            // As systemctl status: the units found are shown, a name that
            // found none is said, and the exit code tells.
            for why in not_found {
                eprintln!("vigil: {why}");
            }
            match not_found.is_empty() {
                true => all_active(units),
                false => Exit::NoSuchUnit,
            }
        }
        Body::Jobs { jobs, .. } => {
            let mut exit = Exit::Success;
            for job in jobs {
                if job.state == "not-found" {
                    // The others were acted on, as systemctl does; the exit
                    // code says a name was wrong.
                    let why = job.reason.as_deref().unwrap_or("no such unit");
                    eprintln!("vigil: {why}");
                    exit = Exit::NoSuchUnit;
                } else if !job.ok {
                    match &job.reason {
                        Some(r) => eprintln!("vigil: {}: {} ({r})", job.unit, job.state),
                        None => eprintln!("vigil: {}: {}", job.unit, job.state),
                    }
                    if exit == Exit::Success {
                        exit = Exit::Failed;
                    }
                }
            }
            exit
        }
        Body::Log { lines } => {
            render::log(lines, json);
            Exit::Success
        }
        Body::UnitFiles { files } => {
            render::unit_files(files, json);
            Exit::Success
        }
        Body::LogLine { line } => {
            render::log(std::slice::from_ref(line), json);
            Exit::Success
        }
        Body::Synced {
            added,
            removed,
            changed,
            errors,
        } => {
            outln!(
                "added {}, removed {}, changed {}",
                added.len(),
                removed.len(),
                changed.len()
            );
            for (what, list) in [("added", added), ("removed", removed), ("changed", changed)] {
                for name in list {
                    outln!("  {what} {name}");
                }
            }
            // As systemctl daemon-reload, the rest is loaded: exit 0; but the
            // broken files are named (their units are `failed (load error)`).
            for e in errors {
                eprintln!("vigil: {e}");
            }
            Exit::Success
        }
        Body::Graph { dot } => {
            out!("{dot}");
            Exit::Success
        }
        Body::Blame { entries } => {
            render::blame(entries, json);
            Exit::Success
        }
        Body::Show { units, manager } => {
            let opts = crate::show::Options::default();
            match manager {
                Some(m) => crate::show::manager(m, &opts, json),
                None => crate::show::units(units, &opts, json, true),
            }
            Exit::Success
        }
        Body::ShuttingDown => {
            outln!("vigild is stopping every unit and will exit");
            Exit::Success
        }
        Body::Reexecuting => {
            outln!("vigild is re-executing");
            Exit::Success
        }
        Body::SystemState { state } => {
            outln!("{state}");
            match state.as_str() {
                "running" => Exit::Success,
                _ => Exit::Failed,
            }
        }
        Body::Dependencies { units, .. } => {
            crate::render::print_json(units);
            Exit::Success
        }
        Body::JobQueue { jobs } => {
            render::jobs(jobs, json);
            Exit::Success
        }
        Body::DefaultTarget { unit } => {
            outln!("{unit}");
            Exit::Success
        }
        Body::EditPlan { path, .. } => {
            outln!("{path}");
            Exit::Success
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: `vigil kill` always sent `whom`, which a manager from
    /// before it refuses (`unknown field`): an upgrade's new CLI could not
    /// signal a unit of the manager still running.
    #[test]
    fn kill_names_whom_only_for_the_control_process() {
        let line = |whom| {
            let env = Envelope {
                version: VERSION,
                id: 1,
                request: kill_request("a".into(), 15, whom),
            };
            String::from_utf8(vigil_proto::encode(&env)).unwrap()
        };
        assert!(!line(KillWhom::All).contains("whom"));
        assert!(line(KillWhom::All).contains(r#""group":true"#));
        assert!(!line(KillWhom::Main).contains("whom"));
        assert!(!line(KillWhom::Main).contains("group"));
        assert!(line(KillWhom::Control).contains(r#""whom":"control""#));
    }
}
