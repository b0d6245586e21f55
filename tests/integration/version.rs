//! `sqlited --version`: what a bug report needs, from the binary itself.

use std::process::Command;

use crate::harness::sqlited_binary;

#[test]
fn version_names_the_binary_the_proto_package_and_sqlite() {
    let output = Command::new(sqlited_binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "sqlited {}\nproto package: sqlited.v1\nSQLite: {}\n",
            env!("CARGO_PKG_VERSION"),
            rusqlite::version()
        )
    );
    // -V stays the one line scripts parse.
    let short = Command::new(sqlited_binary()).arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8(short.stdout).unwrap(),
        format!("sqlited {}\n", env!("CARGO_PKG_VERSION"))
    );
}
