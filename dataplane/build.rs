//! Links the C libraries of the embedded voice stack (pocketsphinx, sphinxbase, espeak-ng),
//! failing with a clear message when they are not installed.

use std::path::Path;

const LIBS: [(&str, &str); 3] = [
    ("pocketsphinx", "libpocketsphinx-dev"),
    ("sphinxbase", "libpocketsphinx-dev (libsphinxbase)"),
    ("espeak-ng", "libespeak-ng-dev"),
];

const LIB_DIRS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/local/lib",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for (lib, package) in LIBS {
        let found = LIB_DIRS.iter().any(|d| {
            Path::new(d).join(format!("lib{lib}.so")).exists() || Path::new(d).join(format!("lib{lib}.a")).exists()
        });
        if !found {
            panic!(
                "lib{lib} not found (Debian package {package}): run scripts/bootstrap to install the embedded voice stack"
            );
        }
        println!("cargo:rustc-link-lib={lib}");
    }
}
