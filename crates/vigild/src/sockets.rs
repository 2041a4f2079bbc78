//! Socket activation: the listening sockets of `.socket` units, owned by the
//! manager, watched in its epoll loop, and passed to services.
//!
//! A socket unit that starts (`Action::Listen`) gets its sockets created
//! here, and the engine hears at once whether they exist
//! (`Event::Listened`): the unit is running only then. The manager watches
//! them while its service is down. The first connection or datagram
//! (Accept=no: the manager never accepts or reads) starts the service and
//! the watch stops until the service is down again. A service gets the
//! descriptors of every listening socket unit whose `Service=` names it or
//! that its `Sockets=` lists, as fds 3, 4, ... of its main process, with
//! `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID`.
//!
//! With `Accept=yes` the manager accepts each connection itself and starts
//! an instance `STEM@K.service` of the template for it, K the lowest number
//! below `MaxConnections=` whose instance is down: at most that many instance
//! units ever exist per socket. Each start is a new unit's, as systemd makes
//! one per connection: no start limit or failure of an earlier connection's
//! run refuses a connection. The instance's main process gets the
//! connection as fd 3 (`LISTEN_FDNAMES=connection`), and as stdin/stdout/stderr
//! with `StandardInput=socket` and its kin; the manager closes its copy when
//! the instance leaves its running states (an automatic restart too, as
//! systemd does) and K is free once the instance is inactive or failed.
//!
//! This module never decides a unit's state: a socket that cannot be created
//! is told to the engine with `Event::Listened`, a service that cannot be
//! started with `Event::SocketFailed`; whether a start must be refused (its
//! service is up) the engine decides before it asks for the sockets.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use vigil_engine::{Event, Level, State, Time};
use vigil_platform::Interest;
use vigil_platform::listen::{BindTo, ListenOptions, ListenType};
use vigil_units::{Listen, ListenAddress, ListenKind, Socket, TriggerLimit};

use crate::daemon::{Daemon, token, unwatch};

/// The count behind `TriggerLimitIntervalSec=`/`TriggerLimitBurst=`, as
/// systemd's rate limit counts: a window opens at the first trigger and
/// counts every trigger until `interval` has passed; the next one opens a
/// new window. More than `burst` in one window fail the socket unit.
struct Triggers {
    limit: TriggerLimit,
    window: Option<(Time, u32)>,
}

impl Triggers {
    fn new(limit: TriggerLimit) -> Triggers {
        Triggers {
            limit,
            window: None,
        }
    }

    /// Counts a trigger at `now`; false when it is one too many.
    fn allow(&mut self, now: Time) -> bool {
        if self.limit.is_disabled() {
            return true;
        }
        match &mut self.window {
            Some((begin, n)) if now.saturating_sub(*begin) <= self.limit.interval => {
                *n = n.saturating_add(1);
                *n <= self.limit.burst
            }
            _ => {
                self.window = Some((now, 1));
                true
            }
        }
    }

    /// Why the socket fails when [`Self::allow`] said no.
    fn hit(&self) -> String {
        format!(
            "{TRIGGER_LIMIT_HIT}: more than {} triggers within {:?} (TriggerLimitBurst=, TriggerLimitIntervalSec=)",
            self.limit.burst, self.limit.interval
        )
    }
}

/// How the failure of a socket unit that hit its trigger limit begins (for
/// systemd's `Result=trigger-limit-hit`).
pub(crate) const TRIGGER_LIMIT_HIT: &str = "trigger limit hit";

/// One listening socket unit.
pub(crate) struct Listening {
    /// The epoll token's low bits for every fd of this unit.
    pub(crate) id: u64,
    /// `Service=`.
    pub(crate) service: String,
    /// `FileDescriptorName=`.
    pub(crate) fd_name: String,
    /// In `Listen*=` order.
    pub(crate) fds: Vec<OwnedFd>,
    /// Whether the fds are in the epoll set (the service is down).
    pub(crate) watching: bool,
    /// Files to remove when the unit stops (RemoveOnStop=yes).
    pub(crate) remove: Vec<PathBuf>,
    /// The links of `Symlinks=` to remove then, with where they lead: one
    /// that leads elsewhere (or a file) is not ours, and stays.
    links: Vec<(PathBuf, PathBuf)>,
    triggers: Triggers,
    /// `Accept=yes`: `service` is the template `STEM@.service`.
    accept: bool,
    /// `MaxConnections=`.
    max_connections: u32,
}

/// An accepted connection, held for the instance started for it.
pub(crate) struct Connection {
    fd: OwnedFd,
    /// The peer of an IPv4 or IPv6 connection (`REMOTE_ADDR`, `REMOTE_PORT`).
    peer: Option<std::net::SocketAddr>,
    /// The socket unit that accepted it.
    socket: String,
}

#[derive(Default)]
pub(crate) struct Sockets {
    /// Socket unit name -> its sockets; a BTreeMap for a stable fd order.
    pub(crate) units: BTreeMap<String, Listening>,
    next_id: u64,
    /// `Accept=yes`: instance name -> its connection, while it runs.
    connections: BTreeMap<String, Connection>,
}

/// The files of `lines` that go when the unit stops (`RemoveOnStop=yes`).
fn removable<'a>(sock: &Socket, lines: &'a [Listen]) -> impl Iterator<Item = &'a PathBuf> {
    let remove = sock.remove_on_stop;
    lines.iter().filter_map(move |l| match &l.address {
        ListenAddress::Path(p) if remove => Some(p),
        _ => None,
    })
}

/// Makes the links of `Symlinks=` to the unit's one socket or FIFO path
/// (their directories too), as systemd does once it listens; what cannot be
/// made is said and left, as systemd ignores it. A link already there to
/// the same path is fine (a restart, a handover).
fn make_symlinks(sock: &Socket) -> Vec<String> {
    if sock.symlinks.is_empty() {
        return Vec::new();
    }
    let target = match symlink_target(sock) {
        Ok(target) => target,
        Err(paths) => {
            return vec![format!(
                "Symlinks= needs exactly one socket or FIFO path among the Listen*= lines (there are {paths}): no link made"
            )];
        }
    };
    let mut problems = Vec::new();
    for link in &sock.symlinks {
        // Made as the socket's own directories are (DirectoryMode=).
        let _ = vigil_platform::listen::create_parent_dirs(link, sock.directory_mode);
        match std::os::unix::fs::symlink(target, link) {
            Ok(()) => {}
            Err(_) if std::fs::read_link(link).is_ok_and(|t| t == *target) => {}
            Err(e) => problems.push(format!(
                "cannot make the link {} -> {}: {e}",
                link.display(),
                target.display()
            )),
        }
    }
    problems
}

/// What the links of `Symlinks=` lead to: the unit's one socket or FIFO
/// path; else how many paths it has.
fn symlink_target(sock: &Socket) -> Result<&PathBuf, usize> {
    let paths: Vec<&PathBuf> = (sock.listen.iter())
        .filter_map(|l| match &l.address {
            ListenAddress::Path(p) => Some(p),
            _ => None,
        })
        .collect();
    match paths.as_slice() {
        [target] => Ok(target),
        other => Err(other.len()),
    }
}

impl Listening {
    fn new(id: u64, sock: &Socket, fds: Vec<OwnedFd>) -> Listening {
        let remove = removable(sock, &sock.listen).cloned().collect();
        // With RemoveOnStop=yes the links of Symlinks= go too, as in systemd.
        let links = match symlink_target(sock) {
            Ok(target) if sock.remove_on_stop => (sock.symlinks.iter())
                .map(|l| (l.clone(), target.clone()))
                .collect(),
            _ => Vec::new(),
        };
        Listening {
            id,
            service: sock.service.clone(),
            fd_name: sock.fd_name.clone(),
            fds,
            watching: false,
            remove,
            links,
            triggers: Triggers::new(sock.trigger_limit),
            accept: sock.accept,
            max_connections: sock.max_connections,
        }
    }

    /// Takes the unit's fds out of the epoll set.
    fn unwatch(&mut self, epoll: &vigil_platform::Epoll) {
        for fd in &self.fds {
            unwatch(epoll, fd);
        }
        self.watching = false;
    }
}

impl Sockets {
    fn unit_of(&self, id: u64) -> Option<String> {
        self.units
            .iter()
            .find(|(_, l)| l.id == id)
            .map(|(n, _)| n.clone())
    }
}

/// The socket type of a `Listen*=` line; None for a FIFO.
fn listen_type(kind: ListenKind) -> Option<ListenType> {
    match kind {
        ListenKind::Fifo => None,
        // A raw socket: no listen(2), as for a datagram one.
        ListenKind::Datagram | ListenKind::Netlink => Some(ListenType::Datagram),
        ListenKind::SequentialPacket => Some(ListenType::SeqPacket),
        _ => Some(ListenType::Stream),
    }
}

fn bind_to(address: &ListenAddress) -> BindTo<'_> {
    match address {
        ListenAddress::Path(p) => BindTo::Path(p),
        ListenAddress::Abstract(n) => BindTo::Abstract(n.as_bytes()),
        ListenAddress::Port(p) => BindTo::AnyPort(*p),
        ListenAddress::Inet(a) => BindTo::Inet(*a),
        ListenAddress::Netlink {
            protocol, group, ..
        } => BindTo::Netlink {
            protocol: *protocol,
            groups: *group,
        },
    }
}

/// Resolves SocketUser=/SocketGroup= to numbers: names, or any number (as for
/// `User=`: a uid no entry has gets its own number as gid).
fn owner(sock: &Socket) -> Result<(Option<u32>, Option<u32>), String> {
    let mut uid = None;
    let mut gid = None;
    if let Some(user) = &sock.user {
        let entry = vigil_spawn::users::system_user(user)
            .ok_or_else(|| format!("SocketUser={user}: no such user"))?;
        uid = Some(entry.uid);
        gid = Some(entry.gid);
    }
    if let Some(group) = &sock.group {
        let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let groups = vigil_spawn::users::parse_group(&text);
        let number = vigil_spawn::users::group_or_number(&groups, group)
            .ok_or_else(|| format!("SocketGroup={group}: no such group"))?;
        gid = Some(number);
    }
    Ok((uid, gid))
}

/// Creates one `Listen*=` socket (or FIFO), with its parent directories.
fn open_one(listen: &Listen, sock: &Socket, opts: &ListenOptions) -> Result<OwnedFd, String> {
    let what = format!("{}={}", listen.kind.directive(), listen.address);
    if let ListenAddress::Path(path) = &listen.address {
        vigil_platform::listen::create_parent_dirs(path, sock.directory_mode).map_err(|e| {
            let parent = path.parent().unwrap_or(path);
            format!("{what}: creating {}: {e}", parent.display())
        })?;
    }
    let result = match (listen_type(listen.kind), &listen.address) {
        (None, ListenAddress::Path(path)) => vigil_platform::listen::listen_fifo(path, opts),
        (None, _) => return Err(format!("{what}: a FIFO needs a path")),
        (Some(ty), address) => vigil_platform::listen::listen_socket(ty, bind_to(address), opts),
    };
    result.map_err(|e| format!("{what}: {e}"))
}

/// The unit's sockets in `Listen*=` order: each line's socket from `slots`
/// where it has one (taken over from a previous manager), else created now.
/// On an error every socket is closed and, with RemoveOnStop=yes, the files
/// of the lines that had one are removed, as when the unit stops.
fn open_missing(sock: &Socket, slots: Vec<Option<OwnedFd>>) -> Result<Vec<OwnedFd>, String> {
    if sock.listen.is_empty() {
        return Err(
            "no ListenStream=, ListenDatagram=, ListenSequentialPacket=, ListenFIFO= or \
             ListenNetlink= to listen on (the others are not supported)"
                .into(),
        );
    }
    let had: Vec<bool> = slots.iter().map(Option::is_some).collect();
    let mut opts = None;
    let mut fds = Vec::with_capacity(sock.listen.len());
    for (i, (listen, slot)) in sock.listen.iter().zip(slots).enumerate() {
        if let Some(fd) = slot {
            fds.push(fd);
            continue;
        }
        // SocketUser=/SocketGroup= are looked up only when a socket is made.
        let opts = match &opts {
            Some(opts) => opts,
            None => opts.insert(listen_options(sock)?),
        };
        match open_one(listen, sock, opts) {
            Ok(fd) => fds.push(fd),
            Err(e) => {
                let had_one = |j: usize| j < i || had.get(j) == Some(&true);
                for (_, line) in sock.listen.iter().enumerate().filter(|&(j, _)| had_one(j)) {
                    for path in removable(sock, std::slice::from_ref(line)) {
                        let _ = std::fs::remove_file(path);
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(fds)
}

fn listen_options(sock: &Socket) -> Result<ListenOptions, String> {
    let (owner, group) = owner(sock)?;
    Ok(ListenOptions {
        backlog: sock.backlog,
        mode: sock.socket_mode,
        owner,
        group,
        pass_credentials: sock.pass_credentials,
        reuse_port: sock.reuse_port,
        free_bind: sock.free_bind,
        v6only: sock.bind_ipv6_only,
        receive_buffer: sock
            .receive_buffer
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        send_buffer: sock
            .send_buffer
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    })
}

impl Daemon {
    /// `Action::Listen`: creates the unit's sockets and starts watching them
    /// (unless its service is already up), and tells the engine how that
    /// went: the unit is `running` only once its sockets exist.
    pub(crate) fn listen(&mut self, unit: &str) {
        let result = self.try_listen(unit);
        let now = self.now();
        let unit = unit.to_string();
        let _ = self.engine.handle(now, Event::Listened { unit, result });
    }

    /// A running socket unit fails for `why`. Not said here: the engine's
    /// state change says it, with the reason.
    fn socket_failed(&mut self, unit: &str, why: String) {
        let now = self.now();
        let _ = self.engine.handle(
            now,
            Event::SocketFailed {
                unit: unit.to_string(),
                why,
            },
        );
    }

    fn try_listen(&mut self, unit: &str) -> Result<(), String> {
        if self.sockets.units.contains_key(unit) {
            // Adopted from a previous manager, or already open.
            self.rearm_socket(unit);
            return Ok(());
        }
        let def = self
            .engine
            .run_definition(unit)
            .ok_or_else(|| format!("no definition for {unit}"))?;
        let sock = def
            .socket
            .as_ref()
            .ok_or_else(|| format!("{unit} has no [Socket] section"))?;
        // As systemd ("Socket service X not loaded, refusing"): said at the
        // start, not at the first connection; unless a service names the
        // socket in its Sockets=, which it is then for.
        if !sock.accept
            && !self.ensure_loaded(&sock.service)
            && self.named_by_sockets(unit).is_empty()
        {
            return Err(format!("service {} not loaded, refusing", sock.service));
        }
        let fds = open_missing(sock, sock.listen.iter().map(|_| None).collect())?;
        let link_problems = make_symlinks(sock);
        self.sockets.next_id += 1;
        let listening = Listening::new(self.sockets.next_id, sock, fds);
        let addresses: Vec<String> = sock.listen.iter().map(|l| l.address.to_string()).collect();
        self.sockets.units.insert(unit.to_string(), listening);
        self.store_listening(unit);
        self.say(
            Level::Info,
            Some(unit),
            &format!("listening on {}", addresses.join(", ")),
        );
        for p in link_problems {
            self.say(Level::Warning, Some(unit), &p);
        }
        self.rearm_socket(unit);
        self.handover.dirty = true;
        Ok(())
    }

    /// The loaded services that name `unit` in their `Sockets=`.
    fn named_by_sockets(&self, unit: &str) -> Vec<String> {
        let names_it = |n: &&str| {
            let def = self.engine.definition(n);
            def.and_then(|d| Some(d.service.as_ref()?.sockets.iter().any(|x| x == unit)))
                .unwrap_or(false)
        };
        (self.engine.states().map(|(n, _)| n))
            .filter(names_it)
            .map(str::to_string)
            .collect()
    }

    /// Whether a service that got the sockets of `unit` may run now: its
    /// `Service=`, or one that names it in `Sockets=` (the socket is that
    /// one's then: not watched, not shut down under it).
    fn held_by_a_service(&self, unit: &str, service: &str) -> bool {
        !service_down(&self.engine, service)
            || (self.named_by_sockets(unit).iter()).any(|s| !service_down(&self.engine, s))
    }

    /// Watches the unit's sockets when its service is down, stops watching
    /// them otherwise. `Accept=yes` sockets are always watched.
    fn rearm_socket(&mut self, unit: &str) {
        let Some(l) = self.sockets.units.get(unit) else {
            return;
        };
        let service_down = l.accept || !self.held_by_a_service(unit, &l.service);
        let Some(l) = self.sockets.units.get_mut(unit) else {
            return;
        };
        let mut errors = Vec::new();
        if service_down && !l.watching {
            for fd in &l.fds {
                if let Err(e) = self
                    .epoll
                    .add(fd.as_fd(), token::SOCKET | l.id, Interest::READABLE)
                {
                    errors.push(format!("cannot watch a socket: {e}"));
                }
            }
            l.watching = true;
        } else if !service_down && l.watching {
            l.unwatch(&self.epoll);
        }
        for e in errors {
            self.say(Level::Error, Some(unit), &e);
        }
    }

    /// `Action::CloseSockets`: closes the unit's sockets, and removes their
    /// files with RemoveOnStop=yes.
    pub(crate) fn close_sockets(&mut self, unit: &str) {
        let Some(mut l) = self.sockets.units.remove(unit) else {
            return;
        };
        l.unwatch(&self.epoll);
        self.unstore_listening(unit, l.fds.len());
        // vigil-init may still hold its copy when the next start binds the
        // same address (a restart of the socket unit: EADDRINUSE 23 times in
        // 30): the sockets stop listening now, for every copy. Not those a
        // running service holds too (it keeps serving, as in systemd).
        if (l.accept || !self.held_by_a_service(unit, &l.service)) && self.init.is_some() {
            for fd in &l.fds {
                vigil_platform::listen::stop_listening(fd.as_fd());
            }
        }
        drop(l.fds);
        for (link, target) in &l.links {
            if std::fs::read_link(link).is_ok_and(|t| t == *target) {
                let _ = std::fs::remove_file(link);
            }
        }
        for path in &l.remove {
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                let msg = format!("cannot remove {}: {e}", path.display());
                self.say(Level::Warning, Some(unit), &msg);
            }
        }
        self.handover.dirty = true;
    }

    /// A watched socket is readable: start its service.
    pub(crate) fn on_socket_ready(&mut self, id: u64) {
        let Some(unit) = self.sockets.unit_of(id) else {
            return;
        };
        let now = self.now();
        let Some(l) = self.sockets.units.get_mut(&unit) else {
            return;
        };
        if !l.watching {
            // Another of its fds in the same epoll batch: already triggered.
            return;
        }
        // Going down: no service is started for it (systemd suppresses a
        // trigger whose stop is scheduled). The shutdown would refuse the
        // start, and the socket would fail (found at Debian's poweroff:
        // journald's messages to syslog.socket, which rsyslog never reads);
        // nor is a connection accepted for an instance (ssh.socket): it waits
        // in the backlog until the socket closes. Said once: not watched again.
        if self.shutdown_started.is_some() {
            l.unwatch(&self.epoll);
            let service = l.service.clone();
            self.say(
                Level::Info,
                Some(&unit),
                &format!("incoming traffic during the shutdown: {service} is not started"),
            );
            return;
        }
        if l.accept {
            self.accept_connections(&unit);
            return;
        }
        l.unwatch(&self.epoll);
        let service = l.service.clone();
        let failed = if !l.triggers.allow(now) {
            Some(l.triggers.hit())
        } else if !self.ensure_loaded(&service) {
            Some(format!("service {service} not loaded"))
        } else {
            self.say(
                Level::Info,
                Some(&unit),
                &format!("incoming traffic: starting {service}"),
            );
            self.engine
                .handle(now, Event::Activate(service.clone()))
                .err()
                .map(|e| format!("cannot start {service}: {e}"))
        };
        if let Some(why) = failed {
            self.socket_failed(&unit, why);
        }
    }

    /// Any unit changed state: a service whose sockets are listening is
    /// watched for again once it is down, and not while it is up.
    pub(crate) fn on_state_for_sockets(&mut self, unit: &str, state: State) {
        // An instance that leaves its running states is done with its
        // connection, as systemd closes it: the client gets end of file. An
        // automatic restart (Restart=) or a RemainAfterExit= run that exited
        // does not serve it again; a later run starts as one not started for
        // a connection. Once the instance is inactive or failed its K is free.
        if matches!(
            state,
            State::Inactive | State::Failed | State::Restarting | State::Exited
        ) && let Some(c) = self.sockets.connections.remove(unit)
        {
            // A socket that stopped watching after an accept error tries again.
            drop(c.fd);
            self.rearm_socket(&c.socket);
        }
        if self.sockets.units.is_empty() || !unit.ends_with(".service") {
            return;
        }
        let feeding: Vec<String> = self
            .sockets
            .units
            .iter()
            .filter(|(_, l)| l.service == unit)
            .map(|(n, _)| n.clone())
            .collect();
        let limit_hit = state == State::Failed
            && self
                .engine
                .unit(unit)
                .is_some_and(|i| i.reason == Some(vigil_engine::Reason::StartLimitHit));
        for s in feeding {
            if limit_hit {
                // systemd's "service-start-limit-hit": the socket gives up
                // rather than trigger a service that may not start.
                self.socket_failed(&s, format!("{unit} hit its start limit"));
            } else {
                self.rearm_socket(&s);
            }
        }
        // The sockets it names in Sockets= are its while it runs: not
        // watched then, watched again once it is down.
        let named: Vec<String> = (self.engine.definition(unit))
            .and_then(|d| {
                d.service
                    .as_ref()
                    .map(|s| s.sockets.iter().cloned().collect())
            })
            .unwrap_or_default();
        for s in named {
            self.rearm_socket(&s);
        }
    }

    /// The descriptors a service's main process gets, with their names:
    /// from its `Sockets=` first, then every other listening socket whose
    /// `Service=` names it, by socket unit name.
    pub(crate) fn listen_fds_for(
        &mut self,
        service: &str,
        sockets: &[String],
    ) -> Vec<(OwnedFd, String)> {
        if self.sockets.connections.contains_key(service) {
            let copy = self.connection_copy(service);
            return copy
                .map(|fd| (fd, ACCEPTED_FD_NAME.to_string()))
                .into_iter()
                .collect();
        }
        let mut order: Vec<&String> = sockets.iter().collect();
        for (name, l) in &self.sockets.units {
            if l.service == service && !order.contains(&name) {
                order.push(name);
            }
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for name in order {
            let Some(l) = self.sockets.units.get(name) else {
                continue;
            };
            // vigild accepts on it; passed, its open socket would turn blocking
            // (NonBlocking= belongs to it, shared with vigild's copy), and
            // vigild's next accept would wait for a connection.
            if l.accept {
                errors.push(format!(
                    "{name} has Accept=yes: its listening socket is not passed (its connections go to instances of {})",
                    l.service
                ));
                continue;
            }
            for fd in &l.fds {
                match fd.try_clone() {
                    Ok(copy) => out.push((copy, l.fd_name.clone())),
                    Err(e) => errors.push(format!("cannot pass a socket of {name}: {e}")),
                }
            }
        }
        for e in errors {
            self.say(Level::Error, Some(service), &e);
        }
        out
    }
}

/// systemd's `LISTEN_FDNAMES` for an accepted connection.
const ACCEPTED_FD_NAME: &str = "connection";

impl Daemon {
    /// An `Accept=yes` socket is readable: accept what waits (a bounded
    /// number per wake-up) and start an instance for each connection.
    fn accept_connections(&mut self, unit: &str) {
        let Some(l) = self.sockets.units.get(unit) else {
            return;
        };
        let mut accepted = Vec::new();
        let mut failure = None;
        for fd in &l.fds {
            for _ in 0..l.max_connections {
                match vigil_platform::listen::accept_connection(fd.as_fd()) {
                    Ok(Some(c)) => accepted.push(c),
                    Ok(None) => break,
                    Err(e) => {
                        failure = Some(format!("cannot accept a connection: {e}"));
                        break;
                    }
                }
            }
        }
        if let Some(why) = failure
            && let Some(l) = self.sockets.units.get_mut(unit)
        {
            // Not again at once (EMFILE would spin): the socket is watched
            // again when one of its instances ends.
            l.unwatch(&self.epoll);
            self.say(Level::Error, Some(unit), &why);
        }
        // Each connection is a trigger, as in systemd: one too many fails
        // the socket unit, and it and those after it are closed unserved.
        let now = self.now();
        for (fd, peer) in accepted {
            let Some(l) = self.sockets.units.get_mut(unit) else {
                return;
            };
            if !l.triggers.allow(now) {
                let why = l.triggers.hit();
                // Not accepted from again while the failure closes it.
                l.unwatch(&self.epoll);
                self.socket_failed(unit, why);
                return;
            }
            self.start_instance(unit, fd, peer);
        }
    }

    /// The instance for a new connection: the lowest `STEM@K.service` below
    /// `max` that is inactive or not loaded yet; with none, the failed one
    /// that failed first (a failure stays in sight as long as it can, as
    /// systemd keeps failed instances listed); None when every K is busy.
    fn free_instance(&self, stem: &str, max: u32) -> Option<String> {
        let mut failed: Option<(Time, String)> = None;
        for k in 0..max {
            let name = format!("{stem}@{k}.service");
            if self.sockets.connections.contains_key(&name) {
                continue;
            }
            match self.engine.unit(&name) {
                None => return Some(name),
                Some(i) if i.state == State::Inactive => return Some(name),
                Some(i) if i.state == State::Failed => {
                    if failed.as_ref().is_none_or(|(since, _)| i.since < *since) {
                        failed = Some((i.since, name));
                    }
                }
                Some(_) => {}
            }
        }
        failed.map(|(_, name)| name)
    }

    /// Starts `STEM@K.service` for one accepted connection ([`Self::free_instance`]);
    /// with none free the connection is closed, as systemd refuses it too.
    /// The instance starts with no history (`Event::Accepted`): systemd makes
    /// a new unit per connection, so an earlier connection's failures or
    /// start limit never refuse this one.
    fn start_instance(&mut self, unit: &str, fd: OwnedFd, peer: Option<std::net::SocketAddr>) {
        let Some(l) = self.sockets.units.get(unit) else {
            return;
        };
        let stem = l
            .service
            .strip_suffix("@.service")
            .unwrap_or(&l.service)
            .to_string();
        let max = l.max_connections;
        let free = self.free_instance(&stem, max);
        let from = peer.map(|p| format!(" from {p}")).unwrap_or_default();
        let Some(instance) = free else {
            // Anyone who can connect can make these: one a line would push
            // every unit's history out of the manager's ring.
            let msg = format!(
                "refusing a connection{from}: all {max} instances (MaxConnections=) are busy"
            );
            self.say_at_most_once_a_second("accept", Some(unit), &msg);
            return;
        };
        if !self.ensure_loaded(&instance) {
            // The template is missing or broken: no later connection fares
            // better, and the socket fails, as systemd's does.
            let why = format!("refused a connection{from}: cannot load {instance}");
            self.socket_failed(unit, why);
            return;
        }
        self.sockets.connections.insert(
            instance.clone(),
            Connection {
                fd,
                peer,
                socket: unit.to_string(),
            },
        );
        self.say(
            Level::Info,
            Some(unit),
            &format!("connection{from}: starting {instance}"),
        );
        let now = self.now();
        if let Err(e) = self.engine.handle(now, Event::Accepted(instance.clone())) {
            self.sockets.connections.remove(&instance);
            let msg = format!("cannot start {instance}: {e}");
            self.say(Level::Error, Some(unit), &msg);
        }
    }

    /// A copy of the connection of an `Accept=yes` instance, for its stdio.
    pub(crate) fn connection_copy(&mut self, unit: &str) -> Option<OwnedFd> {
        let c = self.sockets.connections.get(unit)?;
        match c.fd.try_clone() {
            Ok(fd) => Some(fd),
            Err(e) => {
                let msg = format!("cannot use the connection: {e}");
                self.say(Level::Error, Some(unit), &msg);
                None
            }
        }
    }

    /// systemd's `REMOTE_ADDR` and `REMOTE_PORT` for an instance started for
    /// an IPv4 or IPv6 connection.
    pub(crate) fn remote_env(&self, unit: &str) -> Vec<(String, String)> {
        match self.sockets.connections.get(unit).and_then(|c| c.peer) {
            Some(p) => vec![
                ("REMOTE_ADDR".into(), p.ip().to_string()),
                ("REMOTE_PORT".into(), p.port().to_string()),
            ],
            None => Vec::new(),
        }
    }

    /// The socket unit whose accepted connection `instance` serves, while
    /// it holds one (`vigil show`'s NAccepted counts them).
    pub(crate) fn connection_socket(&self, instance: &str) -> Option<&str> {
        let c = self.sockets.connections.get(instance)?;
        Some(&c.socket)
    }

    /// The connections of `socket` (Accept=yes) held by running instances:
    /// `vigil show`'s NConnections.
    pub(crate) fn open_connections(&self, socket: &str) -> usize {
        let held = self.sockets.connections.values();
        held.filter(|c| c.socket == socket).count()
    }
}

/// The prefix of a listening socket's name in vigil-init's fd store:
/// `socket:UNIT:INDEX`.
const STORE_PREFIX: &str = "socket:";
/// vigil-init's limit on a store name (docs/INIT.md).
const STORE_NAME_MAX: usize = 64;
/// How much of a long unit name its store key keeps, for a reader: with
/// the prefix, `#`, 16 hex digits and `:`, 7 digits of index are left.
const STORE_KEY_KEEP: usize = 32;

/// The name of the unit's `index`th socket in vigil-init's store:
/// `socket:UNIT:INDEX` when that fits the store's 64 bytes (the names of
/// every manager before long names were stored: one upgraded across this
/// still finds them), else `socket:KEY:INDEX` with the [`long_key`] of the
/// unit. None past 7 digits of index.
fn store_name(unit: &str, index: usize) -> Option<String> {
    let plain = format!("{STORE_PREFIX}{unit}:{index}");
    if plain.len() <= STORE_NAME_MAX && plain.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(plain);
    }
    let name = format!("{STORE_PREFIX}{}:{index}", long_key(unit));
    (name.len() <= STORE_NAME_MAX).then_some(name)
}

/// What stands for a unit whose name does not fit a store name: its first
/// 32 bytes, `#` (never in a unit name, so never taken for one) and the
/// 64-bit FNV-1a digest of the whole name in hex. Two names share a key
/// only if they share those 32 bytes and the digest; a running unit whose
/// key another running unit holds already is not stored ([`Daemon::store_listening`]).
fn long_key(unit: &str) -> String {
    let mut keep = unit.len().min(STORE_KEY_KEEP);
    while !unit.is_char_boundary(keep) {
        keep -= 1;
    }
    let readable: String = unit
        .get(..keep)
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("{readable}#{:016x}", fnv1a(unit.as_bytes()))
}

/// FNV-1a, 64 bits: a digest fixed for good (a store written by one build
/// is read by the next), which `std`'s hashers do not promise.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// The unit parts a unit's sockets may be stored under: its name, and the
/// [`long_key`] of it (a long name may have both, short indices plain).
fn store_parts(unit: &str) -> [String; 2] {
    [unit.to_string(), long_key(unit)]
}

/// The listening sockets as the next manager finds them after `vigil
/// reexec`: each unit's descriptors, left open across exec, by number.
pub(crate) type SavedSockets = Vec<(String, Vec<i32>)>;

impl Daemon {
    /// With vigil-init: a socket unit's descriptors go into its store, so
    /// connections that come while no manager runs wait in their backlog.
    fn store_listening(&mut self, unit: &str) {
        let Some(chan) = &self.init else { return };
        let Some(l) = self.sockets.units.get(unit) else {
            return;
        };
        // Two long names with one key would mix their sockets in the store
        // (and the removal of one set would take the other's): the second
        // is not stored, as a name that could not be named was before.
        let key = long_key(unit);
        let shared = (self.sockets.units.keys()).find(|o| *o != unit && long_key(o) == key);
        if let Some(other) = shared.cloned() {
            let msg = format!(
                "{other} has the same name in vigil-init's store: these sockets are not stored there, and are opened again after a manager crash"
            );
            self.say(Level::Warning, Some(unit), &msg);
            return;
        }
        let mut unnamed = false;
        for (i, fd) in l.fds.iter().enumerate() {
            match store_name(unit, i) {
                Some(name) => {
                    crate::handover::send_to_init(chan, &format!("fdstore {name}"), &[fd.as_fd()]);
                }
                None => unnamed = true,
            }
        }
        if unnamed {
            self.say(
                Level::Warning,
                Some(unit),
                "more sockets than vigil-init's store can name: the rest are opened again after a manager crash",
            );
        }
    }

    fn unstore_listening(&mut self, unit: &str, count: usize) {
        let Some(chan) = &self.init else { return };
        for i in 0..count {
            if let Some(name) = store_name(unit, i) {
                crate::handover::send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
            }
        }
    }

    /// For `vigil reexec`: every listening descriptor by number (the caller
    /// clears their close-on-exec flag).
    pub(crate) fn save_sockets(&self) -> SavedSockets {
        use std::os::fd::AsRawFd;
        self.sockets
            .units
            .iter()
            .map(|(u, l)| (u.clone(), l.fds.iter().map(AsRawFd::as_raw_fd).collect()))
            .collect()
    }

    /// Every listening descriptor, for the close-on-exec flag around an exec.
    pub(crate) fn socket_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        self.sockets
            .units
            .values()
            .flat_map(|l| l.fds.iter().map(AsFd::as_fd))
            .collect()
    }

    /// After the engine's state is restored: every socket unit that is
    /// running takes back its sockets (left open across exec, or kept by
    /// vigil-init), each matched to the `Listen*=` line it was made for,
    /// and opens only those of lines no old socket fits (all of them when
    /// they are gone). Descriptors of units that are not running any more,
    /// or of lines that were removed, are closed.
    pub(crate) fn adopt_sockets(
        &mut self,
        saved: SavedSockets,
        reexec: bool,
        store: &mut std::collections::HashMap<String, Vec<OwnedFd>>,
    ) {
        let mut found: BTreeMap<String, Vec<OwnedFd>> = BTreeMap::new();
        if reexec {
            for (unit, raws) in saved {
                let fds: Vec<OwnedFd> = raws
                    .into_iter()
                    .filter_map(|r| vigil_platform::adopt_fd(r).ok())
                    .collect();
                found.insert(unit, fds);
            }
        }
        // Kept by vigil-init: `socket:PART:INDEX`, PART the unit's name or
        // its long key (store_name), by PART. After an exec the store still
        // holds them too: those copies stay stored.
        let mut from_store: BTreeMap<String, Vec<(usize, String, OwnedFd)>> = BTreeMap::new();
        let keys: Vec<String> = store
            .keys()
            .filter(|k| k.starts_with(STORE_PREFIX))
            .cloned()
            .collect();
        for key in keys {
            let Some(rest) = key.strip_prefix(STORE_PREFIX) else {
                continue;
            };
            let Some((part, index)) = rest.rsplit_once(':') else {
                continue;
            };
            let Ok(index) = index.parse::<usize>() else {
                continue;
            };
            let part = part.to_string();
            if let Some(mut fds) = store.remove(&key)
                && !fds.is_empty()
            {
                let fd = fds.remove(0);
                from_store.entry(part).or_default().push((index, key, fd));
            }
        }
        let names: Vec<String> = self
            .engine
            .units()
            .into_iter()
            .filter(|i| i.name.ends_with(".socket"))
            .map(|i| i.name)
            .collect();
        // A long key two units share (never both stored: store_listening)
        // cannot tell whose its sockets are: neither takes them.
        let mut seen = std::collections::HashSet::new();
        let shared_keys: std::collections::HashSet<String> = (names.iter())
            .map(|n| long_key(n))
            .filter(|k| !seen.insert(k.clone()))
            .collect();
        for unit in names {
            let state = self.engine.state(&unit);
            let running = state == Some(State::Running);
            // Saved while its `Listen` was under way: the predecessor may have
            // made (and stored) its sockets already. The engine asks for
            // that `Listen` again, which takes these or makes them.
            let starting = state == Some(State::Starting);
            let exec_fds = found.remove(&unit);
            let store_fds = take_stored(&mut from_store, &unit, &shared_keys);
            if !running && !starting {
                if let Some(fds) = &store_fds {
                    self.unstore_listening(&unit, fds.len());
                }
                continue;
            }
            let Some(def) = self.engine.run_definition(&unit) else {
                continue;
            };
            let Some(sock) = def.socket.as_ref() else {
                continue;
            };
            // Copies of the same sockets when there are both: the exec's, and
            // vigil-init's (the predecessor stored them; the store outlives
            // an exec).
            let held = exec_fds
                .as_ref()
                .map_or(0, Vec::len)
                .max(store_fds.as_ref().map_or(0, Vec::len));
            let mut old: Vec<OwnedFd> = exec_fds.into_iter().flatten().collect();
            old.extend(store_fds.into_iter().flatten());
            if old.is_empty() {
                if starting {
                    continue;
                }
                self.say(
                    Level::Warning,
                    Some(&unit),
                    "the previous manager's sockets are gone: listening again",
                );
                if let Err(why) = self.try_listen(&unit) {
                    self.socket_failed(&unit, why);
                }
                continue;
            }
            // The unit's Listen*= lines may have changed since: each line takes
            // the old socket made for it (its type and address), wherever it
            // was; a socket no line takes is closed, a line no socket fits gets
            // a new one. A socket kept is never bound again: its service may
            // hold it, and a new bind of its port would fail (EADDRINUSE).
            let slots: Vec<Option<OwnedFd>> = sock
                .listen
                .iter()
                .map(|l| {
                    let (ty, to) = (listen_type(l.kind), bind_to(&l.address));
                    old.iter()
                        .position(|fd| vigil_platform::listen::is_listening_as(fd.as_fd(), ty, to))
                        .map(|at| old.swap_remove(at))
                })
                .collect();
            // What is left: copies of the sockets taken, and those of removed lines.
            drop(old);
            let kept = slots.iter().filter(|s| s.is_some()).count();
            if kept != sock.listen.len() || held != kept {
                let added: Vec<String> = sock
                    .listen
                    .iter()
                    .zip(&slots)
                    .filter(|(_, s)| s.is_none())
                    .map(|(l, _)| l.address.to_string())
                    .collect();
                // vigil-init's copies go, those of removed lines with them (so
                // they do not keep their addresses busy); the new set is stored
                // below. After a re-exec the store was not read, but holds
                // the old set all the same: every name of it goes (a removal
                // takes every copy stored under a name).
                self.unstore_listening(&unit, held);
                let fds = match open_missing(sock, slots) {
                    Ok(fds) => fds,
                    Err(why) => {
                        self.socket_failed(&unit, why);
                        continue;
                    }
                };
                let mut what = Vec::new();
                if kept > 0 {
                    what.push(format!("kept {kept}"));
                }
                if !added.is_empty() {
                    what.push(format!("listening on {}", added.join(", ")));
                }
                if held > kept {
                    what.push(format!("closed {}", held - kept));
                }
                self.sockets.next_id += 1;
                let listening = Listening::new(self.sockets.next_id, sock, fds);
                self.sockets.units.insert(unit.clone(), listening);
                self.store_listening(&unit);
                let msg = format!("the unit's Listen*= lines changed: {}", what.join("; "));
                self.say(Level::Warning, Some(&unit), &msg);
                self.rearm_socket(&unit);
                self.handover.dirty = true;
                continue;
            }
            let fds: Vec<OwnedFd> = slots.into_iter().flatten().collect();
            self.sockets.next_id += 1;
            let listening = Listening::new(self.sockets.next_id, sock, fds);
            self.sockets.units.insert(unit.clone(), listening);
            self.say(Level::Info, Some(&unit), "took over the listening sockets");
            self.rearm_socket(&unit);
        }
        if let Some(chan) = &self.init {
            // Stored for a unit this manager does not know any more.
            for (_, name, _) in from_store.into_values().flatten() {
                crate::handover::send_to_init(chan, &format!("fdstore-remove {name}"), &[]);
            }
        }
    }

    /// At a clean exit: vigil-init drops the sockets it kept.
    pub(crate) fn forget_sockets(&mut self) {
        let units: Vec<(String, usize)> = self
            .sockets
            .units
            .iter()
            .map(|(u, l)| (u.clone(), l.fds.len()))
            .collect();
        for (unit, n) in units {
            self.unstore_listening(&unit, n);
        }
    }
}

/// The unit's sockets among those read from vigil-init's store (under its
/// name or its long key), in index order; None when it has none there.
fn take_stored(
    from_store: &mut BTreeMap<String, Vec<(usize, String, OwnedFd)>>,
    unit: &str,
    shared_keys: &std::collections::HashSet<String>,
) -> Option<Vec<OwnedFd>> {
    let mut mine: Vec<(usize, String, OwnedFd)> = store_parts(unit)
        .iter()
        .filter(|part| !shared_keys.contains(*part))
        .filter_map(|part| from_store.remove(part))
        .flatten()
        .collect();
    if mine.is_empty() {
        return None;
    }
    mine.sort_by_key(|(index, _, _)| *index);
    Some(mine.into_iter().map(|(_, _, fd)| fd).collect())
}

/// Whether `service` runs no process that holds the sockets: down, or
/// waiting for its automatic restart (systemd listens again then, and a
/// connection starts it at once rather than after `RestartSec=`).
fn service_down(engine: &vigil_engine::Engine, service: &str) -> bool {
    engine
        .state(service)
        .is_none_or(|state| matches!(state, State::Inactive | State::Failed | State::Restarting))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every valid unit name (up to 255 bytes) has a store name for its
    /// sockets; those that fit stay as every earlier manager wrote them.
    #[test]
    fn every_unit_name_has_a_store_name_and_short_ones_keep_theirs() {
        assert_eq!(
            store_name("web.socket", 0).as_deref(),
            Some("socket:web.socket:0")
        );
        let fits = format!("{}.socket", "a".repeat(48));
        assert_eq!(store_name(&fits, 9), Some(format!("socket:{fits}:9")));
        for len in [56, 57, 100, 255] {
            let unit = format!("{}.socket", "b".repeat(len - ".socket".len()));
            for index in [0, 10, 9_999_999] {
                let name = store_name(&unit, index).expect("a store name");
                assert!(name.len() <= STORE_NAME_MAX, "{name}");
                assert!(name.bytes().all(|b| b.is_ascii_graphic()), "{name}");
                let (part, at) = name
                    .strip_prefix(STORE_PREFIX)
                    .and_then(|r| r.rsplit_once(':'))
                    .expect("socket:PART:INDEX");
                assert_eq!(at, index.to_string());
                assert!(store_parts(&unit).iter().any(|p| p == part), "{name}");
            }
        }
        // The 9-byte index at the boundary: the plain name would pass 64.
        let boundary = format!("{}.socket", "c".repeat(48));
        assert!(store_name(&boundary, 123_456_789).is_none());
    }

    #[test]
    fn long_names_that_differ_past_the_kept_bytes_have_different_keys() {
        let a = format!("{}a.socket", "d".repeat(200));
        let b = format!("{}b.socket", "d".repeat(200));
        assert_ne!(store_name(&a, 0), store_name(&b, 0));
        assert!(long_key(&a).starts_with(&"d".repeat(STORE_KEY_KEEP)));
        assert!(long_key(&a).contains('#'));
        // Fixed for good: a store written by one build is read by the next.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
