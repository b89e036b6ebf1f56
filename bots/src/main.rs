//! `headshot`: the binary. Parses the command line, loads the configuration, sets up logging
//! and runs one command.

mod cli;
mod data;
mod device;
mod generate;
mod inspect;
mod serve;
mod setup;
mod weights;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("headshot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    let config = setup::load_config(cli.config.as_deref())?;
    setup::init_logging(config.log_format, cli.verbose);
    // 8 MiB stacks, as the main thread has: deserialising deeply nested platform JSON (polled
    // Telegram updates, Discord events) recurses deep in serde.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()?;
    match cli.command {
        cli::Command::Styles { json } => setup::print_styles(&config, json),
        cli::Command::Config {
            command: cli::ConfigCommand::Check,
        } => setup::config_check(&config),
        cli::Command::Data { command } => runtime.block_on(data::run(&config, command)),
        cli::Command::Device { command } => device::run(command),
        cli::Command::Inspect { image, overlay } => inspect::run(&config, &image, overlay.as_deref()),
        cli::Command::Serve => runtime.block_on(serve::run(config)),
        cli::Command::Models {
            command: cli::ModelsCommand::List,
        } => weights::list(&config),
        cli::Command::Models {
            command: cli::ModelsCommand::Fetch { name },
        } => runtime.block_on(weights::fetch(&name)),
        cli::Command::Generate(args) => {
            let catalog = setup::load_catalog(&config)?;
            generate::run(&config, &catalog, args.into_options())
        }
    }
}
