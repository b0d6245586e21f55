//! No answer names a path of the server: not the data directory (SQLite's own "unable to
//! open database file: PATH" included), not the statements file; each as given, absolute
//! or canonical.

use sqlited_client::Client;
use sqlited_client::proto::v1::ReloadStatementsRequest;
use sqlited_client::proto::v1::statements_client::StatementsClient;

use crate::harness::Server;

/// The spellings of `path` a message must not contain.
fn spellings(path: &std::path::Path) -> Vec<String> {
    let mut forms = vec![path.to_string_lossy().into_owned()];
    if let Ok(canonical) = std::fs::canonicalize(path) {
        forms.push(canonical.to_string_lossy().into_owned());
    }
    forms
}

fn assert_hidden(what: &str, message: &str, paths: &[String]) {
    for path in paths {
        assert!(
            !message.contains(path.as_str()),
            "{what}: the answer names {path}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_data_directory_is_not_named_in_any_answer() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let paths = spellings(&dir);
    let server = Server::start_in(&dir, &[]);
    let client = Client::connect(&server.url()).await.unwrap();
    let open = client.database("open");
    open.execute("CREATE TABLE t (x)", ()).await.unwrap();
    // Moved away under the running server: opening a file there fails in SQLite itself,
    // whose message carries the path it was given.
    let moved = parent.path().join("moved");
    std::fs::rename(&dir, &moved).unwrap();

    let err = client
        .admin()
        .create_database("fresh", false)
        .await
        .unwrap_err();
    assert!(
        err.message().contains("unable to open database file"),
        "{err}"
    );
    assert_hidden("CreateDatabase", err.message(), &paths);
    let err = client
        .database("written")
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap_err();
    assert_hidden("a write that creates", err.message(), &paths);
    let err = client.admin().list_databases().await.unwrap_err();
    assert_hidden("ListDatabases", err.message(), &paths);
    let err = client
        .admin()
        .backup("open", &mut Vec::new())
        .await
        .unwrap_err();
    assert_hidden("Backup", err.message(), &paths);
    std::fs::rename(&moved, &dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_names_neither_the_statements_file_nor_the_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("statements.toml");
    std::fs::write(&file, "[databases.app]\nexposed_only = false\n").unwrap();
    let server = Server::start_in(data.path(), &["--statements", file.to_str().unwrap()]);
    let mut rpc = StatementsClient::connect(server.url()).await.unwrap();
    let mut paths = spellings(data.path());
    paths.extend(spellings(&file));
    paths.extend(spellings(config.path()));

    // A statement that does not prepare against its database, then a file that does not
    // parse. (A statement of a database that does not exist yet loads, unavailable.)
    server
        .database("app")
        .await
        .execute("CREATE TABLE t (x)", ())
        .await
        .unwrap();
    for (what, text) in [
        (
            "a statement that does not prepare",
            "[databases.app.statements.q]\nsql = \"SELECT nope FROM nowhere\"\n",
        ),
        ("a file that does not parse", "[databases.app\n"),
    ] {
        std::fs::write(&file, text).unwrap();
        let status = rpc
            .reload_statements(ReloadStatementsRequest {})
            .await
            .unwrap_err();
        assert!(
            status.message().contains("the statements file"),
            "{what}: {status:?}"
        );
        assert_hidden(what, status.message(), &paths);
    }
}
