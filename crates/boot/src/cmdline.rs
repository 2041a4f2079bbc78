//! The kernel command line's words, as systemd reads them (`proc_cmdline`):
//! split at whitespace outside double quotes, the quotes taken away, so
//! that `"modules_load=vfio,kvm"` and `systemd.hostname="web1"` are the
//! words the kernel was given.

/// The running kernel's command line (also under `--root`: it is the
/// kernel's, not the configuration's); empty when it cannot be read.
pub fn kernel() -> String {
    String::from_utf8_lossy(&std::fs::read("/proc/cmdline").unwrap_or_default()).into_owned()
}

/// The words of `cmdline`, unquoted.
pub fn words(cmdline: &str) -> Vec<String> {
    let (mut words, mut word) = (Vec::new(), None::<String>);
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_default();
            }
            c if c.is_ascii_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review finding: a quoted word (`"modules_load=vfio,kvm"`) was not
    /// taken, where systemd unquotes it.
    #[test]
    fn quoted_words_are_one_word_each() {
        assert_eq!(
            words(" ro  \"modules_load=vfio,kvm\" systemd.hostname=\"a b\"\tquiet\n"),
            [
                "ro",
                "modules_load=vfio,kvm",
                "systemd.hostname=a b",
                "quiet"
            ]
        );
        assert_eq!(words("x=\"\""), ["x="]);
        assert!(words("  \n").is_empty());
    }
}
