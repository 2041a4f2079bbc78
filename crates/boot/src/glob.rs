//! The small part of glob(7) that sysctl.d keys need: `*`, `?` and bracket
//! sets (`[ab]`, `[a-z]`, `[!a]`) in the components of a `/`-separated path,
//! matched (fnmatch(3): vigil-units' own, which unit conditions use) against
//! what exists below a root directory. No `**`, no braces.

use std::fs;
use std::io;
use std::path::Path;

use vigil_units::glob::fnmatch;

/// Whether `s` has a character that makes it a pattern (as systemd's
/// `string_is_glob`).
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The `/`-separated paths below `root` that `pattern` matches, sorted as
/// glob(3) sorts them. Only existing paths are returned; a component that
/// names no directory simply matches nothing.
pub fn expand(root: &Path, pattern: &str) -> io::Result<Vec<String>> {
    let mut found = vec![String::new()];
    for component in pattern.split('/') {
        let mut next = Vec::new();
        for prefix in &found {
            if !is_glob(component) {
                next.push(join(prefix, component));
                continue;
            }
            for name in list(&root.join(prefix))? {
                // As glob(3): a leading dot is matched only by a dot.
                let hidden = name.starts_with('.') && !component.starts_with('.');
                if !hidden && fnmatch(component, &name, false) {
                    next.push(join(prefix, &name));
                }
            }
        }
        found = next;
    }
    found.retain(|p| fs::symlink_metadata(root.join(p)).is_ok());
    Ok(found)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The sorted names in `dir`; nothing when it is missing or not a
/// directory. Names that are not UTF-8 cannot be written in a
/// configuration file either, so they are left out.
fn list(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_subset() {
        assert!(is_glob("a*") && is_glob("a?") && is_glob("a[b]") && !is_glob("a.b"));
        for (p, n) in [
            ("*", "eth0"),
            ("eth*", "eth0.1"),
            ("*0", "eth0"),
            ("e?h0", "eth0"),
            ("*th*", "eth0"),
            ("a*b*c", "aXbYbZc"),
            ("[el]*", "lo"),
            ("eth[0-9]", "eth7"),
            ("[!a]", "b"),
            ("[]]", "]"),
            ("a[", "a["),
            ("**", ""),
        ] {
            assert!(fnmatch(p, n, false), "{p} should match {n}");
        }
        for (p, n) in [
            ("eth*", "lo"),
            ("?", ""),
            ("e?h0", "eh0"),
            ("eth[0-3]", "eth7"),
            ("[!a]", "a"),
            ("a*b*c", "aXbYbZ"),
            ("a[", "ab"),
        ] {
            assert!(!fnmatch(p, n, false), "{p} should not match {n}");
        }
    }

    #[test]
    fn expands_against_a_real_tree_in_order() {
        let root = std::env::temp_dir().join(format!("vigil-boot-glob-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for d in [
            "conf/lo",
            "conf/eth0.1",
            "conf/all",
            "conf/.hidden",
            "conf/empty",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "conf/lo/rp",
            "conf/eth0.1/rp",
            "conf/all/rp",
            "conf/.hidden/rp",
        ] {
            fs::write(root.join(f), "0\n").unwrap();
        }
        assert_eq!(
            expand(&root, "conf/*/rp").unwrap(),
            vec!["conf/all/rp", "conf/eth0.1/rp", "conf/lo/rp"]
        );
        assert_eq!(expand(&root, "conf/[el]*/rp").unwrap().len(), 2);
        assert!(expand(&root, "nope/*/rp").unwrap().is_empty());
        assert!(expand(&root, "conf/lo/rp/*").unwrap().is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}
