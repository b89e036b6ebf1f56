//! `headshot device`: which compute device the generators use, and a check of it (parity of
//! the diffusion networks with reference outputs, and their speed at the real shapes).

use std::process::ExitCode;

use anyhow::Context;
use candle_core::{DType, Device};
use headshot::models::device::{self, DeviceInfo};
use headshot::models::diffusion::check::{self, Parity, Timing};
use serde::Serialize;

use crate::cli::{DeviceCheckArgs, DeviceCommand};

/// Runs `headshot device ...`.
pub fn run(command: DeviceCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeviceCommand::Show { json } => {
            let report = Shown::now(&device::best());
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", report.device);
                if !report.cuda_build {
                    println!("this build has no CUDA support (build with --features cuda for GPUs)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Check(args) => check(args),
    }
}

/// `headshot device show`'s report.
#[derive(Serialize)]
struct Shown {
    device: DeviceInfo,
    cuda_build: bool,
}

impl Shown {
    fn now(dev: &Device) -> Shown {
        Shown {
            device: device::describe(dev),
            cuda_build: device::CUDA_BUILD,
        }
    }
}

/// One network's parity in one dtype.
#[derive(Serialize)]
struct ParityRow {
    dtype: &'static str,
    #[serde(flatten)]
    parity: Parity,
    ok: bool,
}

/// One network's speed in one dtype.
#[derive(Serialize)]
struct SpeedRow {
    dtype: &'static str,
    #[serde(flatten)]
    timing: Timing,
    mean_s: f64,
}

/// `headshot device check`'s report.
#[derive(Serialize)]
struct Checked {
    #[serde(flatten)]
    shown: Shown,
    parity: Vec<ParityRow>,
    speed: Vec<SpeedRow>,
    ok: bool,
}

fn dtypes(choice: &str) -> Vec<(&'static str, DType)> {
    match choice {
        "f16" => vec![("f16", DType::F16)],
        "both" => vec![("f32", DType::F32), ("f16", DType::F16)],
        _ => vec![("f32", DType::F32)],
    }
}

fn check(args: DeviceCheckArgs) -> anyhow::Result<ExitCode> {
    if args.parity.is_none() && !args.speed {
        anyhow::bail!(
            "nothing to check: give --parity DIR (a tiny model with reference outputs), --speed, or both"
        );
    }
    let dev = if args.cpu { Device::Cpu } else { device::best() };
    let shown = Shown::now(&dev);
    if !args.json {
        println!("device: {}", shown.device);
    }
    let mut report = Checked {
        shown,
        parity: Vec::new(),
        speed: Vec::new(),
        ok: true,
    };
    for (name, dtype) in dtypes(&args.dtype) {
        if let Some(dir) = &args.parity {
            let rows = check::parity(dir, &dev, dtype)
                .with_context(|| format!("parity in {name} with the model in {}", dir.display()))?;
            for parity in rows {
                let ok = parity.ok();
                report.ok &= ok;
                if !args.json {
                    println!(
                        "parity {name} {:<13} error {:.2e} (tolerance {:.0e}) {}",
                        parity.name,
                        parity.error,
                        parity.tolerance,
                        if ok { "ok" } else { "FAILED" }
                    );
                }
                report.parity.push(ParityRow {
                    dtype: name,
                    parity,
                    ok,
                });
            }
        }
        if args.speed {
            let (w, h) = check::SPEED_SIZE;
            let rows = check::speed(&dev, dtype, args.runs as usize)
                .with_context(|| format!("speed in {name} at {w}x{h}"))?;
            for timing in rows {
                let mean_s = timing.mean_s();
                if !args.json {
                    println!(
                        "speed {name} {w}x{h} {:<17} {:.3} s (mean of {}; warm-up {:.2} s)",
                        timing.name,
                        mean_s,
                        timing.runs_s.len(),
                        timing.warm_up_s
                    );
                }
                report.speed.push(SpeedRow {
                    dtype: name,
                    timing,
                    mean_s,
                });
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.parity.is_empty() {
        println!("done");
    } else if report.ok {
        println!("parity ok");
    } else {
        println!("parity FAILED: this device's results differ from the reference beyond the tolerance");
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
