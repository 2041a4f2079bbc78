//! What the manager creates must not depend on its own umask: these tests run
//! under `umask 077`, in a test binary of their own since the umask belongs to
//! the whole process.

mod support;

use std::os::unix::fs::MetadataExt;
use support::temp_dir;

use vigil_spawn::DirectoryRoots;
use vigil_units::{DirectoryKind, Service};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn missing_parents_of_a_directory_are_0755_whatever_the_managers_umask() {
    vigil_platform::process::set_umask(0o077);
    let dir = temp_dir("umask-dirs");
    let roots = DirectoryRoots {
        runtime: None,
        state: Some(dir.join("lib")),
        cache: None,
        logs: None,
        configuration: None,
    };
    let mut service = Service::default();
    service.directories_mut(DirectoryKind::State).paths = vec!["um/inner".into()];
    vigil_spawn::directories::set_up(&service, &roots, None).unwrap();
    assert_eq!(mode(&dir.join("lib")), 0o755, "a missing root");
    assert_eq!(mode(&dir.join("lib/um")), 0o755, "a missing parent");
    assert_eq!(
        mode(&dir.join("lib/um/inner")),
        0o755,
        "StateDirectoryMode="
    );
}
