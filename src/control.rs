//! The control socket: a Unix socket in the data directory through which `headshot data ...`
//! commands reach a running service (sled allows one process per store), so a backup taken
//! while the service runs is consistent.
//!
//! Protocol: one JSON request per connection (`{"cmd": "backup", "path": "..."}`), one JSON
//! answer (`{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::chat::UserKey;
use crate::store::Store;

/// File name of the socket inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// A data command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Counts per tree.
    Stats,
    /// A consistent copy of the store into `path`.
    Backup {
        /// Destination file.
        path: PathBuf,
    },
    /// Everything kept about a user, as JSON (images as sizes).
    Export {
        /// `platform:id`.
        user: String,
    },
    /// Deletes everything of a user.
    Forget {
        /// `platform:id`.
        user: String,
    },
}

/// The socket path for a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Runs one request against a store (in-process, or behind the socket).
pub fn execute(store: &Store, request: &Request) -> Result<Value, String> {
    let user = |u: &str| u.parse::<UserKey>();
    match request {
        Request::Stats => Ok(json!(store.stats().map_err(|e| e.to_string())?)),
        Request::Backup { path } => {
            let records = store.backup(path).map_err(|e| e.to_string())?;
            Ok(json!({ "records": records, "path": path }))
        }
        Request::Export { user: u } => export(store, &user(u)?).map_err(|e| e.to_string()),
        Request::Forget { user: u } => {
            let removed = store.forget(&user(u)?).map_err(|e| e.to_string())?;
            Ok(json!({ "removed": removed }))
        }
    }
}

/// Everything the store holds about one user.
pub fn export(store: &Store, user: &UserKey) -> Result<Value, crate::store::StoreError> {
    let jobs = store.jobs_of(user)?;
    let mut selfies = Vec::new();
    let mut results = Vec::new();
    for job in &jobs {
        for s in &job.selfies {
            if let Some(bytes) = store.selfie(user, s)? {
                selfies.push(json!({ "id": s, "bytes": bytes.len() }));
            }
        }
        for o in store.results(user, &job.id)? {
            results.push(json!({ "job": job.id, "file_name": o.file_name, "bytes": o.bytes.len() }));
        }
    }
    Ok(json!({
        "user": user.to_string(),
        "record": store.user(user)?,
        "jobs": jobs,
        "selfies": selfies,
        "results": results,
    }))
}

/// Serves the socket until `stop`; requests in flight get up to 5 s to be answered.
pub async fn serve(store: Store, data_dir: &Path, stop: CancellationToken) -> std::io::Result<()> {
    let path = socket_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let requests = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = stop.cancelled() => break,
        };
        let store = store.clone();
        requests.spawn(async move {
            if let Err(e) = answer(store, stream).await {
                tracing::warn!(error = %e, "control request failed");
            }
        });
    }
    requests.close();
    // A client that never sends its line must not hold the shutdown.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), requests.wait()).await;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn answer(store: Store, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => match tokio::task::spawn_blocking(move || execute(&store, &request)).await {
            Ok(Ok(result)) => json!({ "ok": true, "result": result }),
            Ok(Err(error)) => json!({ "ok": false, "error": error }),
            Err(e) => json!({ "ok": false, "error": e.to_string() }),
        },
        Err(e) => json!({ "ok": false, "error": format!("bad request: {e}") }),
    };
    write.write_all(format!("{reply}\n").as_bytes()).await?;
    write.shutdown().await
}

/// Sends a request to a running service. `Ok(None)` when no service listens in `data_dir`.
pub async fn call(data_dir: &Path, request: &Request) -> std::io::Result<Option<Result<Value, String>>> {
    let Ok(stream) = UnixStream::connect(socket_path(data_dir)).await else {
        return Ok(None);
    };
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("{}\n", serde_json::to_string(request)?).as_bytes())
        .await?;
    write.shutdown().await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply: Value = serde_json::from_str(&line)?;
    Ok(Some(if reply["ok"] == json!(true) {
        Ok(reply["result"].clone())
    } else {
        Err(reply["error"].as_str().unwrap_or("unknown error").to_string())
    }))
}
