//! A getty on each serial console, as systemd's getty generator adds them:
//! every console of `/sys/class/tty/console/active` that is not a virtual
//! terminal (`tty1` and the other VTs are served by `getty@tty1.service` and
//! logind), and the hypervisor consoles that exist (`hvc0` of KVM and Xen,
//! ...), get `serial-getty@NAME.service`. vigil runs no generators: the
//! `getty` subcommand starts them (main.rs) from a unit in `getty.target`.

/// The consoles of the hypervisors, added whenever their node is there.
pub const HYPERVISOR_CONSOLES: [&str; 5] = ["hvc0", "xvc0", "hvsi0", "sclp_line0", "ttysclp0"];

/// Why no getty is to be started, if so: `$SYSTEMD_GETTY_AUTO` (`env`) or
/// the kernel's `systemd.getty_auto=` (which wins, as the last word read)
/// says no, as systemd's getty generator reads them.
pub fn auto_off(cmdline: &str, env: Option<&str>) -> Option<&'static str> {
    use vigil_units::value::parse_bool;
    let mut off = env
        .filter(|v| parse_bool(v) == Ok(false))
        .map(|_| "$SYSTEMD_GETTY_AUTO says no");
    let words = crate::cmdline::words(cmdline);
    for value in words
        .iter()
        .filter_map(|w| w.strip_prefix("systemd.getty_auto="))
    {
        match parse_bool(value) {
            Ok(false) => off = Some("the kernel command line's systemd.getty_auto says no"),
            Ok(true) => off = None,
            Err(_) => {}
        }
    }
    off
}

/// The serial consoles among the active ones (`tty0 ttyS0`), each once, in order.
pub fn serial_consoles(active: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in active.split_ascii_whitespace() {
        let usable = !vigil_units::name::is_virtual_console(name)
            && !name.contains('/')
            && name != "console";
        if usable && !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: `systemd.getty_auto=0` was passed over.
    #[test]
    fn getty_auto_off() {
        assert_eq!(auto_off("quiet console=ttyS0", None), None);
        assert!(auto_off("console=ttyS0 systemd.getty_auto=0", None).is_some());
        assert!(auto_off("systemd.getty_auto=false", Some("1")).is_some());
        assert!(auto_off("quiet", Some("no")).is_some());
        assert_eq!(
            auto_off("systemd.getty_auto=0 systemd.getty_auto=yes", None),
            None
        );
        assert_eq!(auto_off("systemd.getty_auto=1", Some("0")), None);
    }

    #[test]
    fn serial_consoles_but_virtual_terminals() {
        assert_eq!(serial_consoles("tty0 ttyS0\n"), ["ttyS0"]);
        assert_eq!(
            serial_consoles("ttyS1 tty1 ttyAMA0 ttyS1"),
            ["ttyS1", "ttyAMA0"]
        );
        assert!(serial_consoles("tty0\n").is_empty());
        assert!(serial_consoles("").is_empty());
        // `ttyS` is no VT; neither is `hvc0`.
        assert_eq!(serial_consoles("hvc0 tty63"), ["hvc0"]);
    }
}
