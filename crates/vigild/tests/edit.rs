//! `vigil edit` and `vigil revert`, end to end: the real vigild on its own
//! unit directories (the admin's first, a vendor's after it) and socket,
//! driven by the real `vigil`, whose editor is a small shell script each test
//! writes ($EDITOR): it records what it was given and changes it as an
//! administrator would. What lands on disk is checked, and what the manager
//! then runs.

mod harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use harness::{Manager, TempDir};

const START: &str =
    "### Anything between here and the comment below will become the contents of the drop-in file";
const END: &str = "### Edits below this comment will be discarded";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A manager whose unit path is its own directory (the admin's, where edits
/// go), then `lib` (the vendor's) holding `units`.
fn with_vendor_units(units: &[(&str, &str)]) -> (Manager, TempDir) {
    let lib = TempDir::new("lib");
    for (name, text) in units {
        harness::write_file(&lib.path().join(name), text);
    }
    let dir = lib.path().display().to_string();
    let m = Manager::start_with(&[("default.target", "[Unit]\n")], &["--config-dir", &dir]);
    (m, lib)
}

/// An editor for the tests: a script in its own directory that copies the
/// file it is given to `seen` (and its path to `seen.path`), then runs
/// `action` on it (`$f`); `new.txt` there holds the text an action puts in.
struct Editor {
    dir: TempDir,
}

impl Editor {
    fn new(action: &str, new_text: &str) -> Editor {
        let dir = TempDir::new("editor");
        let d = dir.path().display();
        harness::write_file(&dir.path().join("new.txt"), new_text);
        let script = format!(
            "#!/bin/sh\nfor f; do :; done\ncp \"$f\" {d}/seen\nprintf '%s' \"$f\" > {d}/seen.path\n{action}\n"
        );
        let path = dir.path().join("editor");
        harness::write_executable(&path, &script);
        Editor { dir }
    }

    /// Puts `new.txt` between the markers (in place of what was there) and
    /// a line below the closing one, which is to be discarded.
    fn replacing(new_text: &str) -> Editor {
        let action = format!(
            "{{ sed -n '1,2p' \"$f\"; cat \"$(dirname \"$0\")/new.txt\"; \
             sed -n '/^{END}/,$p' \"$f\"; echo 'Environment=BELOW=1'; }} > \"$f.new\" \
             && mv \"$f.new\" \"$f\""
        );
        Editor::new(&action, new_text)
    }

    /// Appends `new.txt` to the file (a full copy's edit).
    fn appending(new_text: &str) -> Editor {
        Editor::new("cat \"$(dirname \"$0\")/new.txt\" >> \"$f\"", new_text)
    }

    /// Changes the file, then fails.
    fn failing() -> Editor {
        Editor::new("echo 'Environment=NO=1' >> \"$f\"\nexit 1", "")
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("editor")
    }

    /// What the editor was last given, if it ran.
    fn seen(&self) -> Option<String> {
        fs::read_to_string(self.dir.path().join("seen")).ok()
    }

    fn seen_path(&self) -> String {
        fs::read_to_string(self.dir.path().join("seen.path")).unwrap_or_default()
    }
}

/// `vigil ARGS...` with `editor` as $EDITOR (and no other editor variable).
fn vigil_edit(m: &Manager, editor: &Editor, args: &[&str]) -> Output {
    Command::new(harness::vigil_bin())
        .arg("--socket")
        .arg(&m.socket)
        .args(args)
        .env("EDITOR", editor.path())
        .env_remove("SYSTEMD_EDITOR")
        .env_remove("VISUAL")
        .stdin(Stdio::null())
        .output()
        .expect("run vigil")
}

fn show(m: &Manager, unit: &str, prop: &str) -> String {
    m.vigil_ok(&["show", unit, "-p", prop, "--value"])
        .trim_end()
        .to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A service that writes its $A to `out`, then sleeps.
fn writes_a(out: &Path) -> String {
    format!(
        "[Unit]\nDescription=web\n\n[Service]\nExecStart=/bin/sh -c 'echo \"A=$A\" > {}; exec sleep 1000'\n",
        out.display()
    )
}

/// The default edit: the editor gets a temporary file (not the drop-in's
/// path) with systemd's markers and the unit's file as comments below; what
/// is between the markers, and only that, becomes
/// `web.service.d/override.conf` in the admin's directory; the manager reads
/// it at once (no `vigil sync`), and the service runs with it.
#[test]
fn edit_writes_the_kept_text_as_a_drop_in_and_the_manager_runs_it() {
    let out = TempDir::new("out");
    let written = out.path().join("a");
    let (m, lib) = with_vendor_units(&[("web.service", &writes_a(&written))]);
    let ed = Editor::replacing("[Service]\nEnvironment=A=edited\n");
    let result = vigil_edit(&m, &ed, &["edit", "web"]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result));
    let drop_in = m.config.join("web.service.d/override.conf");
    assert_eq!(
        stderr(&result),
        format!(
            "Successfully installed edited file '{}'.\n",
            drop_in.display()
        )
    );
    assert_eq!(read(&drop_in), "[Service]\nEnvironment=A=edited\n");
    let seen = ed.seen().expect("the editor ran");
    let vendor = lib.path().join("web.service");
    let expected_head = format!("### Editing {}\n{START}\n", drop_in.display());
    assert!(seen.starts_with(&expected_head), "{seen}");
    assert!(seen.contains(END), "{seen}");
    let below = seen.split(END).nth(1).unwrap_or_default();
    assert!(
        below.contains(&format!("### {}\n# [Unit]\n", vendor.display())),
        "{seen}"
    );
    assert!(below.contains("\n# ExecStart=/bin/sh"), "{seen}");
    assert_ne!(ed.seen_path(), drop_in.display().to_string());
    assert!(
        !Path::new(&ed.seen_path()).exists(),
        "the temporary copy stays"
    );
    assert_eq!(show(&m, "web", "Environment"), "A=edited");
    assert_eq!(
        show(&m, "web", "DropInPaths"),
        drop_in.display().to_string()
    );
    m.vigil_ok(&["start", "web"]);
    harness::wait_until("the service writes its $A", || {
        fs::read_to_string(&written).is_ok_and(|t| t == "A=edited\n")
    });
    // The vendor's file is as it was.
    assert_eq!(read(&vendor), writes_a(&written));
}

/// Review finding: after `vigil edit` of a running unit, `show` listed the
/// new drop-in but `cat` and `status` did not (they showed the files the
/// running process started with); systemctl cat and status show the files
/// as loaded, the drop-in included, before the restart.
#[test]
fn cat_and_status_of_a_running_unit_show_the_drop_in_just_written() {
    let (m, _lib) = with_vendor_units(&[("web.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    m.vigil_ok(&["start", "web"]);
    let pid = m.main_pid("web.service");
    let ed = Editor::replacing("[Service]\nEnvironment=B=2\n");
    let result = vigil_edit(&m, &ed, &["edit", "web"]);
    assert_eq!(result.status.code(), Some(0), "{}", text(&result));
    let drop_in = m.config.join("web.service.d/override.conf");
    let cat = m.vigil_ok(&["cat", "web"]);
    assert!(
        cat.contains(&format!(
            "# {}\n[Service]\nEnvironment=B=2\n",
            drop_in.display()
        )),
        "{cat}"
    );
    let status = m.status_json("web.service");
    assert_eq!(
        status["drop_ins"][0],
        drop_in.display().to_string(),
        "{status}"
    );
    assert_eq!(m.main_pid("web.service"), pid, "not restarted by the edit");
}

/// A second edit starts from the drop-in's text (between the markers, and
/// not among the comments below); `--drop-in=NAME` edits `NAME.conf` beside
/// it, and both apply.
#[test]
fn edit_starts_from_the_current_drop_in_and_drop_in_names_another() {
    let (m, _lib) = with_vendor_units(&[("web.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    let first = Editor::replacing("[Service]\nEnvironment=A=1\n");
    vigil_edit(&m, &first, &["edit", "web"]);
    let second = Editor::replacing("[Service]\nEnvironment=A=1 B=2\n");
    let out = vigil_edit(&m, &second, &["edit", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let seen = second.seen().expect("the editor ran");
    let between = seen.split(START).nth(1).and_then(|s| s.split(END).next());
    assert_eq!(
        between.map(str::trim),
        Some("[Service]\nEnvironment=A=1"),
        "{seen}"
    );
    let override_conf = m.config.join("web.service.d/override.conf");
    assert_eq!(
        seen.matches(&override_conf.display().to_string()).count(),
        1,
        "{seen}"
    );
    let third = Editor::replacing("[Service]\nEnvironment=C=3\n");
    let out = vigil_edit(&m, &third, &["edit", "web", "--drop-in=limits"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let limits = m.config.join("web.service.d/limits.conf");
    assert_eq!(read(&limits), "[Service]\nEnvironment=C=3\n");
    // The other drop-in is shown to this one's editor, as a comment.
    let seen = third.seen().unwrap_or_default();
    let below = seen.split(END).nth(1).unwrap_or_default();
    assert!(
        below.contains(&format!(
            "### {}\n# [Service]\n# Environment=A=1 B=2",
            override_conf.display()
        )),
        "{seen}"
    );
    assert_eq!(show(&m, "web", "Environment"), "C=3 A=1 B=2");
    assert_eq!(
        show(&m, "web", "DropInPaths"),
        format!("{} {}", limits.display(), override_conf.display())
    );
}

/// An editor that exits non-zero changes nothing, whatever it did to its
/// copy: no drop-in, not even its directory; an existing one stays as it
/// was. Exit 1, said.
#[test]
fn an_editor_that_fails_changes_nothing() {
    let (m, _lib) = with_vendor_units(&[("web.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    let ed = Editor::failing();
    let out = vigil_edit(&m, &ed, &["edit", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("failed (exit status 1)"),
        "{}",
        text(&out)
    );
    assert!(ed.seen().is_some(), "the editor ran");
    assert!(!m.config.join("web.service.d").exists());
    let ok = Editor::replacing("[Service]\nEnvironment=A=1\n");
    vigil_edit(&m, &ok, &["edit", "web"]);
    let out = vigil_edit(&m, &ed, &["edit", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let drop_in = m.config.join("web.service.d/override.conf");
    assert_eq!(read(&drop_in), "[Service]\nEnvironment=A=1\n");
    let out = vigil_edit(&m, &ed, &["edit", "web", "--full"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!m.config.join("web.service").exists());
    assert_eq!(show(&m, "web", "Environment"), "A=1");
}

/// Emptying the text between the markers removes the drop-in, and its
/// directory when nothing else is in it, said as systemctl says it; the
/// manager no longer applies it.
#[test]
fn emptying_a_drop_in_removes_it() {
    let (m, _lib) = with_vendor_units(&[("web.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    vigil_edit(
        &m,
        &Editor::replacing("[Service]\nEnvironment=A=1\n"),
        &["edit", "web"],
    );
    assert_eq!(show(&m, "web", "Environment"), "A=1");
    let out = vigil_edit(&m, &Editor::replacing("\n\n"), &["edit", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = m.config.join("web.service.d");
    assert_eq!(
        stderr(&out),
        format!(
            "Removed \"{}\".\nRemoved \"{}\".\n",
            dir.join("override.conf").display(),
            dir.display()
        )
    );
    assert!(!dir.exists());
    assert_eq!(show(&m, "web", "Environment"), "");
    // An empty edit of a drop-in that is not there does nothing.
    let out = vigil_edit(&m, &Editor::replacing(""), &["edit", "web"]);
    assert_eq!(text(&out), "");
    assert!(!dir.exists());
}

/// `--full`: the editor gets the vendor's unit file as it is (no markers);
/// the edited copy goes to the admin's directory, where it takes precedence;
/// the vendor's file is left alone. The next --full edit is of the copy.
#[test]
fn full_edits_a_copy_that_takes_precedence_over_the_vendors_file() {
    let vendor_text = "[Unit]\nDescription=web\n\n[Service]\nExecStart=/bin/sleep 1000\n";
    let (m, lib) = with_vendor_units(&[("web.service", vendor_text)]);
    let ed = Editor::appending("Environment=FULL=1\n");
    let out = vigil_edit(&m, &ed, &["edit", "--full", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ed.seen().as_deref(), Some(vendor_text));
    let copy = m.config.join("web.service");
    assert_eq!(read(&copy), format!("{vendor_text}Environment=FULL=1\n"));
    assert_eq!(read(&lib.path().join("web.service")), vendor_text);
    assert_eq!(show(&m, "web", "FragmentPath"), copy.display().to_string());
    assert_eq!(show(&m, "web", "Environment"), "FULL=1");
    let again = Editor::appending("Environment=MORE=2\n");
    vigil_edit(&m, &again, &["edit", "--full", "web"]);
    assert_eq!(
        again.seen(),
        Some(format!("{vendor_text}Environment=FULL=1\n"))
    );
    assert_eq!(show(&m, "web", "Environment"), "FULL=1 MORE=2");
}

/// revert removes what the admin's directory holds for the unit: its drop-ins
/// (the directory with them), a full copy overriding the vendor's file, a
/// mask, each said; the vendor's file and the vendor's drop-in stay, and the
/// unit runs from them again. Nothing left to revert: nothing said, exit 0.
#[test]
fn revert_removes_overrides_and_the_mask_and_keeps_the_vendors_files() {
    let (m, lib) = with_vendor_units(&[
        ("web.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
        ("web.service.d/vendor.conf", "[Service]\nEnvironment=V=1\n"),
        ("other.service", "[Service]\nExecStart=/bin/sleep 1000\n"),
    ]);
    let drop_in = Editor::replacing("[Service]\nEnvironment=A=1\n");
    vigil_edit(&m, &drop_in, &["edit", "web"]);
    let full = Editor::appending("Environment=FULL=1\n");
    vigil_edit(&m, &full, &["edit", "web", "--full"]);
    assert_eq!(show(&m, "web", "Environment"), "FULL=1 A=1 V=1");
    // A masked unit is not edited: unmasked first, as systemctl asks.
    m.vigil_ok(&["mask", "-q", "other"]);
    let out = vigil_edit(&m, &drop_in, &["edit", "other"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("other.service is masked"),
        "{}",
        text(&out)
    );
    assert!(!m.config.join("other.service.d").exists());
    let out = m.vigil(&["revert", "web", "other"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let c = m.config.display();
    assert_eq!(
        stderr(&out),
        format!(
            "Removed \"{c}/web.service.d/override.conf\".\n\
             Removed \"{c}/web.service.d\".\n\
             Removed \"{c}/web.service\".\n\
             Removed \"{c}/other.service\".\n"
        )
    );
    assert!(lib.path().join("web.service").is_file());
    assert!(lib.path().join("web.service.d/vendor.conf").is_file());
    assert_eq!(show(&m, "web", "Environment"), "V=1");
    assert_eq!(
        show(&m, "web", "FragmentPath"),
        lib.path().join("web.service").display().to_string()
    );
    m.vigil_ok(&["start", "other"]);
    assert_eq!(m.state("other.service"), "running");
    let out = m.vigil(&["revert", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(text(&out), "");
}

/// A unit file only the admin's directory has is the unit itself: revert
/// leaves it (only its drop-ins go). A name nothing is known of is refused.
#[test]
fn revert_keeps_a_unit_that_has_no_vendor_file_and_refuses_an_unknown_name() {
    let (m, _lib) = with_vendor_units(&[]);
    harness::write_file(
        &m.config.join("own.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n",
    );
    m.vigil_ok(&["sync"]);
    vigil_edit(
        &m,
        &Editor::replacing("[Service]\nEnvironment=A=1\n"),
        &["edit", "own"],
    );
    let out = m.vigil(&["revert", "own"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(m.config.join("own.service").is_file());
    assert!(!m.config.join("own.service.d").exists());
    let out = m.vigil(&["revert", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("unit nope.service not found"),
        "{}",
        text(&out)
    );
}

/// A name with no unit file is refused before any editor runs, nothing
/// made; `--force` edits it all the same: with `--full`, a new unit file,
/// which the manager then has.
#[test]
fn a_name_without_a_unit_is_refused_unless_forced() {
    let (m, _lib) = with_vendor_units(&[]);
    let ed = Editor::appending("[Service]\nExecStart=/bin/sleep 1000\n");
    let out = vigil_edit(&m, &ed, &["edit", "new"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("unit new.service not found"),
        "{}",
        text(&out)
    );
    assert!(ed.seen().is_none(), "the editor ran");
    assert!(!m.config.join("new.service.d").exists());
    let out = vigil_edit(&m, &ed, &["edit", "new", "--full", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ed.seen().as_deref(), Some(""));
    assert_eq!(
        read(&m.config.join("new.service")),
        "[Service]\nExecStart=/bin/sleep 1000\n"
    );
    m.vigil_ok(&["start", "new"]);
    assert_eq!(m.state("new.service"), "running");
}

/// An instance's drop-in goes to its own directory (`w@x.service.d/`) and
/// applies to it alone; a template's (`w@.service.d/`) to every instance
/// (under another name: one of the same name is the instance's to override,
/// as in systemd).
#[test]
fn instances_and_templates_get_their_own_drop_in_directories() {
    let (m, lib) = with_vendor_units(&[("w@.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    let ed = Editor::replacing("[Service]\nEnvironment=ONLY=x\n");
    let out = vigil_edit(&m, &ed, &["edit", "w@x"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(ed.seen().unwrap_or_default().contains(&format!(
        "### {}\n",
        lib.path().join("w@.service").display()
    )));
    assert!(m.config.join("w@x.service.d/override.conf").is_file());
    let ed = Editor::replacing("[Service]\nEnvironment=ALL=1\n");
    let out = vigil_edit(&m, &ed, &["edit", "w@.service", "--drop-in", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(m.config.join("w@.service.d/all.conf").is_file());
    m.vigil_ok(&["start", "w@x", "w@y"]);
    assert_eq!(show(&m, "w@x", "Environment"), "ALL=1 ONLY=x");
    assert_eq!(show(&m, "w@y", "Environment"), "ALL=1");
}

/// `--runtime`: into the manager's runtime directory (its control socket's)
/// when its unit path has it, as root's /run/vigil; refused, before any
/// editor runs, when it has none. revert removes the runtime drop-in too.
#[test]
fn runtime_edits_go_to_the_runtime_directory_or_are_refused() {
    let (m, _lib) = with_vendor_units(&[("web.service", "[Service]\nExecStart=/bin/sleep 1000\n")]);
    let ed = Editor::replacing("[Service]\nEnvironment=RUN=1\n");
    let out = vigil_edit(&m, &ed, &["edit", "web", "--runtime"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("--runtime: this manager has no runtime directory on its unit path"),
        "{}",
        text(&out)
    );
    assert!(ed.seen().is_none(), "the editor ran");

    let run = TempDir::new("run");
    let lib = TempDir::new("lib");
    harness::write_file(
        &lib.path().join("web.service"),
        "[Service]\nExecStart=/bin/sleep 1000\n",
    );
    let socket = run.path().join("control.sock").display().to_string();
    let (r, l) = (
        run.path().display().to_string(),
        lib.path().display().to_string(),
    );
    let m = Manager::start_with(
        &[],
        &["--socket", &socket, "--config-dir", &r, "--config-dir", &l],
    );
    let out = vigil_edit(&m, &ed, &["edit", "web", "--runtime"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let drop_in = run.path().join("web.service.d/override.conf");
    assert_eq!(read(&drop_in), "[Service]\nEnvironment=RUN=1\n");
    assert_eq!(show(&m, "web", "Environment"), "RUN=1");
    let out = m.vigil(&["revert", "web"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("Removed \"{}\".", drop_in.display())),
        "{}",
        text(&out)
    );
    assert_eq!(show(&m, "web", "Environment"), "");
}
