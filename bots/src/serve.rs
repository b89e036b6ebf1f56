//! `headshot serve`: the engine, the control socket and every front end that can start.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use std::sync::atomic::AtomicBool;

use headshot::models::diffusion::DiffusionEngine;
use headshot::models::studio::Studio;
use headshot::models::{
    GenerateError, Generated, Generator, IntakeError, IntakeReport, Mode, Progress, Request,
};
use headshot::{Config, Service, Store, SystemClock};
use headshot_bots::{discord, telegram, web};
use tokio_util::sync::CancellationToken;

/// Runs until Ctrl-C (or SIGTERM), then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let startable = crate::setup::front_ends(&config);
    if startable.is_empty() {
        eprintln!(
            "headshot: no front end can start. Enable the local web chat (web.enabled = true, the \
             default) or set TELEGRAM_BOT_TOKEN to run the Telegram bot (HEADSHOT_TELEGRAM_API_URL \
             points it at your own Bot API server). Set DISCORD_TOKEN for the Discord bot."
        );
        return Ok(ExitCode::from(2));
    }
    let catalog = crate::setup::load_catalog(&config)?;
    let studio = Studio::load(Some(&crate::setup::weights_dir(&config)), config.decode_limits())?;
    let generator: Arc<dyn Generator> = match diffusion(&config, studio) {
        Ok(engine) => {
            tracing::info!("diffusion enabled for headshot styles; the studio renders the rest");
            Arc::new(Router { engine })
        }
        Err(studio) => Arc::new(*studio),
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let store = match Store::open(&config.data_dir) {
        // The error names the directory and how to restore it.
        Err(e @ headshot::StoreError::Damaged { .. }) => return Err(e.into()),
        opened => opened.with_context(|| {
            format!(
                "cannot open the store in {} (is another headshot using it?)",
                config.data_dir.display()
            )
        })?,
    };
    let service = Service::new(
        config.clone(),
        catalog,
        generator,
        store.clone(),
        Arc::new(SystemClock),
    );
    let stop = CancellationToken::new();
    tokio::spawn(shutdown_signal(stop.clone()));
    let control = tokio::spawn(headshot::control::serve(
        store,
        config.data_dir.clone().leak(),
        stop.clone(),
    ));
    let mut fronts = tokio::task::JoinSet::new();
    if startable.contains(&"web") {
        let listener = tokio::net::TcpListener::bind(config.web.bind)
            .await
            .with_context(|| format!("web chat: cannot listen on {} (web.bind)", config.web.bind))?;
        let addr = listener.local_addr()?;
        println!("headshot: web chat at http://{addr}/");
        if config.web.admin_token.is_some() {
            println!("headshot: operator page at http://{addr}/admin");
        }
        let (service, stop, options) = (service.clone(), stop.clone(), web::Options::from_config(&config));
        fronts.spawn(async move { web::serve(service, listener, options, stop.cancelled_owned()).await });
    }
    for name in startable.iter().filter(|n| **n != "web") {
        tracing::info!(front_end = name, "starting");
        start_front_end(name, &config, &service, &stop, &mut fronts);
    }
    let engine = service.run(stop.clone().cancelled_owned());
    tokio::pin!(engine);
    loop {
        tokio::select! {
            done = &mut engine => {
                done?;
                break;
            }
            Some(ended) = fronts.join_next() => {
                match ended {
                    Ok(Ok(())) => tracing::info!("a front end finished"),
                    Ok(Err(e)) => tracing::error!(error = %e, "a front end failed; shutting down"),
                    Err(e) => tracing::error!(error = %e, "a front end panicked; shutting down"),
                }
                stop.cancel();
            }
        }
    }
    fronts.shutdown().await;
    let _ = control.await;
    Ok(ExitCode::SUCCESS)
}

fn start_front_end(
    name: &str,
    config: &Config,
    service: &Service,
    stop: &CancellationToken,
    fronts: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) {
    if name == "discord"
        && let Some(token) = config.discord.token.clone()
    {
        let options = discord::Options {
            api_url: config.discord.api_url.clone(),
            guild: std::env::var("HEADSHOT_DISCORD_GUILD")
                .ok()
                .and_then(|g| g.parse().ok()),
            max_download: config.intake.max_bytes as u64,
            ..discord::Options::default()
        };
        let (service, stop) = (service.clone(), stop.clone());
        fronts.spawn(async move { discord::run(service, token, options, stop.cancelled_owned()).await });
        return;
    }
    if name == "telegram"
        && let Some(token) = config.telegram.token.clone()
    {
        let (service, api_url, stop) = (service.clone(), config.telegram.api_url.clone(), stop.clone());
        let webhook = match (&config.telegram.webhook_url, &config.telegram.webhook_secret) {
            (Some(url), Some(secret)) => match url::Url::parse(url) {
                Ok(public_url) => Some(telegram::Webhook {
                    bind: config.telegram.webhook_bind,
                    public_url,
                    secret: secret.clone(),
                }),
                Err(e) => {
                    fronts.spawn(std::future::ready(Err(anyhow::anyhow!(
                        "telegram.webhook_url: {e}"
                    ))));
                    return;
                }
            },
            _ => None,
        };
        let options = telegram::Options {
            webhook,
            ..telegram::Options::default()
        };
        fronts.spawn(async move {
            telegram::run_with(service, token, api_url, options, stop.cancelled_owned()).await
        });
    }
}

/// Diffusion for headshot styles (new attire and background), the studio for the rest.
struct Router {
    engine: DiffusionEngine,
}

impl Generator for Router {
    fn name(&self) -> &str {
        "studio+diffusion"
    }

    fn intake(&self, upload: &[u8]) -> Result<IntakeReport, IntakeError> {
        self.engine.studio().intake(upload)
    }

    fn generate(
        &self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        if request.style.mode == Mode::Headshot && !request.style.attire_prompt.is_empty() {
            self.engine.generate(request, progress, cancel)
        } else {
            self.engine.studio().generate(request, progress, cancel)
        }
    }
}

/// The diffusion engine's settings from the `[diffusion]` configuration.
pub fn diffusion_settings(config: &Config) -> headshot::models::diffusion::Settings {
    headshot::models::diffusion::Settings {
        steps: config.diffusion.steps,
        guidance: config.diffusion.guidance,
        width: config.diffusion.width,
        strength: config.diffusion.strength,
        harmonise: config.diffusion.harmonise,
        batch: config.diffusion.batch,
        ..Default::default()
    }
}

/// The diffusion engine when enabled and its weights load; the studio back otherwise.
fn diffusion(config: &Config, studio: Studio) -> Result<DiffusionEngine, Box<Studio>> {
    if !config.diffusion.enabled {
        return Err(Box::new(studio));
    }
    let Some(dir) = crate::weights::diffusion_dir(config).filter(|d| crate::weights::missing(d).is_empty())
    else {
        tracing::warn!("diffusion.enabled but no complete weights (headshot models list); using the studio");
        return Err(Box::new(studio));
    };
    let settings = diffusion_settings(config);
    match DiffusionEngine::prepare(&dir, &headshot::models::diffusion::device(), settings) {
        Ok(parts) => Ok(DiffusionEngine::new(studio, parts, settings)),
        Err(e) => {
            tracing::warn!(error = %e, "diffusion weights did not load; using the studio");
            Err(Box::new(studio))
        }
    }
}

async fn shutdown_signal(stop: CancellationToken) {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown requested");
    stop.cancel();
}
