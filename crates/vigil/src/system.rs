//! The verbs about the manager as a whole: `is-system-running`, told by the
//! exit code as systemctl's, and `list-dependencies`, drawn here from the
//! units and edges the manager sends.

use std::io::BufReader;

use vigil_proto::{Body, DependencyRelation, Request};

use crate::Exit;
use crate::client::{connect, no_reply, read_reply, show};
use crate::out::outln;
use crate::render;

/// `is-system-running`: the manager's state on a line (unless `quiet`),
/// exit 0 only for `running`, else 1, as systemctl (EXIT_FAILURE for every
/// other state). A manager out of reach is `offline`, one whose answer
/// cannot be had `unknown` (both exit 1, as systemctl's). `wait`: the
/// manager answers once the boot is done; no deadline then, as for a job.
pub fn is_system_running(socket: Option<std::path::PathBuf>, wait: bool, quiet: bool) -> Exit {
    let said = |state: &str| {
        if !quiet {
            outln!("{state}");
        }
    };
    let (_, stream) = match connect(socket, &[Request::SystemState { wait }]) {
        Ok(connected) => connected,
        Err(_) => {
            said("offline");
            return Exit::Failed;
        }
    };
    let mut line = Vec::new();
    let reply = match read_reply(&mut BufReader::new(stream), &mut line) {
        Ok(Some(reply)) => reply,
        Ok(None) => {
            no_reply();
            said("unknown");
            return Exit::Failed;
        }
        Err(_) => {
            said("unknown");
            return Exit::Failed;
        }
    };
    match &reply.result {
        Some(Body::SystemState { state }) => {
            said(state);
            match state.as_str() {
                "running" => Exit::Success,
                _ => Exit::Failed,
            }
        }
        // An error (a manager from before this verb: `unknown variant`) is
        // said on stderr; the state is not known.
        _ => {
            let _ = show(&reply, false, false);
            said("unknown");
            Exit::Failed
        }
    }
}

/// `list-dependencies`: a tree for each name, apart by an empty line, as
/// systemctl's; `--json`: the units and edges the manager sent (an array of
/// them per name when several were given).
pub fn list_dependencies(
    socket: Option<std::path::PathBuf>,
    names: &[String],
    relation: Option<DependencyRelation>,
    style: render::TreeStyle,
    json: bool,
) -> Exit {
    let requests: Vec<Request> = (names.iter())
        .map(|unit| Request::ListDependencies {
            unit: unit.clone(),
            relation,
        })
        .collect();
    let (_, stream) = match connect(socket, &requests) {
        Ok(connected) => connected,
        Err(exit) => return exit,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut exit = Exit::Success;
    let mut trees = Vec::new();
    for _ in names {
        let reply = match read_reply(&mut reader, &mut line) {
            Ok(Some(reply)) => reply,
            Ok(None) => return no_reply(),
            Err(exit) => return exit,
        };
        match reply.result {
            Some(Body::Dependencies { root, units }) => trees.push((root, units)),
            _ => exit = show(&reply, false, false),
        }
    }
    if json {
        match trees.as_slice() {
            [(_, units)] => render::print_json(units),
            many => render::print_json(&many.iter().map(|(_, u)| u).collect::<Vec<_>>()),
        }
        return exit;
    }
    for (i, (root, units)) in trees.iter().enumerate() {
        if i > 0 {
            outln!("");
        }
        render::dependencies(root, units, style);
    }
    exit
}
