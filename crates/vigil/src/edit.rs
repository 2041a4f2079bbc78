//! `vigil edit`: systemctl edit's editing session. The manager says where
//! the edit goes and which files the unit has (`edit` without a text); the
//! editor runs here, with the terminal, on a temporary copy (never on the
//! file itself); what is kept of it is sent back, and the manager writes it
//! and reads the configuration again. Files are read here with the caller's
//! own rights, as `cat` reads them; nothing here writes outside the
//! temporary directory.

use std::io::{BufReader, ErrorKind, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use vigil_proto::{Body, Reply, Request};

use crate::Exit;
use crate::client::{connect, no_reply, read_reply, said_changes, show};

/// systemd's marker lines: the text between them becomes the drop-in.
const START: &str =
    "### Anything between here and the comment below will become the contents of the drop-in file";
const END: &str = "### Edits below this comment will be discarded";

/// What `vigil edit` was asked.
pub struct Edit {
    pub unit: String,
    pub full: bool,
    pub drop_in: Option<String>,
    pub runtime: bool,
    pub force: bool,
}

impl Edit {
    fn request(&self, text: Option<String>) -> Request {
        Request::Edit {
            unit: self.unit.clone(),
            full: self.full,
            drop_in: self.drop_in.clone(),
            runtime: self.runtime,
            force: self.force,
            text,
        }
    }
}

/// One request on a connection of its own, and its reply.
fn ask(socket: Option<PathBuf>, request: Request) -> Result<Reply, Exit> {
    let (_, stream) = connect(socket, std::slice::from_ref(&request))?;
    let mut line = Vec::new();
    match read_reply(&mut BufReader::new(stream), &mut line)? {
        Some(reply) => Ok(reply),
        None => Err(no_reply()),
    }
}

/// A private directory for the temporary copy (0700, made new, so no one
/// else can put a file or a link where the editor writes), removed with
/// what is in it when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let base = std::env::temp_dir();
        let mut last = None;
        for attempt in 0..16u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = base.join(format!(
                "vigil-edit.{}.{nanos:x}{attempt}",
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The text the editor gets for a drop-in, as systemctl lays it out: where
/// it goes, the marker, the drop-in's text (the cursor's place when empty),
/// the closing marker, then each of the unit's files as comments.
fn drop_in_text(path: &str, current: &str, files: &[String]) -> String {
    let mut text = format!("### Editing {path}\n{START}\n\n");
    match current.trim() {
        "" => text.push('\n'),
        kept => {
            text.push_str(kept);
            text.push('\n');
        }
    }
    text.push('\n');
    text.push_str(END);
    text.push('\n');
    for file in files {
        // One that cannot be read is left out, as systemctl leaves it.
        let Ok(shown) = std::fs::read_to_string(file) else {
            continue;
        };
        let commented = shown.trim().replace('\n', "\n# ");
        text.push_str(&format!("\n\n### {file}\n# {commented}\n"));
    }
    text
}

/// What an edited text becomes: what is between the markers (all of it
/// when they are gone, as for a full copy), blank lines and spaces trimmed
/// at both ends, a newline at the end; "" when nothing is left.
fn kept(text: &str) -> String {
    let from = text.find(START).map_or(0, |at| at + START.len());
    let rest = text.get(from..).unwrap_or_default();
    let rest = match rest.find(END) {
        Some(at) => rest.get(..at).unwrap_or_default(),
        None => rest,
    };
    match rest.trim() {
        "" => String::new(),
        t => format!("{t}\n"),
    }
}

/// The editor's command: `$SYSTEMD_EDITOR`, `$EDITOR` or `$VISUAL` (the
/// first set, split at spaces: `EDITOR="code --wait"`), then `editor`,
/// `nano`, `vim`, `vi`, as systemctl tries them.
fn editors() -> Vec<Vec<String>> {
    let chosen = ["SYSTEMD_EDITOR", "EDITOR", "VISUAL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()));
    let chosen = chosen.map(|e| e.split_whitespace().map(String::from).collect());
    (chosen.into_iter())
        .chain(["editor", "nano", "vim", "vi"].map(|e| vec![e.to_string()]))
        .collect()
}

/// Runs the first editor there is on `file`, with the terminal; Err says
/// why nothing is to be written (it failed, or none could be run).
fn run_editor(file: &Path) -> Result<(), String> {
    for argv in editors() {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        match Command::new(program).args(args).arg(file).status() {
            Ok(status) if status.success() => return Ok(()),
            Ok(status) => {
                let how = match status.code() {
                    Some(code) => format!("exit status {code}"),
                    None => status.to_string(),
                };
                return Err(format!("the editor {program} failed ({how})"));
            }
            // Not there: the next one, as systemctl goes on.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot run the editor {program}: {e}")),
        }
    }
    Err("no editor found: set $SYSTEMD_EDITOR, $EDITOR or $VISUAL".to_string())
}

/// `vigil edit`: plan, edit a temporary copy, send what is kept.
pub fn run(socket: Option<PathBuf>, edit: &Edit) -> Exit {
    let plan = match ask(socket.clone(), edit.request(None)) {
        Ok(reply) => reply,
        Err(exit) => return exit,
    };
    let Some(Body::EditPlan {
        path,
        original,
        files,
        ..
    }) = &plan.result
    else {
        return match show(&plan, false, false) {
            // A manager from before `edit` would answer otherwise.
            Exit::Success => Exit::Failed,
            exit => exit,
        };
    };
    let current = match original.as_deref().map(std::fs::read_to_string) {
        None => String::new(),
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            let from = original.as_deref().unwrap_or_default();
            eprintln!("vigil: cannot read {from}: {e}");
            return Exit::Failed;
        }
    };
    let text = match edit.full {
        true => current.clone(),
        false => drop_in_text(path, &current, files),
    };
    let scratch = match Scratch::new() {
        Ok(scratch) => scratch,
        Err(e) => {
            eprintln!("vigil: cannot make a temporary directory: {e}");
            return Exit::Failed;
        }
    };
    // Its own name, so the editor knows the kind of file.
    let name = Path::new(path).file_name().unwrap_or("unit".as_ref());
    let temp = scratch.0.join(name);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!("vigil: cannot write {}: {e}", temp.display());
        return Exit::Failed;
    }
    if let Err(why) = run_editor(&temp) {
        eprintln!("vigil: {why}; {path} was not changed");
        return Exit::Failed;
    }
    let edited = match std::fs::read_to_string(&temp) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("vigil: cannot read the edited copy {}: {e}", temp.display());
            return Exit::Failed;
        }
    };
    drop(scratch);
    let new = kept(&edited);
    // Nothing changed: nothing to write (a new drop-in left empty, or a copy
    // of the vendor's file saved as it was, is none to make either).
    if new == kept(&current) {
        return Exit::Success;
    }
    // An empty unit file would mask the unit; an emptied drop-in is removed.
    if new.is_empty() && edit.full {
        eprintln!("vigil: editing {path} canceled: the text is empty");
        return Exit::Success;
    }
    let reply = match ask(socket, edit.request(Some(new))) {
        Ok(reply) => reply,
        Err(exit) => return exit,
    };
    let Some(Body::Jobs { jobs, changes }) = &reply.result else {
        return show(&reply, false, false);
    };
    said_changes(changes);
    for job in jobs {
        for line in job.reason.iter().flat_map(|r| r.lines()) {
            eprintln!("vigil: {} does not load now: {line}", job.unit);
        }
    }
    Exit::Success
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_between_the_markers_is_kept() {
        let text = drop_in_text("/etc/vigil/a.service.d/override.conf", "", &[]);
        assert!(text.starts_with("### Editing /etc/vigil/a.service.d/override.conf\n### Anything"));
        assert_eq!(kept(&text), "");
        let edited = text.replace(
            &format!("{START}\n\n"),
            &format!("{START}\n\n[Service]\nEnvironment=A=1\n"),
        );
        let edited = format!("{edited}\n[Service]\nEnvironment=B=2\n");
        assert_eq!(kept(&edited), "[Service]\nEnvironment=A=1\n");
        // The current drop-in is what the editor starts with.
        let again = drop_in_text("p", "[Service]\nEnvironment=A=1", &[]);
        assert_eq!(kept(&again), "[Service]\nEnvironment=A=1\n");
        // No markers (a full copy): all of it, trimmed.
        assert_eq!(kept("\n\n[Unit]\nX=1\n\n\n"), "[Unit]\nX=1\n");
    }

    #[test]
    fn the_units_files_are_shown_as_comments() {
        let dir = std::env::temp_dir().join(format!("vigil-edit-shown-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.service");
        std::fs::write(&file, "[Service]\n\nExecStart=/bin/a\n").unwrap();
        let file = file.display().to_string();
        let gone = dir.join("gone.conf").display().to_string();
        let text = drop_in_text("p", "", &[file.clone(), gone]);
        let tail = text.split(END).nth(1).unwrap();
        assert_eq!(
            tail,
            format!("\n\n\n### {file}\n# [Service]\n# \n# ExecStart=/bin/a\n")
        );
        assert_eq!(kept(&text), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
