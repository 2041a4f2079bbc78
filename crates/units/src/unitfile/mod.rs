//! systemd-style unit files: the validated layer that turns the raw entries of a
//! unit file and its drop-ins into a [`Unit`].
//!
//! Every directive's name, section and parser is defined once, in
//! [`DIRECTIVES`]; `vigil verify` and the daemon go through the same table.
//! Errors and warnings are collected with file:line and never stop the parse;
//! a unit is returned only when there was no error. This module never reads
//! files: the loader hands it the text.

pub mod exec;
pub mod known;
pub mod raw;
mod socket;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use exec::{ExecError, SplitError, Word, expand_exec_words, parse_exec, split_words};
pub use raw::RawEntry;
pub use socket::parse_listen;

use crate::model::{
    Condition, ConditionKind, CpuPolicy, Dependencies, DirectoryKind, EnvironmentFile,
    ExitStatusSet, FileMode, Format, Input, IoClass, KillMode, ListenKind, NotifyAccess, Output,
    Preserve, Resource, RestartPolicy, Service, ServiceType, TtyMode, Unit, UnitAction,
    UnitActionKind, UnitKind, WorkingDir, WorkingDirectory,
};
use crate::specifier::{self, SpecifierContext};
use crate::{Diagnostic, name, value};

/// One file's text with its path, as handed over by the loader.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

/// A unit name mentioned by a dependency directive, with where it was written,
/// so the loader can say "unit x referenced by a.service:3 not found".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    /// The directive it came from, e.g. `Requires`.
    pub directive: &'static str,
    pub path: Arc<Path>,
    pub line: u32,
}

impl Reference {
    /// Whether the reference pulls the unit in (or needs it loaded to act), as
    /// opposed to ordering or conflicting with it, which a missing unit satisfies.
    pub fn pulls(&self) -> bool {
        Reference::pulling(self.directive)
    }

    /// Whether a reference by `directive` needs the unit: without it the
    /// referring unit cannot start (`Requires=`, `BindsTo=`, `Requisite=`).
    pub fn needing(directive: &str) -> bool {
        matches!(directive, "Requires" | "BindsTo" | "Requisite")
    }

    /// Whether a reference by `directive` pulls the unit in (see [`Reference::pulls`]).
    pub fn pulling(directive: &str) -> bool {
        matches!(
            directive,
            "Requires" | "Wants" | "BindsTo" | "Requisite" | "PartOf" | "OnFailure" | "OnSuccess"
        )
    }
}

/// What parsing one unit produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The unit, when no error was found.
    pub unit: Option<Unit>,
    pub diagnostics: Vec<Diagnostic>,
    pub references: Vec<Reference>,
}

/// The sections a unit of this kind may have.
pub fn sections_for(kind: UnitKind) -> &'static [&'static str] {
    match kind {
        UnitKind::Service => &["Unit", "Service", "Install"],
        UnitKind::Target => &["Unit", "Install"],
        UnitKind::Socket => &["Unit", "Socket", "Install"],
    }
}

/// Parses the unit `name` (a full name such as `getty@tty1.service`) from its
/// main file and its drop-ins (already in the order they apply).
pub fn parse(
    name: &str,
    main: Source<'_>,
    dropins: &[Source<'_>],
    ctx: &SpecifierContext,
) -> Parsed {
    let Some(kind) = name::kind_of(name) else {
        return Parsed {
            unit: None,
            diagnostics: vec![Diagnostic::error(
                main.path,
                0,
                format!("{name}: vigil loads only .service, .socket and .target units"),
            )],
            references: Vec::new(),
        };
    };
    let sections = sections_for(kind);
    let mut diagnostics = Vec::new();
    let mut entries = Vec::new();
    for src in std::iter::once(&main).chain(dropins) {
        let (e, d) = raw::parse(src.path, src.text, sections);
        entries.extend(e);
        diagnostics.extend(d);
    }
    let mut unit = Unit::new(name, kind, Format::UnitFile);
    unit.source = Some(main.path.to_path_buf());
    let mut b = Builder {
        unit,
        service: Service::default(),
        ctx,
        diags: diagnostics,
        refs: Vec::new(),
        path: Arc::from(main.path),
        line: 0,
        key: String::new(),
        exec_start_lines: Vec::new(),
        timeout_start_set: false,
        type_set: false,
        type_dbus: false,
        timeout_abort: None,
        notify_access_set: false,
        restart_at: None,
        exec_start_failed: false,
        listen_failed: false,
        trigger_interval: None,
        trigger_burst: None,
        stdout_set: false,
    };
    for entry in &entries {
        b.apply(entry);
    }
    b.finish(main.path)
}

/// [`parse`] for a unit without drop-ins.
pub fn parse_str(name: &str, path: &Path, text: &str, ctx: &SpecifierContext) -> Parsed {
    parse(name, Source { path, text }, &[], ctx)
}

type Handler = fn(&mut Builder<'_>, &str) -> Result<(), String>;

/// One directive: the section it belongs in, its name, and its parser.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    pub section: &'static str,
    pub name: &'static str,
    handler: Handler,
}

const fn d(section: &'static str, name: &'static str, handler: Handler) -> Directive {
    Directive {
        section,
        name,
        handler,
    }
}

/// Every directive vigil implements.
pub static DIRECTIVES: &[Directive] = &[
    d("Unit", "Description", h_description),
    d("Unit", "Documentation", h_documentation),
    d("Unit", "After", |b, v| b.deps(v, |d| &mut d.after)),
    d("Unit", "Before", |b, v| b.deps(v, |d| &mut d.before)),
    d("Unit", "Requires", |b, v| b.deps(v, |d| &mut d.requires)),
    d("Unit", "Wants", |b, v| b.deps(v, |d| &mut d.wants)),
    d("Unit", "BindsTo", |b, v| b.deps(v, |d| &mut d.binds_to)),
    d("Unit", "PartOf", |b, v| b.deps(v, |d| &mut d.part_of)),
    d("Unit", "Requisite", |b, v| b.deps(v, |d| &mut d.requisite)),
    d("Unit", "Conflicts", |b, v| b.deps(v, |d| &mut d.conflicts)),
    d("Unit", "OnFailure", |b, v| b.deps(v, |d| &mut d.on_failure)),
    d("Unit", "OnSuccess", |b, v| b.deps(v, |d| &mut d.on_success)),
    d("Unit", "PropagatesReloadTo", |b, v| {
        b.deps(v, |d| &mut d.propagates_reload_to)
    }),
    d("Unit", "ReloadPropagatedFrom", |b, v| {
        b.deps(v, |d| &mut d.reload_propagated_from)
    }),
    d("Unit", "RefuseManualStart", |b, v| {
        b.unit.refuse_manual_start = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "RefuseManualStop", |b, v| {
        b.unit.refuse_manual_stop = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "StopWhenUnneeded", |b, v| {
        b.unit.stop_when_unneeded = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "IgnoreOnIsolate", |b, v| {
        b.unit.ignore_on_isolate = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "AllowIsolate", |b, v| {
        b.unit.allow_isolate = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "RequiresMountsFor", h_requires_mounts_for),
    d("Unit", "DefaultDependencies", |b, v| {
        b.unit.default_dependencies = bool_value(v)?;
        Ok(())
    }),
    d("Unit", "StartLimitIntervalSec", h_start_limit_interval),
    d("Unit", "StartLimitInterval", h_start_limit_interval),
    d("Unit", "StartLimitBurst", h_start_limit_burst),
    d("Unit", "SuccessAction", |b, v| {
        b.unit.success_action = unit_action(v)?;
        Ok(())
    }),
    d("Unit", "FailureAction", |b, v| {
        b.unit.failure_action = unit_action(v)?;
        Ok(())
    }),
    d("Unit", "SuccessActionExitStatus", |b, v| {
        b.unit.success_action_exit_status = action_exit_status(v)?;
        Ok(())
    }),
    d("Unit", "FailureActionExitStatus", |b, v| {
        b.unit.failure_action_exit_status = action_exit_status(v)?;
        Ok(())
    }),
    d("Service", "StartLimitInterval", h_start_limit_interval),
    d("Service", "StartLimitBurst", h_start_limit_burst),
    // The old place of FailureAction= (before systemd 236), still accepted there.
    d("Service", "FailureAction", |b, v| {
        b.unit.failure_action = unit_action(v)?;
        Ok(())
    }),
    d("Unit", "ConditionPathExists", |b, v| {
        b.condition(v, ConditionKind::PathExists, false)
    }),
    d("Unit", "ConditionPathIsDirectory", |b, v| {
        b.condition(v, ConditionKind::PathIsDirectory, false)
    }),
    d("Unit", "ConditionFileIsExecutable", |b, v| {
        b.condition(v, ConditionKind::FileIsExecutable, false)
    }),
    d("Unit", "ConditionDirectoryNotEmpty", |b, v| {
        b.condition(v, ConditionKind::DirectoryNotEmpty, false)
    }),
    d("Unit", "ConditionFileNotEmpty", |b, v| {
        b.condition(v, ConditionKind::FileNotEmpty, false)
    }),
    d("Unit", "ConditionPathExistsGlob", |b, v| {
        b.condition(v, ConditionKind::PathExistsGlob, false)
    }),
    d("Unit", "ConditionPathIsSymbolicLink", |b, v| {
        b.condition(v, ConditionKind::PathIsSymbolicLink, false)
    }),
    d("Unit", "ConditionPathIsMountPoint", |b, v| {
        b.condition(v, ConditionKind::PathIsMountPoint, false)
    }),
    d("Unit", "ConditionPathIsReadWrite", |b, v| {
        b.condition(v, ConditionKind::PathIsReadWrite, false)
    }),
    d("Unit", "ConditionNeedsUpdate", |b, v| {
        b.condition(v, ConditionKind::NeedsUpdate, false)
    }),
    d("Unit", "ConditionKernelCommandLine", |b, v| {
        b.condition(v, ConditionKind::KernelCommandLine, false)
    }),
    d("Unit", "ConditionVirtualization", |b, v| {
        b.condition(v, ConditionKind::Virtualization, false)
    }),
    d("Unit", "ConditionCapability", |b, v| {
        b.condition(v, ConditionKind::Capability, false)
    }),
    d("Unit", "ConditionACPower", |b, v| {
        b.condition(v, ConditionKind::ACPower, false)
    }),
    d("Unit", "ConditionHost", |b, v| {
        b.condition(v, ConditionKind::Host, false)
    }),
    d("Unit", "ConditionArchitecture", |b, v| {
        b.condition(v, ConditionKind::Architecture, false)
    }),
    d("Unit", "ConditionSecurity", |b, v| {
        b.condition(v, ConditionKind::Security, false)
    }),
    d("Unit", "ConditionUser", |b, v| {
        b.condition(v, ConditionKind::User, false)
    }),
    d("Unit", "ConditionGroup", |b, v| {
        b.condition(v, ConditionKind::Group, false)
    }),
    d("Unit", "ConditionEnvironment", |b, v| {
        b.condition(v, ConditionKind::Environment, false)
    }),
    d("Unit", "ConditionFirstBoot", |b, v| {
        b.condition(v, ConditionKind::FirstBoot, false)
    }),
    d("Unit", "ConditionKernelVersion", |b, v| {
        b.condition(v, ConditionKind::KernelVersion, false)
    }),
    d("Unit", "ConditionOSRelease", |b, v| {
        b.condition(v, ConditionKind::OSRelease, false)
    }),
    d("Unit", "ConditionMemory", |b, v| {
        b.condition(v, ConditionKind::Memory, false)
    }),
    d("Unit", "ConditionCPUs", |b, v| {
        b.condition(v, ConditionKind::CPUs, false)
    }),
    d("Unit", "ConditionFirmware", |b, v| {
        b.condition(v, ConditionKind::Firmware, false)
    }),
    d("Unit", "ConditionPathIsEncrypted", |b, v| {
        b.condition(v, ConditionKind::PathIsEncrypted, false)
    }),
    d("Unit", "ConditionControlGroupController", |b, v| {
        b.condition(v, ConditionKind::ControlGroupController, false)
    }),
    d("Unit", "ConditionCredential", |b, v| {
        b.condition(v, ConditionKind::Credential, false)
    }),
    d("Unit", "AssertPathExists", |b, v| {
        b.condition(v, ConditionKind::PathExists, true)
    }),
    d("Unit", "AssertPathIsDirectory", |b, v| {
        b.condition(v, ConditionKind::PathIsDirectory, true)
    }),
    d("Unit", "AssertFileIsExecutable", |b, v| {
        b.condition(v, ConditionKind::FileIsExecutable, true)
    }),
    d("Unit", "AssertDirectoryNotEmpty", |b, v| {
        b.condition(v, ConditionKind::DirectoryNotEmpty, true)
    }),
    d("Unit", "AssertFileNotEmpty", |b, v| {
        b.condition(v, ConditionKind::FileNotEmpty, true)
    }),
    d("Unit", "AssertPathExistsGlob", |b, v| {
        b.condition(v, ConditionKind::PathExistsGlob, true)
    }),
    d("Unit", "AssertPathIsSymbolicLink", |b, v| {
        b.condition(v, ConditionKind::PathIsSymbolicLink, true)
    }),
    d("Unit", "AssertPathIsMountPoint", |b, v| {
        b.condition(v, ConditionKind::PathIsMountPoint, true)
    }),
    d("Unit", "AssertPathIsReadWrite", |b, v| {
        b.condition(v, ConditionKind::PathIsReadWrite, true)
    }),
    d("Unit", "AssertNeedsUpdate", |b, v| {
        b.condition(v, ConditionKind::NeedsUpdate, true)
    }),
    d("Unit", "AssertKernelCommandLine", |b, v| {
        b.condition(v, ConditionKind::KernelCommandLine, true)
    }),
    d("Unit", "AssertVirtualization", |b, v| {
        b.condition(v, ConditionKind::Virtualization, true)
    }),
    d("Unit", "AssertCapability", |b, v| {
        b.condition(v, ConditionKind::Capability, true)
    }),
    d("Unit", "AssertACPower", |b, v| {
        b.condition(v, ConditionKind::ACPower, true)
    }),
    d("Unit", "AssertHost", |b, v| {
        b.condition(v, ConditionKind::Host, true)
    }),
    d("Unit", "AssertArchitecture", |b, v| {
        b.condition(v, ConditionKind::Architecture, true)
    }),
    d("Unit", "AssertSecurity", |b, v| {
        b.condition(v, ConditionKind::Security, true)
    }),
    d("Unit", "AssertUser", |b, v| {
        b.condition(v, ConditionKind::User, true)
    }),
    d("Unit", "AssertGroup", |b, v| {
        b.condition(v, ConditionKind::Group, true)
    }),
    d("Unit", "AssertEnvironment", |b, v| {
        b.condition(v, ConditionKind::Environment, true)
    }),
    d("Unit", "AssertFirstBoot", |b, v| {
        b.condition(v, ConditionKind::FirstBoot, true)
    }),
    d("Unit", "AssertKernelVersion", |b, v| {
        b.condition(v, ConditionKind::KernelVersion, true)
    }),
    d("Unit", "AssertOSRelease", |b, v| {
        b.condition(v, ConditionKind::OSRelease, true)
    }),
    d("Unit", "AssertMemory", |b, v| {
        b.condition(v, ConditionKind::Memory, true)
    }),
    d("Unit", "AssertCPUs", |b, v| {
        b.condition(v, ConditionKind::CPUs, true)
    }),
    d("Unit", "AssertFirmware", |b, v| {
        b.condition(v, ConditionKind::Firmware, true)
    }),
    d("Unit", "AssertPathIsEncrypted", |b, v| {
        b.condition(v, ConditionKind::PathIsEncrypted, true)
    }),
    d("Unit", "AssertControlGroupController", |b, v| {
        b.condition(v, ConditionKind::ControlGroupController, true)
    }),
    d("Unit", "AssertCredential", |b, v| {
        b.condition(v, ConditionKind::Credential, true)
    }),
    d("Service", "Type", h_type),
    d("Service", "BusName", h_bus_name),
    d("Service", "ExecStart", |b, v| b.exec(v, "ExecStart")),
    d("Service", "ExecCondition", |b, v| {
        b.exec(v, "ExecCondition")
    }),
    d("Service", "ExecStartPre", |b, v| b.exec(v, "ExecStartPre")),
    d("Service", "ExecStartPost", |b, v| {
        b.exec(v, "ExecStartPost")
    }),
    d("Service", "ExecStop", |b, v| b.exec(v, "ExecStop")),
    d("Service", "ExecStopPost", |b, v| b.exec(v, "ExecStopPost")),
    d("Service", "ExecReload", |b, v| b.exec(v, "ExecReload")),
    d("Service", "RemainAfterExit", |b, v| {
        b.service.remain_after_exit = bool_value(v)?;
        Ok(())
    }),
    d("Service", "Restart", h_restart),
    d("Service", "RestartSec", h_restart_sec),
    d("Service", "TimeoutStartSec", |b, v| {
        b.service.timeout_start = timeout_value(v)?;
        b.timeout_start_set = true;
        Ok(())
    }),
    d("Service", "TimeoutStopSec", |b, v| {
        b.service.timeout_stop = timeout_value(v)?;
        Ok(())
    }),
    d("Service", "TimeoutSec", |b, v| {
        let t = timeout_value(v)?;
        b.service.timeout_start = t;
        b.service.timeout_stop = t;
        b.timeout_start_set = true;
        Ok(())
    }),
    d("Service", "Environment", h_environment),
    d("Service", "EnvironmentFile", h_environment_file),
    d("Service", "PassEnvironment", |b, v| {
        environment_names(
            b,
            v,
            |s| &mut s.pass_environment,
            "variable name",
            is_env_name,
        )
    }),
    d("Service", "UnsetEnvironment", |b, v| {
        environment_names(
            b,
            v,
            |s| &mut s.unset_environment,
            "variable name or NAME=VALUE",
            |w| is_env_name(w) || w.split_once('=').is_some_and(|(k, _)| is_env_name(k)),
        )
    }),
    d("Service", "ExecSearchPath", h_exec_search_path),
    d("Service", "WorkingDirectory", h_working_directory),
    d("Service", "User", |b, v| {
        *b.service.user = b.account_name(v)?;
        Ok(())
    }),
    d("Service", "Group", |b, v| {
        *b.service.group = b.account_name(v)?;
        Ok(())
    }),
    d("Service", "KillMode", h_kill_mode),
    d("Service", "KillSignal", |b, v| {
        b.service.kill_signal = value::parse_signal(v).map_err(|e| e.to_string())?;
        Ok(())
    }),
    d("Service", "SendSIGKILL", |b, v| {
        b.service.send_sigkill = bool_value(v)?;
        Ok(())
    }),
    d("Service", "SuccessExitStatus", |b, v| {
        exit_status_value(v, &mut b.service.success_exit_status)
    }),
    d("Service", "RestartPreventExitStatus", |b, v| {
        exit_status_value(v, &mut b.service.restart_prevent_exit_status)
    }),
    d("Service", "RestartForceExitStatus", |b, v| {
        exit_status_value(v, &mut b.service.restart_force_exit_status)
    }),
    d("Service", "PIDFile", h_pid_file),
    d("Service", "GuessMainPID", |b, v| {
        b.service.guess_main_pid = bool_value(v)?;
        Ok(())
    }),
    d("Service", "WatchdogSec", |b, v| {
        b.service.watchdog = timeout_value(v)?;
        Ok(())
    }),
    d("Service", "WatchdogSignal", |b, v| {
        b.service.watchdog_signal = value::parse_signal(v).map_err(|e| e.to_string())?;
        Ok(())
    }),
    d("Service", "ReloadSignal", |b, v| {
        b.service.reload_signal = value::parse_signal(v).map_err(|e| e.to_string())?;
        Ok(())
    }),
    d("Service", "TimeoutAbortSec", |b, v| {
        // Empty: back to the default, TimeoutStopSec=.
        b.timeout_abort = optional(v, timeout_value)?;
        Ok(())
    }),
    d("Service", "NotifyAccess", h_notify_access),
    d("Service", "StandardOutput", |b, v| {
        b.service.stdout = b.output(v)?;
        b.stdout_set = true;
        Ok(())
    }),
    d("Service", "StandardError", |b, v| {
        b.service.stderr = b.output(v)?;
        Ok(())
    }),
    d("Service", "SyslogIdentifier", |b, v| {
        *b.service.syslog_identifier = if v.is_empty() { None } else { Some(b.spec(v)) };
        Ok(())
    }),
    d("Service", "UMask", |b, v| {
        b.service.umask = mode_value(v)?;
        Ok(())
    }),
    d("Service", "LimitCPU", |b, v| b.limit(Resource::Cpu, v)),
    d("Service", "LimitFSIZE", |b, v| b.limit(Resource::Fsize, v)),
    d("Service", "LimitDATA", |b, v| b.limit(Resource::Data, v)),
    d("Service", "LimitSTACK", |b, v| b.limit(Resource::Stack, v)),
    d("Service", "LimitCORE", |b, v| b.limit(Resource::Core, v)),
    d("Service", "LimitRSS", |b, v| b.limit(Resource::Rss, v)),
    d("Service", "LimitNOFILE", |b, v| {
        b.limit(Resource::Nofile, v)
    }),
    d("Service", "LimitAS", |b, v| b.limit(Resource::As, v)),
    d("Service", "LimitNPROC", |b, v| b.limit(Resource::Nproc, v)),
    d("Service", "LimitMEMLOCK", |b, v| {
        b.limit(Resource::Memlock, v)
    }),
    d("Service", "LimitLOCKS", |b, v| b.limit(Resource::Locks, v)),
    d("Service", "LimitSIGPENDING", |b, v| {
        b.limit(Resource::Sigpending, v)
    }),
    d("Service", "LimitMSGQUEUE", |b, v| {
        b.limit(Resource::Msgqueue, v)
    }),
    d("Service", "LimitNICE", |b, v| b.limit(Resource::Nice, v)),
    d("Service", "LimitRTPRIO", |b, v| {
        b.limit(Resource::Rtprio, v)
    }),
    d("Service", "LimitRTTIME", |b, v| {
        b.limit(Resource::Rttime, v)
    }),
    d("Service", "RuntimeDirectory", |b, v| {
        b.directories(DirectoryKind::Runtime, v)
    }),
    d("Service", "RuntimeDirectoryMode", |b, v| {
        b.service.directories_mut(DirectoryKind::Runtime).mode = mode_value(v)?;
        Ok(())
    }),
    d("Service", "StateDirectory", |b, v| {
        b.directories(DirectoryKind::State, v)
    }),
    d("Service", "StateDirectoryMode", |b, v| {
        b.service.directories_mut(DirectoryKind::State).mode = mode_value(v)?;
        Ok(())
    }),
    d("Service", "CacheDirectory", |b, v| {
        b.directories(DirectoryKind::Cache, v)
    }),
    d("Service", "CacheDirectoryMode", |b, v| {
        b.service.directories_mut(DirectoryKind::Cache).mode = mode_value(v)?;
        Ok(())
    }),
    d("Service", "LogsDirectory", |b, v| {
        b.directories(DirectoryKind::Logs, v)
    }),
    d("Service", "LogsDirectoryMode", |b, v| {
        b.service.directories_mut(DirectoryKind::Logs).mode = mode_value(v)?;
        Ok(())
    }),
    d("Service", "ConfigurationDirectory", |b, v| {
        b.directories(DirectoryKind::Configuration, v)
    }),
    d("Service", "ConfigurationDirectoryMode", |b, v| {
        b.service.directories_mut(DirectoryKind::Configuration).mode = mode_value(v)?;
        Ok(())
    }),
    d("Service", "RuntimeDirectoryPreserve", |b, v| {
        b.service.runtime_directory_preserve = match v {
            "restart" => Preserve::Restart,
            _ => match value::parse_bool(v) {
                Ok(true) => Preserve::Yes,
                Ok(false) => Preserve::No,
                Err(_) => return Err("expected yes, no or restart".into()),
            },
        };
        Ok(())
    }),
    d("Service", "SupplementaryGroups", |b, v| {
        if v.is_empty() {
            b.service.supplementary_groups.clear();
            return Ok(());
        }
        let expanded = b.spec(v);
        for word in expanded.split_whitespace() {
            if let Some(name) = b.account_name(word)? {
                b.service.supplementary_groups.push(name);
            }
        }
        Ok(())
    }),
    d("Service", "DynamicUser", |b, v| {
        b.service.dynamic_user = bool_value(v)?;
        Ok(())
    }),
    d("Service", "PermissionsStartOnly", |b, v| {
        b.service.permissions_start_only = bool_value(v)?;
        Ok(())
    }),
    d("Service", "Nice", |b, v| {
        b.service.nice = optional(v, |v| int_in(v, -20, 19))?;
        Ok(())
    }),
    d("Service", "OOMScoreAdjust", |b, v| {
        b.service.oom_score_adjust = optional(v, |v| int_in(v, -1000, 1000))?;
        Ok(())
    }),
    d("Service", "IOSchedulingClass", |b, v| {
        b.service.io_class = optional(v, |v| {
            let named = [
                ("none", IoClass::None),
                ("realtime", IoClass::Realtime),
                ("best-effort", IoClass::BestEffort),
                ("idle", IoClass::Idle),
            ];
            match int_in(v, 0, 3) {
                Ok(n) => named
                    .iter()
                    .map(|(_, c)| *c)
                    .find(|c| *c as i32 == n)
                    .ok_or_else(|| "expected 0..3".to_string()),
                Err(_) => choice(v, &named),
            }
        })?;
        Ok(())
    }),
    d("Service", "IOSchedulingPriority", |b, v| {
        b.service.io_priority = optional(v, |v| int_in(v, 0, 7).map(|n| n.unsigned_abs() as u8))?;
        Ok(())
    }),
    d("Service", "CPUSchedulingPolicy", |b, v| {
        b.service.cpu_policy = optional(v, |v| {
            choice(
                v,
                &[
                    ("other", CpuPolicy::Other),
                    ("batch", CpuPolicy::Batch),
                    ("idle", CpuPolicy::Idle),
                    ("fifo", CpuPolicy::Fifo),
                    ("rr", CpuPolicy::Rr),
                ],
            )
        })?;
        Ok(())
    }),
    d("Service", "CPUSchedulingPriority", |b, v| {
        b.service.cpu_priority = optional(v, |v| int_in(v, 0, 99).map(i32::unsigned_abs))?;
        Ok(())
    }),
    d("Service", "IgnoreSIGPIPE", |b, v| {
        b.service.ignore_sigpipe = bool_value(v)?;
        Ok(())
    }),
    d("Service", "NonBlocking", |b, v| {
        b.service.non_blocking = bool_value(v)?;
        Ok(())
    }),
    d("Service", "AmbientCapabilities", h_ambient_capabilities),
    d(
        "Service",
        "CapabilityBoundingSet",
        h_capability_bounding_set,
    ),
    d("Service", "StandardInput", h_standard_input),
    d("Service", "StandardInputText", |b, v| {
        let text = b.spec(v);
        b.service
            .stdin_data
            .extend_from_slice(unescape_c(&text)?.as_bytes());
        b.service.stdin_data.push(b'\n');
        Ok(())
    }),
    d("Service", "StandardInputData", |b, v| {
        if v.is_empty() {
            b.service.stdin_data.clear();
            return Ok(());
        }
        let bytes = value::decode_base64(v).map_err(|e| e.to_string())?;
        b.service.stdin_data.extend_from_slice(&bytes);
        Ok(())
    }),
    d("Service", "TTYPath", |b, v| {
        if v.is_empty() {
            *b.service.tty_path = None;
            return Ok(());
        }
        let p = b.spec(v);
        if !p.starts_with('/') {
            return Err(format!("path {p:?} is not absolute"));
        }
        *b.service.tty_path = Some(PathBuf::from(p));
        Ok(())
    }),
    d("Service", "Sockets", socket::h_sockets),
    d("Socket", "ListenStream", |b, v| {
        socket::h_listen(b, v, ListenKind::Stream)
    }),
    d("Socket", "ListenDatagram", |b, v| {
        socket::h_listen(b, v, ListenKind::Datagram)
    }),
    d("Socket", "ListenSequentialPacket", |b, v| {
        socket::h_listen(b, v, ListenKind::SequentialPacket)
    }),
    d("Socket", "ListenFIFO", |b, v| {
        socket::h_listen(b, v, ListenKind::Fifo)
    }),
    d("Socket", "ListenNetlink", |b, v| {
        socket::h_listen(b, v, ListenKind::Netlink)
    }),
    d("Socket", "SocketMode", |b, v| {
        b.socket().socket_mode = mode_value(v)?;
        Ok(())
    }),
    d("Socket", "DirectoryMode", |b, v| {
        b.socket().directory_mode = mode_value(v)?;
        Ok(())
    }),
    d("Socket", "SocketUser", |b, v| {
        let n = b.account_name(v)?;
        b.socket().user = n;
        Ok(())
    }),
    d("Socket", "SocketGroup", |b, v| {
        let n = b.account_name(v)?;
        b.socket().group = n;
        Ok(())
    }),
    d("Socket", "Service", socket::h_service),
    d("Socket", "Backlog", |b, v| {
        b.socket().backlog = v
            .parse()
            .map_err(|_| "expected a non-negative number".to_string())?;
        Ok(())
    }),
    d("Socket", "FileDescriptorName", socket::h_fd_name),
    d("Socket", "Accept", socket::h_accept),
    d("Socket", "MaxConnections", |b, v| {
        b.socket().max_connections = match v.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => return Err("expected a positive number".to_string()),
        };
        Ok(())
    }),
    d("Socket", "Symlinks", socket::h_symlinks),
    d(
        "Socket",
        "TriggerLimitIntervalSec",
        socket::h_trigger_interval,
    ),
    d("Socket", "TriggerLimitBurst", socket::h_trigger_burst),
    d("Socket", "ReceiveBuffer", |b, v| {
        b.socket().receive_buffer = Some(value::parse_size(v).map_err(|e| e.to_string())?);
        Ok(())
    }),
    d("Socket", "SendBuffer", |b, v| {
        b.socket().send_buffer = Some(value::parse_size(v).map_err(|e| e.to_string())?);
        Ok(())
    }),
    d("Socket", "RemoveOnStop", |b, v| {
        b.socket().remove_on_stop = bool_value(v)?;
        Ok(())
    }),
    d("Socket", "PassCredentials", |b, v| {
        b.socket().pass_credentials = bool_value(v)?;
        Ok(())
    }),
    d("Socket", "ReusePort", |b, v| {
        b.socket().reuse_port = bool_value(v)?;
        Ok(())
    }),
    d("Socket", "FreeBind", |b, v| {
        b.socket().free_bind = bool_value(v)?;
        Ok(())
    }),
    d("Socket", "BindIPv6Only", |b, v| {
        // systemd also takes a boolean: yes for ipv6-only (gpsd.socket).
        b.socket().bind_ipv6_only = match v {
            "default" => None,
            "both" => Some(false),
            "ipv6-only" => Some(true),
            _ => Some(
                bool_value(v)
                    .map_err(|_| "expected default, both, ipv6-only or a boolean".to_string())?,
            ),
        };
        Ok(())
    }),
    d("Install", "WantedBy", |b, v| {
        b.install_names(v, false, |i| &mut i.wanted_by)
    }),
    d("Install", "RequiredBy", |b, v| {
        b.install_names(v, false, |i| &mut i.required_by)
    }),
    d("Install", "Alias", |b, v| {
        b.install_names(v, true, |i| &mut i.alias)
    }),
    d("Install", "Also", |b, v| {
        b.install_names(v, false, |i| &mut i.also)
    }),
    d("Install", "DefaultInstance", h_default_instance),
];

/// The directive implemented under this section and name, if any.
pub fn directive(section: &str, key: &str) -> Option<&'static Directive> {
    // Sorted by (name, section) once: a scan of the whole table for each line
    // of a thousand units was a twentieth of the loading.
    static SORTED: std::sync::OnceLock<Vec<&'static Directive>> = std::sync::OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let mut all: Vec<&'static Directive> = DIRECTIVES.iter().collect();
        all.sort_by_key(|d| (d.name, d.section));
        all
    });
    let at = sorted
        .binary_search_by(|d| (d.name, d.section).cmp(&(key, section)))
        .ok()?;
    sorted.get(at).copied()
}

/// Whether systemd knows this directive but vigil does not enforce it.
pub fn is_not_enforced(section: &str, key: &str) -> bool {
    known::NOT_ENFORCED
        .iter()
        .any(|(s, k)| *s == section && *k == key)
}

struct Builder<'a> {
    unit: Unit,
    service: Service,
    ctx: &'a SpecifierContext,
    diags: Vec<Diagnostic>,
    refs: Vec<Reference>,
    // The entry being applied, for messages.
    path: Arc<Path>,
    line: u32,
    key: String,
    /// Where each `ExecStart=` command was written (a drop-in's own file).
    exec_start_lines: Vec<(Arc<Path>, u32)>,
    timeout_start_set: bool,
    /// Type= was given (without it and without ExecStart=, a service is a oneshot).
    type_set: bool,
    /// `Type=dbus` was given (needs `BusName=`, as in systemd).
    type_dbus: bool,
    /// `TimeoutAbortSec=` as written; unset follows TimeoutStopSec=.
    timeout_abort: Option<Option<Duration>>,
    notify_access_set: bool,
    /// Where the `Restart=` in effect was written.
    restart_at: Option<(Arc<Path>, u32)>,
    /// An `ExecStart=` line was rejected: do not also report that there is none.
    exec_start_failed: bool,
    /// A `Listen*=` line was rejected: do not also report that there is none.
    listen_failed: bool,
    /// `TriggerLimitIntervalSec=` and `TriggerLimitBurst=` as written (None:
    /// unset); their defaults depend on `Accept=`, known once all is read.
    trigger_interval: Option<Duration>,
    trigger_burst: Option<u32>,
    /// `StandardOutput=` was written: a tty stdin does not change its default.
    stdout_set: bool,
}

impl Builder<'_> {
    fn apply(&mut self, e: &RawEntry) {
        self.path = Arc::clone(&e.path);
        self.line = e.line;
        self.key.clone_from(&e.key);
        if let Some(dir) = directive(&e.section, &e.key) {
            if let Err(msg) = (dir.handler)(self, &e.value) {
                if e.key == "ExecStart" {
                    self.exec_start_failed = true;
                }
                if e.key.starts_with("Listen") {
                    self.listen_failed = true;
                }
                self.error(format!("{}={}: {msg}", e.key, e.value));
            }
            return;
        }
        if e.key.starts_with("X-") {
            return;
        }
        if is_not_enforced(&e.section, &e.key) {
            self.warn(format!("{}= {}", e.key, crate::diag::NOT_ENFORCED_YET));
            if !self.unit.not_enforced.contains(&e.key) {
                self.unit.not_enforced.push(e.key.clone());
            }
            return;
        }
        let elsewhere = DIRECTIVES
            .iter()
            .map(|d| (d.section, d.name))
            .chain(known::NOT_ENFORCED.iter().copied())
            .find(|(_, k)| *k == e.key);
        match elsewhere {
            Some((section, _)) => self.warn(format!(
                "{}= belongs in [{section}], not [{}]; ignoring",
                e.key, e.section
            )),
            None => self.warn(format!(
                "unknown key {}= in section [{}], ignoring",
                e.key, e.section
            )),
        }
    }

    fn error(&mut self, msg: String) {
        self.diags
            .push(Diagnostic::error(&*self.path, self.line, msg));
    }

    fn warn(&mut self, msg: String) {
        self.diags
            .push(Diagnostic::warning(&*self.path, self.line, msg));
    }

    /// Resolves specifiers, warning about unknown ones.
    fn spec(&mut self, v: &str) -> String {
        let fragment = self.unit.source.as_deref();
        let (out, unknown) = specifier::expand(v, &self.unit.name, fragment, self.ctx);
        for u in unknown {
            self.warn(format!(
                "unknown specifier %{} in {}=, kept as written",
                u.0, self.key
            ));
        }
        out
    }

    fn deps(
        &mut self,
        v: &str,
        pick: fn(&mut Dependencies) -> &mut Vec<String>,
    ) -> Result<(), String> {
        if v.is_empty() {
            // systemd.unit(5): "Dependencies (After=, etc.) cannot be reset to
            // an empty list"; only overriding the whole unit removes them.
            let key = self.key.clone();
            self.warn(format!(
                "{key}= empty: dependencies cannot be reset (as in systemd); ignored. \
                 To remove them, override the whole unit file"
            ));
            return Ok(());
        }
        let expanded = self.spec(v);
        let directive = DIRECTIVES
            .iter()
            .find(|d| d.section == "Unit" && d.name == self.key)
            .map_or("", |d| d.name);
        // A name that cannot be a unit's costs only itself, with a warning, as
        // systemd ignores such a dependency: a typo in a Wants= of the boot
        // target must not leave every unit of the boot unstarted.
        let key = self.key.clone();
        for word in expanded.split_whitespace() {
            let n = name::normalize(word);
            let bad = match name::validate(&n) {
                Err(e) => Some(e.to_string()),
                Ok(()) if name::is_template(&n) => {
                    Some(format!("{n} is a template and cannot be a dependency"))
                }
                Ok(()) => None,
            };
            if let Some(bad) = bad {
                self.warn(format!("{key}={word}: {bad}; that dependency is ignored"));
                continue;
            }
            // Duplicates are removed once, in `finish` (a check here would make a
            // long list quadratic).
            pick(&mut self.unit.deps).push(n.clone());
            self.refs.push(Reference {
                name: n,
                directive,
                path: self.path.clone(),
                line: self.line,
            });
        }
        Ok(())
    }

    /// A `Condition*=`/`Assert*=` line, as systemd's parser takes it: the `|`
    /// and `!` prefixes come off first, then specifiers are resolved in the
    /// rest. A line whose specifiers cannot be resolved, or whose path (for
    /// the path kinds) is not absolute, is dropped with a warning and the unit
    /// loads with its other conditions; a malformed value is an error.
    fn condition(&mut self, v: &str, kind: ConditionKind, assert: bool) -> Result<(), String> {
        if v.is_empty() {
            // systemd resets the whole list of conditions (or asserts), of every kind.
            let list = if assert {
                &mut self.unit.asserts
            } else {
                &mut self.unit.conditions
            };
            list.clear();
            return Ok(());
        }
        let (trigger, rest) = match v.strip_prefix('|') {
            Some(r) => (true, r.trim_start()),
            None => (false, v),
        };
        let (negate, rest) = match rest.strip_prefix('!') {
            Some(r) => (true, r.trim_start()),
            None => (false, rest),
        };
        let fragment = self.unit.source.as_deref();
        let (arg, unknown) = specifier::expand(rest, &self.unit.name, fragment, self.ctx);
        if let Some(u) = unknown.first() {
            self.warn(format!(
                "{}={v}: unknown specifier %{}, ignoring this line",
                self.key, u.0
            ));
            return Ok(());
        }
        if kind.takes_path() && !arg.starts_with('/') {
            self.warn(format!(
                "{}={v}: path {arg:?} is not absolute, ignoring this line",
                self.key
            ));
            return Ok(());
        }
        crate::condition::validate(kind, &arg)?;
        if let Some(warning) = crate::condition::lint(kind, &arg) {
            self.warn(format!("{}={v}: {warning}", self.key));
        }
        let cond = Condition {
            kind,
            trigger,
            negate,
            arg,
            line: self.line,
        };
        if assert {
            self.unit.asserts.push(cond);
        } else {
            self.unit.conditions.push(cond);
        }
        Ok(())
    }

    fn exec(&mut self, v: &str, directive: &'static str) -> Result<(), String> {
        let list = match directive {
            "ExecStart" => &mut self.service.exec_start,
            "ExecStartPre" => &mut self.service.exec_start_pre,
            "ExecCondition" => &mut self.service.exec_condition,
            "ExecStartPost" => &mut self.service.exec_start_post,
            "ExecStop" => &mut self.service.exec_stop,
            "ExecStopPost" => &mut self.service.exec_stop_post,
            _ => &mut self.service.exec_reload,
        };
        if v.is_empty() {
            list.clear();
            if directive == "ExecStart" {
                self.exec_start_lines.clear();
            }
            return Ok(());
        }
        let mut unknown = Vec::new();
        let (unit_name, ctx) = (self.unit.name.clone(), self.ctx);
        let fragment = self.unit.source.clone();
        let mut parsed = parse_exec(v, self.line, &mut |w: &str| {
            let (out, u) = specifier::expand(w, &unit_name, fragment.as_deref(), ctx);
            unknown.extend(u);
            out
        })
        .map_err(|e| e.to_string())?;
        if fragment.as_deref() != Some(&*self.path) {
            for c in &mut parsed.commands {
                c.dropin = Some(Arc::clone(&self.path));
            }
        }
        for u in unknown {
            self.warn(format!(
                "unknown specifier %{} in {directive}=, kept as written",
                u.0
            ));
        }
        for esc in &parsed.unknown_escapes {
            self.warn(format!(
                "unknown escape sequence {esc} in {directive}=, kept as written"
            ));
        }
        let list = match directive {
            "ExecStart" => {
                let at = (Arc::clone(&self.path), self.line);
                let lines = std::iter::repeat_n(at, parsed.commands.len());
                self.exec_start_lines.extend(lines);
                &mut self.service.exec_start
            }
            "ExecStartPre" => &mut self.service.exec_start_pre,
            "ExecCondition" => &mut self.service.exec_condition,
            "ExecStartPost" => &mut self.service.exec_start_post,
            "ExecStop" => &mut self.service.exec_stop,
            "ExecStopPost" => &mut self.service.exec_stop_post,
            _ => &mut self.service.exec_reload,
        };
        list.extend(parsed.commands);
        Ok(())
    }

    fn account_name(&mut self, v: &str) -> Result<Option<String>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        let n = self.spec(v);
        let ok = !n.is_empty()
            && n.len() <= 256
            && !n.starts_with('-')
            && n.chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, ':' | '/' | ','));
        if ok {
            Ok(Some(n))
        } else {
            Err(format!("{n:?} is not a valid user or group name"))
        }
    }

    fn output(&mut self, v: &str) -> Result<Output, String> {
        let file = |mode, path: &str, b: &mut Self| -> Result<Output, String> {
            let p = b.spec(path);
            if !p.starts_with('/') {
                return Err(format!("path {p:?} is not absolute"));
            }
            Ok(Output::File {
                path: PathBuf::from(p),
                mode,
            })
        };
        if let Some(p) = v.strip_prefix("file:") {
            return file(FileMode::Write, p, self);
        }
        if let Some(p) = v.strip_prefix("append:") {
            return file(FileMode::Append, p, self);
        }
        if let Some(p) = v.strip_prefix("truncate:") {
            return file(FileMode::Truncate, p, self);
        }
        Ok(match v {
            "inherit" => Output::Inherit,
            "null" => Output::Null,
            "journal" | "syslog" => Output::Log,
            // vigil's Console is the log plus the manager's stdout, prefixed.
            "journal+console" | "syslog+console" | "kmsg+console" => Output::Console,
            "kmsg" => Output::Kmsg,
            "tty" => Output::Tty,
            "socket" => Output::Socket,
            _ if v.starts_with("fd:") || v == "fd" => {
                self.not_available(v, "vigil's log");
                Output::Log
            }
            _ => {
                return Err(
                    "expected inherit, null, tty, journal, syslog, kmsg, journal+console, \
                     syslog+console, kmsg+console, socket, file:PATH, append:PATH or truncate:PATH"
                        .to_string(),
                );
            }
        })
    }

    /// A value that needs what vigil does not do yet (the fd store).
    fn not_available(&mut self, v: &str, instead: &str) {
        self.warn(format!(
            "{}={v} is not implemented yet (it needs the fd store); using {instead}",
            self.key
        ));
        let what = format!("{}={v}", self.key);
        if !self.unit.not_enforced.contains(&what) {
            self.unit.not_enforced.push(what);
        }
    }

    /// `RuntimeDirectory=` and its kin: relative paths below the kind's root,
    /// several per line, an empty value resetting the list.
    fn directories(&mut self, kind: DirectoryKind, v: &str) -> Result<(), String> {
        if v.is_empty() {
            self.service.directories_mut(kind).paths.clear();
            return Ok(());
        }
        let expanded = self.spec(v);
        for word in expanded.split_whitespace() {
            // Simplified as systemd does first: repeated and trailing slashes and
            // "." components go (Debian's irqbalance.service has `irqbalance/`).
            let parts: Vec<&str> = word
                .split('/')
                .filter(|part| !part.is_empty() && *part != ".")
                .collect();
            if word.starts_with('/')
                || parts.is_empty()
                || parts.contains(&"..")
                || word.contains(':')
            {
                return Err(format!(
                    "{word:?} is not a relative path without \"..\" or \":\""
                ));
            }
            let paths = &mut self.service.directories_mut(kind).paths;
            let path = PathBuf::from(parts.join("/"));
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        Ok(())
    }

    fn limit(&mut self, resource: Resource, v: &str) -> Result<(), String> {
        let limit = value::parse_limit(resource, v).map_err(|e| e.to_string())?;
        let limits = &mut self.service.limits;
        match limits.iter_mut().find(|(r, _)| *r == resource) {
            Some(slot) => slot.1 = limit,
            None => limits.push((resource, limit)),
        }
        Ok(())
    }

    fn install_names(
        &mut self,
        v: &str,
        alias: bool,
        pick: fn(&mut crate::model::Install) -> &mut Vec<String>,
    ) -> Result<(), String> {
        if v.is_empty() {
            pick(&mut self.unit.install).clear();
            return Ok(());
        }
        let expanded = self.spec(v);
        let own_suffix = self.unit.kind.suffix();
        let mut bad = Vec::new();
        for word in expanded.split_whitespace() {
            let n = if alias {
                word.to_string()
            } else {
                name::normalize(word)
            };
            if let Err(e) = name::validate(&n) {
                bad.push(e.to_string());
                continue;
            }
            if alias && !n.ends_with(own_suffix) {
                bad.push(format!(
                    "alias {n} must have the same suffix as the unit ({own_suffix})"
                ));
                continue;
            }
            let list = pick(&mut self.unit.install);
            if !list.contains(&n) {
                list.push(n);
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    /// Checks that need the whole unit, then hands it out if nothing was wrong.
    fn finish(mut self, main: &Path) -> Parsed {
        if self.unit.kind == UnitKind::Socket {
            socket::finish(&mut self, main);
        }
        self.unit.deps.dedup();
        if self.unit.kind == UnitKind::Service {
            let s = &mut self.service;
            if !self.type_set && s.exec_start.is_empty() && !self.exec_start_failed {
                // systemd.service(5): oneshot is the default when neither Type= nor
                // ExecStart= is given (Debian's systemd-exit.service).
                s.service_type = ServiceType::Oneshot;
            }
            if s.service_type == ServiceType::Oneshot && !self.timeout_start_set {
                // systemd disables the start timeout of oneshot services by default.
                s.timeout_start = None;
            }
            s.timeout_abort = self.timeout_abort.unwrap_or(s.timeout_stop);
            // systemd's service_fix_stdio: StandardInputText=/Data= make the
            // default (or an explicit) `null` stdin `data`.
            if s.stdin == Input::Null && !s.stdin_data.is_empty() {
                s.stdin = Input::Data;
            }
            // systemd: StandardOutput= defaults to inherit, which is stdin's
            // terminal, when stdin is a terminal.
            if matches!(s.stdin, Input::Tty(_)) && !self.stdout_set {
                s.stdout = Output::Tty;
            }
            // The same for a socket; `inherit` is stdin's descriptor there too
            // (StandardError=inherit follows stdout, whatever it is).
            if s.stdin == Input::Socket && (!self.stdout_set || s.stdout == Output::Inherit) {
                s.stdout = Output::Socket;
            }
            if s.stdin == Input::Data && s.stdin_data.is_empty() {
                self.diags.push(Diagnostic::warning(
                    main,
                    0,
                    "StandardInput=data without StandardInputText= or StandardInputData=: \
                     stdin is empty",
                ));
            }
            if self.type_dbus && s.bus_name.is_none() {
                self.diags.push(Diagnostic::error(
                    main,
                    0,
                    "Type=dbus needs BusName= (systemd refuses the unit too)",
                ));
            }
            // systemd: an unset NotifyAccess= is main for Type=notify and
            // with WatchdogSec= (else the watchdog could never be fed).
            let notifies = s.service_type == ServiceType::Notify || s.watchdog.is_some();
            if notifies && !self.notify_access_set {
                s.notify_access = NotifyAccess::Main;
            }
            let oneshot = s.service_type == ServiceType::Oneshot;
            if !oneshot {
                if let Some((path, second)) = self.exec_start_lines.get(1) {
                    self.diags.push(Diagnostic::error(
                        &**path,
                        *second,
                        "more than one ExecStart= is only allowed for Type=oneshot services",
                    ));
                }
                if s.exec_start.is_empty() && !self.exec_start_failed {
                    self.diags.push(Diagnostic::error(
                        main,
                        0,
                        "service has no ExecStart= setting, which is only allowed for \
                         Type=oneshot services",
                    ));
                }
            } else {
                // SuccessAction= alone is enough for systemd (the unit only triggers it).
                let success_action = self.unit.success_action.is_some();
                if s.exec_start.is_empty()
                    && s.exec_stop.is_empty()
                    && !self.exec_start_failed
                    && !success_action
                {
                    self.diags.push(Diagnostic::error(
                        main,
                        0,
                        "service has no ExecStart=, ExecStop= or SuccessAction= setting",
                    ));
                }
                if matches!(s.restart, RestartPolicy::Always | RestartPolicy::OnSuccess) {
                    let (path, line) = self.restart_at.clone().unwrap_or((Arc::from(main), 0));
                    self.diags.push(Diagnostic::error(
                        &*path,
                        line,
                        "Restart=always and Restart=on-success are not allowed for \
                         Type=oneshot services",
                    ));
                }
            }
            self.unit.service = Some(self.service);
        }
        let ok = !self.diags.iter().any(Diagnostic::is_error);
        Parsed {
            unit: ok.then_some(self.unit),
            diagnostics: self.diags,
            references: self.refs,
        }
    }
}

fn bool_value(v: &str) -> Result<bool, String> {
    value::parse_bool(v).map_err(|e| e.to_string())
}

/// Start and stop timeouts: `0` and `infinity` both disable the timeout, as in systemd.
fn timeout_value(v: &str) -> Result<Option<Duration>, String> {
    let t = value::parse_timespan(v).map_err(|e| e.to_string())?;
    Ok(t.filter(|d| !d.is_zero()))
}

fn exit_status_value(v: &str, set: &mut ExitStatusSet) -> Result<(), String> {
    if v.is_empty() {
        *set = ExitStatusSet::default();
        return Ok(());
    }
    value::parse_exit_statuses(v, set).map_err(|e| e.to_string())
}

fn choice<T: Copy>(v: &str, options: &[(&str, T)]) -> Result<T, String> {
    options
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            format!(
                "expected one of {}",
                options
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// vigil has no `.mount` units: every path is taken to be on a local file
/// system, so the unit is ordered after `local-fs.target` (systemd adds
/// Requires= and After= on the mount units of each prefix of the path).
fn h_requires_mounts_for(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Ok(());
    }
    let expanded = b.spec(v);
    if let Some(bad) = expanded.split_whitespace().find(|p| !p.starts_with('/')) {
        return Err(format!("path {bad:?} is not absolute"));
    }
    // Repeats are removed in `finish`, as for After=.
    let target = "local-fs.target".to_string();
    b.unit.deps.after.push(target.clone());
    b.refs.push(Reference {
        name: target,
        directive: "After",
        path: b.path.clone(),
        line: b.line,
    });
    Ok(())
}

fn h_default_instance(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.unit.install.default_instance = None;
        return Ok(());
    }
    let inst = b.spec(v);
    let Some(template) = name::template_of(&b.unit.name) else {
        b.warn("DefaultInstance= applies only to templates (foo@.service); ignoring".into());
        return Ok(());
    };
    match name::instance_name(&template, &inst) {
        Some(full) if name::validate(&full).is_ok() => {
            b.unit.install.default_instance = Some(inst);
            Ok(())
        }
        _ => Err(format!("{inst:?} is not a valid instance name")),
    }
}

/// `SuccessAction=` / `FailureAction=`: `none` or an action, with systemd's
/// `-force` and `-immediate` variants (run as the plain action by vigil).
fn unit_action(v: &str) -> Result<Option<UnitAction>, String> {
    use UnitActionKind::{Exit, Halt, Kexec, Poweroff, Reboot};
    const EXPECTED: &str = "expected none, exit, exit-force, soft-reboot, soft-reboot-force, \
                            kexec, kexec-force, reboot, reboot-force, reboot-immediate, poweroff, \
                            poweroff-force, poweroff-immediate, halt, halt-force or halt-immediate";
    if v == "none" || v.is_empty() {
        return Ok(None);
    }
    let (base, forced, immediate) = if let Some(b) = v.strip_suffix("-force") {
        (b, true, false)
    } else if let Some(b) = v.strip_suffix("-immediate") {
        (b, true, true)
    } else {
        (v, false, false)
    };
    let kind = match base {
        "exit" | "soft-reboot" | "kexec" if immediate => return Err(EXPECTED.to_string()),
        "exit" => Exit,
        "poweroff" => Poweroff,
        "reboot" | "soft-reboot" => Reboot,
        "halt" => Halt,
        "kexec" => Kexec,
        _ => return Err(EXPECTED.to_string()),
    };
    Ok(Some(UnitAction { kind, forced }))
}

fn action_exit_status(v: &str) -> Result<Option<u8>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u8>()
        .map(Some)
        .map_err(|_| "expected an exit status from 0 to 255, or nothing".to_string())
}

fn h_description(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.unit.description = b.spec(v);
    Ok(())
}

fn h_documentation(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.unit.documentation.clear();
        return Ok(());
    }
    let expanded = b.spec(v);
    for url in expanded.split_whitespace() {
        let known = ["http://", "https://", "file:", "info:", "man:"]
            .iter()
            .any(|s| url.starts_with(s) && url.len() > s.len());
        if known {
            b.unit.documentation.push(url.to_string());
        } else {
            b.warn(format!(
                "invalid documentation URL {url:?} (expected http:, https:, file:, info: or man:), ignoring"
            ));
        }
    }
    Ok(())
}

fn h_start_limit_interval(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    let t = value::parse_timespan(v).map_err(|e| e.to_string())?;
    // `infinity` counts starts forever; a finite stand-in (about 136 years)
    // keeps `Instant + interval` from overflowing in the engine.
    b.unit.start_limit.interval = t.unwrap_or(Duration::from_secs(u64::from(u32::MAX)));
    Ok(())
}

fn h_start_limit_burst(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.unit.start_limit.burst = v
        .parse()
        .map_err(|_| "expected a non-negative number".to_string())?;
    Ok(())
}

fn h_type(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.type_set = true;
    // Every line sets both flags: a later Type= (a drop-in's) replaces an earlier one.
    b.type_dbus = v == "dbus";
    // notify-reload: notify, and a reload is ReloadSignal= plus RELOADING=1/READY=1.
    b.service.notify_reload = v == "notify-reload";
    // Type=idle is Type=simple with systemd's up-to-5s wait for the job queue
    // to empty, which only tidies console output: vigil starts it at once.
    // vigil has no D-Bus: a Type=dbus service is ready once its main process
    // is started, as Type=simple (docs/COMPATIBILITY.md). In systemd's order,
    // for the error, which lists them all.
    b.service.service_type = choice(
        v,
        &[
            ("simple", ServiceType::Simple),
            ("exec", ServiceType::Exec),
            ("forking", ServiceType::Forking),
            ("oneshot", ServiceType::Oneshot),
            ("dbus", ServiceType::Simple),
            ("notify", ServiceType::Notify),
            ("notify-reload", ServiceType::Notify),
            ("idle", ServiceType::Simple),
        ],
    )?;
    Ok(())
}

/// `BusName=`: a well-known D-Bus name (dot-separated elements of letters,
/// digits, `_` and `-`, none starting with a digit, at most 255 bytes).
fn h_bus_name(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        *b.service.bus_name = None;
        return Ok(());
    }
    let n = b.spec(v);
    let element_ok = |e: &str| {
        !e.is_empty()
            && !e.starts_with(|c: char| c.is_ascii_digit())
            && e.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if n.len() > 255 || n.split('.').count() < 2 || !n.split('.').all(element_ok) {
        return Err(format!("{n:?} is not a valid D-Bus bus name"));
    }
    *b.service.bus_name = Some(n);
    Ok(())
}

fn h_restart(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.service.restart = choice(
        v,
        &[
            ("no", RestartPolicy::No),
            ("always", RestartPolicy::Always),
            ("on-success", RestartPolicy::OnSuccess),
            ("on-failure", RestartPolicy::OnFailure),
            ("on-abnormal", RestartPolicy::OnAbnormal),
            ("on-abort", RestartPolicy::OnAbort),
            ("on-watchdog", RestartPolicy::OnWatchdog),
        ],
    )?;
    b.restart_at = Some((Arc::clone(&b.path), b.line));
    Ok(())
}

fn h_restart_sec(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    match value::parse_timespan(v).map_err(|e| e.to_string())? {
        Some(t) => {
            b.service.restart_sec = t;
            Ok(())
        }
        None => Err("RestartSec= must be a finite time span".to_string()),
    }
}

fn is_env_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The words of an environment directive (systemd's quoting), specifiers resolved.
fn environment_words(b: &mut Builder<'_>, v: &str) -> Result<Vec<String>, String> {
    let split = split_words(v).map_err(|e| e.to_string())?;
    for esc in &split.unknown_escapes {
        b.warn(format!(
            "unknown escape sequence {esc} in {}=, kept as written",
            b.key
        ));
    }
    Ok(split.words.iter().map(|w| b.spec(&w.text)).collect())
}

fn h_environment(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.service.environment.clear();
        return Ok(());
    }
    for assignment in environment_words(b, v)? {
        match assignment.split_once('=') {
            Some((k, val)) if is_env_name(k) => {
                b.service.environment.push((k.to_string(), val.to_string()));
            }
            _ => b.warn(format!(
                "invalid environment assignment {assignment:?} (expected NAME=VALUE), ignoring"
            )),
        }
    }
    Ok(())
}

/// `PassEnvironment=` and `UnsetEnvironment=`: words added to `list` once each,
/// in order; a word that is not `valid` is a warning and skipped, as systemd
/// does; an empty value resets the list.
fn environment_names(
    b: &mut Builder<'_>,
    v: &str,
    list: fn(&mut Service) -> &mut Vec<String>,
    expected: &str,
    valid: fn(&str) -> bool,
) -> Result<(), String> {
    if v.is_empty() {
        list(&mut b.service).clear();
        return Ok(());
    }
    for word in environment_words(b, v)? {
        if !valid(&word) {
            b.warn(format!("{}=: invalid {expected} {word:?}, ignoring", b.key));
        } else if !list(&mut b.service).contains(&word) {
            list(&mut b.service).push(word);
        }
    }
    Ok(())
}

fn h_environment_file(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        b.service.environment_files.clear();
        return Ok(());
    }
    let (optional, rest) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let p = b.spec(rest);
    if !p.starts_with('/') {
        return Err(format!("path {p:?} is not absolute"));
    }
    b.service.environment_files.push(EnvironmentFile {
        path: PathBuf::from(p),
        optional,
    });
    Ok(())
}

/// An empty value resets a setting to its default (`None`).
fn optional<T>(v: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if v.trim().is_empty() {
        Ok(None)
    } else {
        parse(v.trim()).map(Some)
    }
}

fn int_in(v: &str, min: i32, max: i32) -> Result<i32, String> {
    match v.trim().parse::<i32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected an integer in {min}..{max}")),
    }
}

fn mode_value(v: &str) -> Result<u32, String> {
    value::parse_mode(v).map_err(|e| e.to_string())
}

/// The C escapes of `StandardInputText=` (systemd's cunescape): those of command
/// lines, numeric ones included. An unknown escape is an error, as in systemd.
fn unescape_c(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut unknown = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            exec::push_char(&mut out, c);
            continue;
        }
        let e = chars.next().ok_or("a lone '\\' at the end")?;
        exec::unescape_one(e, &mut chars, &mut out, &mut unknown).map_err(|e| e.to_string())?;
    }
    match unknown.first() {
        Some(seq) => Err(format!("unknown escape {seq}")),
        None => exec::utf8_word(out).map_err(|e| e.to_string()),
    }
}

fn h_standard_input(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if let Some(p) = v.strip_prefix("file:") {
        let p = b.spec(p);
        if !p.starts_with('/') {
            return Err(format!("path {p:?} is not absolute"));
        }
        b.service.stdin = Input::File(PathBuf::from(p));
        return Ok(());
    }
    b.service.stdin = match v {
        "null" | "" => Input::Null,
        "tty" => Input::Tty(TtyMode::Try),
        "tty-force" => Input::Tty(TtyMode::Force),
        "tty-fail" => Input::Tty(TtyMode::Fail),
        "data" => Input::Data,
        "socket" => Input::Socket,
        _ if v.starts_with("fd:") || v == "fd" => {
            b.not_available(v, "/dev/null");
            Input::Null
        }
        _ => {
            return Err(
                "expected null, tty, tty-force, tty-fail, data, socket, file:PATH (fd: \
                 not implemented yet)"
                    .into(),
            );
        }
    };
    Ok(())
}

/// `ExecSearchPath=`: absolute directories separated by `:`; an empty value
/// resets it to the default path.
fn h_exec_search_path(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        *b.service.exec_search_path = None;
        return Ok(());
    }
    let value = b.spec(v);
    if let Some(bad) = value.split(':').find(|d| !d.starts_with('/')) {
        return Err(format!("{bad:?} is not an absolute path"));
    }
    *b.service.exec_search_path = Some(value);
    Ok(())
}

fn h_working_directory(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        *b.service.working_directory = None;
        return Ok(());
    }
    let (optional, rest) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v),
    };
    let dir = if rest == "~" {
        WorkingDirectory::Home
    } else {
        let p = b.spec(rest);
        if !p.starts_with('/') {
            return Err(format!("path {p:?} is neither absolute nor ~"));
        }
        WorkingDirectory::Path(PathBuf::from(p))
    };
    *b.service.working_directory = Some(WorkingDir { dir, optional });
    Ok(())
}

fn h_kill_mode(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.service.kill_mode = choice(
        v,
        &[
            ("control-group", KillMode::ControlGroup),
            ("process", KillMode::Process),
            ("mixed", KillMode::Mixed),
            ("none", KillMode::None),
        ],
    )?;
    Ok(())
}

/// `AmbientCapabilities=` and `CapabilityBoundingSet=` as systemd parses a
/// capability set: names (with or without `CAP_`, any case) or numbers; `~`
/// first inverts the line. A line whose capabilities add up to nothing (empty,
/// `~`, only unknown names) replaces the set, as does any line while the set is
/// still unset (`None`); later lines merge into it. Unknown names are ignored
/// with a warning, as systemd does.
fn capability_line(b: &mut Builder<'_>, v: &str, current: Option<u64>) -> u64 {
    let (invert, list) = match v.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let mut sum = 0u64;
    let mut unknown = Vec::new();
    for word in list.split_whitespace() {
        // `capability_bit` wants the `CAP_` prefix; "cap_cap_x" matches nothing.
        let bit = crate::condition::capability_bit(word)
            .or_else(|| crate::condition::capability_bit(&format!("cap_{word}")));
        match bit {
            Some(bit) => sum |= 1u64 << bit,
            None => unknown.push(format!("{word:?}")),
        }
    }
    if !unknown.is_empty() {
        b.warn(format!(
            "{}={v}: unknown capability {}, ignored",
            b.key,
            unknown.join(", ")
        ));
    }
    match current {
        Some(set) if sum != 0 && invert => set & !sum,
        Some(set) if sum != 0 => set | sum,
        _ if invert => !sum,
        _ => sum,
    }
}

fn h_ambient_capabilities(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    // Unset is the empty set here.
    let current = Some(b.service.ambient_capabilities).filter(|&set| set != 0);
    b.service.ambient_capabilities = capability_line(b, v, current);
    Ok(())
}

fn h_capability_bounding_set(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    let current = b.service.capability_bounding_set;
    b.service.capability_bounding_set = Some(capability_line(b, v, current));
    Ok(())
}

fn h_pid_file(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    if v.is_empty() {
        *b.service.pid_file = None;
        return Ok(());
    }
    let p = b.spec(v);
    // systemd places a relative PIDFile= below /run.
    let path = if p.starts_with('/') {
        PathBuf::from(p)
    } else {
        Path::new("/run").join(p)
    };
    *b.service.pid_file = Some(path);
    Ok(())
}

fn h_notify_access(b: &mut Builder<'_>, v: &str) -> Result<(), String> {
    b.service.notify_access = choice(
        v,
        &[
            ("none", NotifyAccess::None),
            ("main", NotifyAccess::Main),
            ("exec", NotifyAccess::Exec),
            ("all", NotifyAccess::All),
        ],
    )?;
    b.notify_access_set = true;
    Ok(())
}

#[cfg(test)]
mod tests;
