//! `headshot data ...`: through the running service's control socket when one listens (sled
//! admits one process per store), else directly on the store.

use std::process::ExitCode;

use anyhow::Context;
use headshot::control::{self, Request};
use headshot::{Config, Store, StoreError};

use crate::cli::DataCommand;

/// Runs a data command and prints its JSON result.
pub async fn run(config: &Config, command: DataCommand) -> anyhow::Result<ExitCode> {
    let request = match command {
        DataCommand::Stats => Request::Stats,
        DataCommand::Export { user } => Request::Export { user },
        DataCommand::Forget { user } => Request::Forget { user },
        DataCommand::Backup { path } => Request::Backup {
            path: absolute(path)?,
        },
        DataCommand::Restore { path } => {
            if control::call(&config.data_dir, &Request::Stats).await?.is_some() {
                anyhow::bail!(
                    "the service is running on {}: stop it before restoring",
                    config.data_dir.display()
                );
            }
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
            // A damaged store cannot be opened to be overwritten: it is moved aside (kept, in
            // case something in it is wanted) and the backup goes into a new one.
            let store = match Store::open(&config.data_dir) {
                Err(StoreError::Damaged { .. }) => {
                    let aside = set_aside(&config.data_dir)?;
                    eprintln!("the damaged store was moved to {}", aside.display());
                    open(config)?
                }
                opened => {
                    opened.with_context(|| format!("opening the store in {}", config.data_dir.display()))?
                }
            };
            let records = store
                .restore(&path)
                .with_context(|| format!("restoring {}", path.display()))?;
            println!("{}", serde_json::json!({ "restored": records }));
            return Ok(ExitCode::SUCCESS);
        }
    };
    let result = match control::call(&config.data_dir, &request).await? {
        Some(result) => result,
        None => {
            let store = open(config)?;
            let result = control::execute(&store, &request);
            store.flush().await?;
            result
        }
    };
    match result {
        Ok(value) => {
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => anyhow::bail!("{e}"),
    }
}

fn open(config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    Store::open(&config.data_dir)
        .with_context(|| format!("opening the store in {}", config.data_dir.display()))
}

/// Renames the data directory to a free `<name>.damaged-N` beside it.
fn set_aside(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let aside = (1..)
        .map(|n| dir.with_file_name(format!("{name}.damaged-{n}")))
        .find(|p| !p.exists())
        .expect("some name is free");
    std::fs::rename(dir, &aside).with_context(|| format!("cannot move {} aside", dir.display()))?;
    Ok(aside)
}

fn absolute(path: std::path::PathBuf) -> anyhow::Result<std::path::PathBuf> {
    Ok(if path.is_absolute() {
        path
    } else {
        std::env::current_dir()?.join(path)
    })
}
