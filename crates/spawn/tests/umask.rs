//! What the manager creates must not depend on its own umask (directories,
//! output files): these tests run under `umask 077`, in a test binary of their
//! own since the umask belongs to the whole process.

mod support;

use std::os::unix::fs::MetadataExt;
use support::{sh, temp_dir};

use vigil_spawn::{Context, DirectoryRoots, Stdio, prepare};
use vigil_units::{DirectoryKind, FileMode, Service};

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

#[test]
fn an_output_file_is_created_0666_minus_the_services_umask_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    vigil_platform::process::set_umask(0o077);
    let dir = temp_dir("umask-output");
    let out = dir.join("out.txt");
    let kept = dir.join("kept.txt");
    std::fs::write(&kept, "old").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o604)).unwrap();
    for (umask, created) in [(0o002, 0o664), (0o077, 0o600), (0o022, 0o644)] {
        let _ = std::fs::remove_file(&out);
        let service = Service {
            umask,
            ..Service::default()
        };
        let ctx = Context {
            stdout: Stdio::File {
                path: out.clone(),
                mode: FileMode::Truncate,
            },
            stderr: Stdio::File {
                path: kept.clone(),
                mode: FileMode::Truncate,
            },
            ..Context::default()
        };
        prepare("test.service", &service, &sh("exit 0"), ctx).unwrap();
        assert_eq!(mode(&out), created, "UMask={umask:04o}");
        assert_eq!(mode(&kept), 0o604, "an existing file keeps its mode");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "", "truncated");
    }
    for file_mode in [FileMode::Write, FileMode::Append] {
        let _ = std::fs::remove_file(&out);
        vigil_spawn::open_output(&out, file_mode, 0o027).unwrap();
        assert_eq!(mode(&out), 0o640, "{file_mode:?}");
    }
}
